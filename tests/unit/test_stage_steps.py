"""A stage's dry run and its run are the same steps (issue 27, item 3).

On one configured project (no Rust: the manifest holds an archive written here), every stage that
can run without a build is run twice from the same dist/: once with --dry, once for real with
`proc.run` recorded. The commands the run started must be exactly the commands the dry run
printed, in order; the run must echo the same lines; every dist/ path the dry run named must exist
after the run; and the steps made for the dry run must be the steps made for the run.
The commands are real (`sh`, `python3`): nothing is faked."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_pipeline import Recorder, fake_metadata
from wavrybuild import proc
from wavrybuild.channels.installer.stage import InstallerStage
from wavrybuild.channels.pkgmanagers.stage import PackageManagersStage
from wavrybuild.checksum import sha256_file
from wavrybuild.config import Config, parse
from wavrybuild.env import Settings
from wavrybuild.errors import WavryError
from wavrybuild.manifest import Artifact, Manifest
from wavrybuild.notes.stage import NotesStage
from wavrybuild.package.artifacts import ArtifactsStage
from wavrybuild.pipeline.runner import Pipeline
from wavrybuild.pipeline.stage import Planned, Run, Stage, Status
from wavrybuild.provenance.stage import ProvenanceStage
from wavrybuild.sign.sums import ChecksumStage

REPO = Path(__file__).resolve().parents[2]
TARGET = "x86_64-unknown-linux-musl"


def _project(root: Path) -> Config:
    (root / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    (root / "CHANGELOG.md").write_text("# Changelog\n\n## [1.2.3] - 2026-01-01\n\n- first\n")
    data: dict[str, Any] = {
        "targets": {TARGET: {}},
        "artifacts": [
            # Two real commands, one writing into a directory the other reads back.
            {"name": "site.tar.gz", "directory": "site",
             "command": ["sh", "-c", "mkdir -p site && printf '<h1>demo</h1>' > site/index.html"]},
            {"name": "docs.zip", "directory": "docs",
             "command": ["python3", "-c", "import pathlib; p = pathlib.Path('docs'); p.mkdir(exist_ok=True); "
                                          "(p / 'a.txt').write_text('a')"]},
        ],
        "release": {"notes": True, "changelog": "CHANGELOG.md"},
        "provenance": {},
        "channels": {"installer": {"base-url": "https://example.com/{version}"},
                     "homebrew": {"base-url": "https://example.com/{version}"}},
    }
    (root / "targets.toml").write_text("# the test parses its data directly (the provenance hashes this file)\n")
    cfg = parse(root / "targets.toml", data, fake_metadata, Settings())
    dist = cfg.project.dist_dir
    dist.mkdir()
    archive = dist / f"demo-1.2.3-{TARGET}.tar.gz"
    archive.write_bytes(b"an archive's bytes")
    art = Artifact(target=TARGET, triple=TARGET, kind="archive", format="tar.gz", path=archive.name,
                   size=archive.stat().st_size, sha256=sha256_file(archive), binaries=["demo"], packages=["demo"])
    Manifest("demo", "demo", "1.2.3", {"commit": "f00d" * 10, "dirty": False}, 0, "", {}, [art]).save(dist)
    return cfg


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return _project(tmp_path)


def _planned(stage: Stage, run: Run) -> list[Planned | None]:
    return [s.planned for s in stage.steps(run, None)]


def _dry(cfg: Config, stage: Stage) -> tuple[list[str], list[str]]:
    """(commands, other lines) the dry run printed."""
    run = Run(cfg, Recorder(), cfg.targets, dry=True)
    assert Pipeline(run).stage(stage) is Status.DRY
    lines = run.ui.lines  # type: ignore[attr-defined]
    return [t for k, t in lines if k == "command"], [t.removeprefix("(dry) ") for k, t in lines if k == "info"]


def _real(cfg: Config, stage: Stage, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    """(commands started through proc.run, commands echoed) by the run."""
    started: list[str] = []
    real_run: Callable[..., proc.Result] = proc.run

    def recording(cmd: proc.Command, **kw: Any) -> proc.Result:
        started.append(cmd.display())
        return real_run(cmd, **kw)

    monkeypatch.setattr(proc, "run", recording)
    run = Run(cfg, Recorder(), cfg.targets)
    Pipeline(run).stage(stage)
    monkeypatch.setattr(proc, "run", real_run)
    return started, [t for k, t in run.ui.lines if k == "command"]  # type: ignore[attr-defined]


STAGES: list[Callable[[], Stage]] = [ArtifactsStage, InstallerStage, PackageManagersStage, NotesStage, ProvenanceStage,
                                     ChecksumStage]


@pytest.mark.parametrize("make", STAGES, ids=lambda m: m.__name__)
def test_the_run_does_what_the_dry_run_shows(cfg: Config, make: Callable[[], Stage],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # The stages before it have run: each stage sees the dist/ it sees in a release.
    for earlier in STAGES[:STAGES.index(make)]:
        Pipeline(Run(cfg, Recorder(), cfg.targets)).stage(earlier())
    dist = cfg.project.dist_dir
    before = {p: p.read_bytes() for p in dist.rglob("*") if p.is_file()}
    stage = make()
    assert _planned(stage, Run(cfg, Recorder(), cfg.targets, dry=True)) == _planned(stage, Run(cfg, Recorder(), cfg.targets))
    commands, lines = _dry(cfg, stage)
    assert {p: p.read_bytes() for p in dist.rglob("*") if p.is_file()} == before, "a dry run wrote to dist/"
    started, echoed = _real(cfg, stage, monkeypatch)
    assert started == commands, "the run started other commands than the dry run showed"
    assert echoed == commands
    named = [Path(m) for line in lines for m in re.findall(rf"{re.escape(str(dist))}/[^\s:,()]+", line)]
    assert named, lines
    for path in named:
        assert path.is_file(), f"the dry run said {path}, the run did not write it"


def test_the_commands_are_real_and_shown_in_order(cfg: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    """The artifacts stage's dry run lists its two commands, each before the archive it packs."""
    commands, _lines = _dry(cfg, ArtifactsStage())
    assert [c.split()[0] for c in commands] == ["sh", "python3"]
    assert not (cfg.project.root / "site").exists()
    started, _echoed = _real(cfg, ArtifactsStage(), monkeypatch)
    assert started == commands
    paths = {a["path"] for a in json.loads((cfg.project.dist_dir / "manifest.json").read_text())["artifacts"]}
    assert {"site.tar.gz", "docs.zip"} <= paths


