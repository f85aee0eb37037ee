"""The codesign rule without osslsigncode: a Windows binary reaches an artifact only as its signed copy
(DistState.built/shipped refuse an unsigned one, naming the target and what to run), other targets
and releases without [sign] authenticode ship the staged binary; the dry plan shows the
osslsigncode commands without the password; the resume key follows the binaries' bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_project
from wavrybuild.codesign.stage import CodesignStage
from wavrybuild.config import load
from wavrybuild.dist import DistState
from wavrybuild.errors import WavryError
from wavrybuild.pipeline.stage import Run
from wavrybuild.record import BinaryRecord, BuildRecord, TargetRecord

WIN, LINUX = "x86_64-pc-windows-gnu", "x86_64-unknown-linux-gnu"
TOML = f"""
[project]
crate = "demo"
[targets.{WIN}]
[targets.{LINUX}]
[sign]
methods = ["authenticode"]
[sign.authenticode]
pkcs12 = "keys/c.p12"
password-env = "MY_P12_PASSWORD"
"""
SECRET = "p12-s3cret-value"


class Quiet:
    def __getattr__(self, name: str) -> Any:
        return lambda *a, **k: None


def _project(tmp_path: Path, toml: str = TOML) -> tuple[Any, DistState]:
    write_project(tmp_path, toml)
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "c.p12").write_bytes(b"not really a p12")
    cfg = load(tmp_path / "targets.toml")
    dist = cfg.project.dist_dir
    record = BuildRecord()
    for t, name in ((WIN, "wavry-demo.exe"), (LINUX, "wavry-demo")):
        staged = dist / ".wavrybuild" / "bin" / t / name
        staged.parent.mkdir(parents=True)
        staged.write_bytes(b"unsigned " + t.encode())
        record.targets[t] = TargetRecord(id=t, triple=t, rust_target=t, builder="cargo", toolchain=None, std=None,
                                         ok=True, seconds=0.0, binaries=[BinaryRecord("wavry-demo", str(
                                             staged.relative_to(dist)), staged.stat().st_size)])
    record.save(dist)
    return cfg, DistState(dist)


def test_an_unsigned_windows_binary_is_refused_naming_what_to_run(tmp_path: Path) -> None:
    cfg, state = _project(tmp_path)
    with pytest.raises(WavryError) as err:
        state.built(cfg, cfg.targets, "a wheel")
    assert f"{WIN}: wavry-demo is not Authenticode-signed yet" in err.value.message
    assert f"invoke codesign --target {WIN}" in (err.value.hint or "")
    [(_, _, paths)] = state.built(cfg, cfg.select([LINUX]), "a wheel")
    assert paths == [state.dist / ".wavrybuild" / "bin" / LINUX / "wavry-demo"]  # not Windows: as built


def test_the_signed_copy_is_what_every_stage_gets(tmp_path: Path) -> None:
    cfg, state = _project(tmp_path)
    b = state.record.targets[WIN].binaries[0]
    b.signed = ".wavrybuild/codesigned/x86_64-pc-windows-gnu/wavry-demo.exe"
    with pytest.raises(WavryError):  # recorded but gone: refused too, never the unsigned one instead
        state.built(cfg, cfg.select([WIN]), "an npm package")
    (state.dist / b.signed).parent.mkdir(parents=True)
    (state.dist / b.signed).write_bytes(b"signed")
    [(_, names, paths)] = state.built(cfg, cfg.select([WIN]), "an npm package")
    assert names == ["wavry-demo"] and paths == [state.dist / b.signed]
    plain, plain_state = _project(tmp_path / "plain", TOML.replace('methods = ["authenticode"]', "methods = []"))
    plain_state.record.targets[WIN].binaries[0].signed = b.signed
    [(_, _, paths)] = plain_state.built(plain, plain.select([WIN]), "a wheel")
    assert paths == [plain_state.dist / ".wavrybuild" / "bin" / WIN / "wavry-demo.exe"]  # no authenticode: as built


def test_dry_plan_shows_osslsigncode_for_windows_only_and_no_password(tmp_path: Path, monkeypatch) -> None:
    cfg, _state = _project(tmp_path)
    monkeypatch.setenv("MY_P12_PASSWORD", SECRET)
    run = Run(cfg, Quiet(), cfg.targets, dry=True)  # type: ignore[arg-type]
    stage = CodesignStage()
    assert stage.applies(run)
    lines = [s.planned.text for s in stage.steps(run, None) if s.planned]
    [cmd] = [line for line in lines if line.startswith("osslsigncode sign")]
    assert "-pkcs12" in cmd and "-readpass" in cmd and "-st" in cmd and f"bin/{WIN}/wavry-demo.exe" in cmd
    assert any(f"codesigned/{WIN}/wavry-demo.exe" in line for line in lines)
    assert LINUX not in " ".join(lines) and SECRET not in " ".join(lines)
    assert not CodesignStage().applies(Run(cfg, Quiet(), cfg.select([LINUX])))  # type: ignore[arg-type]


def test_the_resume_key_follows_the_binary_bytes(tmp_path: Path) -> None:
    cfg, state = _project(tmp_path)
    run = Run(cfg, Quiet(), cfg.targets)  # type: ignore[arg-type]
    stage = CodesignStage()
    before = stage.keys(run)
    assert list(before) == [WIN] and before == stage.keys(run)
    (state.dist / ".wavrybuild" / "bin" / WIN / "wavry-demo.exe").write_bytes(b"rebuilt")
    assert stage.keys(run)[WIN] != before[WIN]
