"""`invoke wheels`: the cibuildwheel matrix derived from targets.toml, checked by the real
cibuildwheel's --print-build-identifiers (building needs containers, which this machine lacks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import invoke, write_project
from wavrybuild.channels.bindings.plan import plan
from wavrybuild.config import load
from wavrybuild.errors import ConfigError

TARGETS = """
[project]
crate = "demo"

[targets."x86_64-unknown-linux-gnu.2.17"]
[targets."aarch64-unknown-linux-gnu.2.28"]
[targets.x86_64-unknown-linux-musl]
[targets.aarch64-apple-darwin]
[targets.x86_64-pc-windows-gnu]
"""
PYPROJECT = """
[build-system]
requires = ["maturin>=1,<2"]
build-backend = "maturin"

[project]
name = "wavry-demo-py"
version = "0.1.0"
requires-python = ">=3.11"

[tool.cibuildwheel]
skip = "*t-*"   # the package's own settings stay in force: no free-threaded builds
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_project(tmp_path, TARGETS + '\n[bindings]\npackage-dir = "py"\npython = ["cp3*"]\n')
    (tmp_path / "py").mkdir()
    (tmp_path / "py/pyproject.toml").write_text(PYPROJECT)
    return tmp_path


def test_linux_identifiers_from_targets(project: Path) -> None:
    done = invoke("wheels", "--platform", "linux", "--print-build-identifiers", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    ids = done.stdout.split()
    suffixes = {i.split("-", 1)[1] for i in ids}
    assert suffixes == {"manylinux_x86_64", "manylinux_aarch64", "musllinux_x86_64"}
    pythons = {i.split("-", 1)[0] for i in ids}
    assert "cp311" in pythons and "cp312" in pythons
    assert "cp310" not in pythons  # requires-python >= 3.11 of the package
    assert not any(p.endswith("t") for p in pythons)  # its own skip = "*t-*"
    # Every Python is built for every target.
    assert len(ids) == 3 * len(pythons)


@pytest.mark.parametrize("platform,suffix", [("macos", "macosx_arm64"), ("windows", "win_amd64")])
def test_other_platforms(project: Path, platform: str, suffix: str) -> None:
    done = invoke("wheels", "--platform", platform, "--print-build-identifiers", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    ids = done.stdout.split()
    assert ids and all(i.endswith("-" + suffix) for i in ids)


def test_images_follow_the_glibc_floor_and_rust_is_installed(project: Path) -> None:
    cfg = load(project / "targets.toml")
    bc = cfg.bindings
    assert bc is not None
    p = plan(cfg, bc, "linux")
    assert p.env["CIBW_MANYLINUX_X86_64_IMAGE"] == "manylinux2014"  # glibc 2.17
    assert p.env["CIBW_MANYLINUX_AARCH64_IMAGE"] == "manylinux_2_28"
    assert p.env["CIBW_ARCHS_LINUX"] == "x86_64 aarch64"
    assert "sh.rustup.rs" in p.env["CIBW_BEFORE_ALL_LINUX"]
    assert p.argv[:3] == ("cibuildwheel", "--platform", "linux") and p.argv[-1] == str(project / "py")
    mac = plan(cfg, bc, "macos")
    assert mac.env["CIBW_BUILD"] == "cp3*-macosx_arm64" and mac.env["MACOSX_DEPLOYMENT_TARGET"] == "11.0"


def test_dry_shows_command_and_matrix(project: Path) -> None:
    done = invoke("wheels", "--platform", "linux", "--dry", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "CIBW_BUILD='cp3*-manylinux_x86_64 cp3*-manylinux_aarch64 cp3*-musllinux_x86_64'" in done.stderr
    assert "cibuildwheel --platform linux --output-dir" in done.stderr


@pytest.mark.parametrize("table,expect", [
    ('[bindings]\npackage-dir = "nowhere"\n', "no pyproject.toml"),
    ('[bindings]\npackage-dir = "py"\npython = ["3.12"]\n', "build selector prefixes"),
    ('[bindings]\npackage-dir = "py"\npyhton = ["cp3*"]\n', "did you mean 'python'"),
    ('[bindings]\npackage-dir = "py"\ntargets = ["aarch64-apple-darwn"]\n', "did you mean 'aarch64-apple-darwin'"),
])
def test_bad_bindings_config(project: Path, table: str, expect: str) -> None:
    (project / "targets.toml").write_text(TARGETS + table)
    with pytest.raises(ConfigError) as info:
        load(project / "targets.toml")
    assert expect in str(info.value)


def test_floor_older_than_any_image(project: Path) -> None:
    (project / "targets.toml").write_text(TARGETS.replace('"x86_64-unknown-linux-gnu.2.17"', '"x86_64-unknown-linux-gnu.2.12"')
                                          + '[bindings]\npackage-dir = "py"\n')
    done = invoke("wheels", "--platform", "linux", "--dry", cwd=project)
    assert done.returncode == 2
    assert "no manylinux image is as old as glibc 2.12" in done.stderr