def test_a_failing_command_is_the_one_the_dry_run_showed(cfg: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    """A step that fails stops the stage there: the steps after it (the second command) do not run."""
    (cfg.project.root.parent / "bad").mkdir()
    bad = _project(cfg.project.root.parent / "bad")
    object.__setattr__(bad.artifacts[0], "command", ("sh", "-c", "exit 3"))
    commands, _lines = _dry(bad, ArtifactsStage())
    with pytest.raises(WavryError, match=r"site\.tar\.gz: its command failed \(exit 3\)"):
        _real(bad, ArtifactsStage(), monkeypatch)
    assert commands[0] == "sh -c 'exit 3'"
    assert not (bad.project.root / "docs").exists(), "a step after the failed one ran"
    assert not (bad.project.dist_dir / "site.tar.gz").exists()


def _stage_classes() -> dict[str, set[str]]:
    out = {}
    for p in (REPO / "wavrybuild").rglob("*.py"):
        if p.parent.name == "pipeline":
            continue
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Stage"):
                methods = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
                if {"applies", "keys"} <= methods:
                    out[node.name] = methods
    return out


def test_no_stage_has_a_plan_apart_from_its_run() -> None:
    """A stage's only way to do work is `steps`: no `plan` or `run` of its own to drift apart."""
    stages = _stage_classes()
    assert len(stages) >= 18, stages
    for name, methods in stages.items():
        assert "steps" in methods and not {"plan", "run"} & methods, name
