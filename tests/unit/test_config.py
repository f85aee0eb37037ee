"""targets.toml parsing: the good file, and every kind of bad input gives one clear ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO, write_project
from wavrybuild.config import load
from wavrybuild.errors import ConfigError

GOOD = """
[project]
crate = "demo"

[defaults]
features = []

[targets.x86_64-unknown-linux-gnu]
builder = "cargo"

[targets."x86_64-unknown-linux-gnu.2.17"]

[targets.arm64-linux]
triple = "aarch64-unknown-linux-gnu"
rustflags = ["-C", "opt-level=s"]
env = { FOO = "bar" }
runner = "qemu"
"""


def _load(tmp_path: Path, text: str):
    write_project(tmp_path, text)
    return load(tmp_path / "targets.toml")


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    assert info.value.exit_code == 2
    message = str(info.value)
    assert str(tmp_path / "targets.toml") in message or "Cargo.toml" in message
    return message


def test_repo_targets_toml_parses() -> None:
    cfg = load(REPO / "targets.toml")
    assert cfg.project.package == "wavry-demo"
    assert cfg.project.version == "0.1.0"
    assert cfg.project.binaries == ("wavry-demo", "wavry-hello")
    ids = [t.id for t in cfg.targets]
    assert "aarch64-unknown-linux-gnu" in ids and "aarch64-apple-darwin" in ids


def test_defaults_overrides_and_glibc_suffix(tmp_path: Path) -> None:
    cfg = _load(tmp_path, GOOD)
    host, floor, arm = cfg.targets
    assert host.builder == "cargo" and host.glibc is None and host.profile == "release"
    assert str(floor.triple) == "x86_64-unknown-linux-gnu" and floor.glibc == "2.17"
    assert floor.rust_target == "x86_64-unknown-linux-gnu.2.17"
    assert str(arm.triple) == "aarch64-unknown-linux-gnu" and arm.id == "arm64-linux"
    assert arm.rustflags == ("-C", "opt-level=s") and dict(arm.env) == {"FOO": "bar"}
    assert cfg.project.dist_dir == tmp_path / "dist"
    # Frozen: the parsed config cannot be changed behind the planner's back.
    with pytest.raises(AttributeError):
        arm.builder = "cargo"  # type: ignore[misc]


def test_select_by_id_triple_and_unknown(tmp_path: Path) -> None:
    cfg = _load(tmp_path, GOOD)
    assert [t.id for t in cfg.select(["aarch64-unknown-linux-gnu"])] == ["arm64-linux"]
    assert [t.id for t in cfg.select(["x86_64-unknown-linux-gnu.2.17"])] == ["x86_64-unknown-linux-gnu.2.17"]
    with pytest.raises(ConfigError, match="did you mean 'arm64-linux'"):
        cfg.select(["arm64-linx"])
    with pytest.raises(ConfigError, match="no target given"):
        cfg.select([])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[project]\ncrate="demo"\n[targets.x86_64-unknown-linux-gnu]\nbuildr = "cargo"\n',
         "targets.x86_64-unknown-linux-gnu.buildr: unknown key; did you mean 'builder'?"),
        ('[project]\ncrate="demo"\n[defaults]\nfeaturs = []\n[targets.x86_64-unknown-linux-gnu]\n',
         "defaults.featurs: unknown key; did you mean 'features'?"),
        ('[projct]\ncrate="demo"\n[targets.x86_64-unknown-linux-gnu]\n', "projct: unknown key; did you mean 'project'?"),
        ('[project]\ncrate="demo"\n[targets.x86_64-unknown-linux-gnu]\nfeatures = "a"\n',
         "targets.x86_64-unknown-linux-gnu.features: expected a list of strings, got 'a'"),
        ('[project]\ncrate="demo"\n[targets.x86_64-unknown-linux-gnu]\nbuilder = "zigbuld"\n',
         "did you mean 'zigbuild'?"),
        ('[project]\ncrate="demo"\n[targets.aarch64-unknown-linux-gnux]\n',
         "'aarch64-unknown-linux-gnux' is not a target triple rustc knows; did you mean 'aarch64-unknown-linux-gnu'?"),
        ('[project]\ncrate="demo"\n[targets.x]\ntriple = "x86_64-unknown-linx-gnu"\n',
         "targets.x.triple: 'x86_64-unknown-linx-gnu' is not a target triple"),
        ('[project]\ncrate="demo"\n[targets.x86_64-unknown-linux-gnu]\n[targets.again]\ntriple = "x86_64-unknown-linux-gnu"\n',
         "targets.again: duplicate target: targets.x86_64-unknown-linux-gnu already builds x86_64-unknown-linux-gnu"),
        ('[project]\ncrate="demo"\n[targets.x86_64-unknown-linux-gnu]\n[targets.x86_64-unknown-linux-gnu]\n',
         "not valid TOML"),
        ('[project]\ncrate="nowhere"\n[targets.x86_64-unknown-linux-gnu]\n', "project.crate: no Cargo.toml"),
        ('[project]\ncrate="demo"\nbinaries=["wavry-dem"]\n[targets.x86_64-unknown-linux-gnu]\n',
         "project.binaries: package 'wavry-demo' has no binary 'wavry-dem'; did you mean 'wavry-demo'?"),
        ('[project]\ncrate="demo"\npackage="other"\n[targets.x86_64-unknown-linux-gnu]\n',
         "project.package: no package 'other'"),
        ('[project]\ncrate="demo"\n[targets.x86_64-unknown-linux-musl]\nglibc = "2.17"\n',
         "glibc floor only applies to *-linux-gnu targets"),
        ('[project]\ncrate="demo"\n[targets.x86_64-unknown-linux-gnu]\nglibc = "2.17"\nbuilder = "cargo"\n',
         "a glibc floor needs cargo-zigbuild"),
        ('[project]\ncrate="demo"\n[targets.x86_64-unknown-linux-gnu]\nglibc = "two"\n',
         'expected a glibc version string like "2.17"'),
        ('[project]\ncrate="demo"\n[targets.aarch64-apple-darwin]\nrunner = "qemu"\n',
         "qemu-user only runs Linux binaries"),
        ('[project]\ncrate="demo"\n[targets.x86_64-pc-windows-msvc]\nbuilder = "zigbuild"\n', "cannot link MSVC"),
        ('[project]\ncrate="demo"\n', "no targets configured"),
    ],
)
def test_bad_config(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in _error(tmp_path, text)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load(tmp_path / "targets.toml")


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ('[sign]\nmethods = ["gpg"]\n[sign.gpg]\nkey = "ABC"\npassphrase = "hunter2"\n',
         "sign.gpg.passphrase: secrets never go in targets.toml"),
        ('[sign]\npassword = "x"\n', "sign.password: secrets never go in targets.toml"),
        ('[sign]\nmethods = ["gpgg"]\n', "unknown signing method 'gpgg'; did you mean 'gpg'?"),
        ('[sign.minisign]\nkeyy = "k"\n', "sign.minisign.keyy: unknown key; did you mean 'key'?"),
    ],
)
def test_bad_sign_config(tmp_path: Path, section: str, expected: str) -> None:
    text = '[project]\ncrate="demo"\n[targets.x86_64-unknown-linux-gnu]\n' + section
    message = _error(tmp_path, text)
    assert expected in message
    assert "hunter2" not in message


def test_sign_env_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = '[project]\ncrate="demo"\n[targets.x86_64-unknown-linux-gnu]\n[sign]\nmethods=["gpg"]\n[sign.gpg]\nkey="A"\n'
    monkeypatch.setenv("WAVRYBUILD_GPG_KEY", "B")
    monkeypatch.setenv("WAVRYBUILD_SIGN_METHODS", "minisign,ssh")
    cfg = _load(tmp_path, text)
    assert cfg.sign.gpg.key == "B"
    assert cfg.sign.methods == ("minisign", "ssh")
    assert cfg.sign.gpg.passphrase_env == "WAVRYBUILD_GPG_PASSPHRASE"


def test_profile_settings(tmp_path: Path) -> None:
    cfg = _load(tmp_path, '[project]\ncrate="demo"\n[defaults]\nstrip = "symbols"\nopt-level = "z"\n'
                          '[targets.x86_64-unknown-linux-gnu]\nlto = true\ncodegen-units = 1\npanic = "abort"\n')
    assert dict(cfg.targets[0].profile_settings) == {"strip": "symbols", "opt-level": "z", "lto": True,
                                                     "codegen-units": 1, "panic": "abort"}
    assert "opt-level: expected 0, 1, 2, 3" in _error(tmp_path / "b", '[project]\ncrate="demo"\n'
                                                      '[targets.x86_64-unknown-linux-gnu]\nopt-level = "x"\n')
