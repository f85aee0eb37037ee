"""One target failing does not stop the others; --fail-fast does; bad config builds and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import invoke, write_project

MIXED = """
[project]
crate = "demo"

[targets.aarch64-unknown-linux-gnu]
features = ["broken"]

[targets.x86_64-unknown-linux-gnu]
"""


def test_one_target_fails_others_build(tmp_path: Path, cargo_target_dir: Path) -> None:
    root = write_project(tmp_path, MIXED)
    done = invoke("build", "--all", cwd=root, env={"CARGO_TARGET_DIR": str(cargo_target_dir)})
    assert done.returncode == 1
    assert "aarch64-unknown-linux-gnu: build failed" in done.stderr
    assert "the `broken` feature is enabled" in done.stderr  # the compiler's own error is shown
    assert "1 of 2 targets did not build: aarch64-unknown-linux-gnu" in done.stderr
    # The target after the failing one was still built, and works.
    assert (root / "dist/.wavrybuild/bin/x86_64-unknown-linux-gnu/wavry-demo").is_file()
    rec = json.loads((root / "dist/.wavrybuild/build.json").read_text())
    assert rec["targets"]["aarch64-unknown-linux-gnu"]["ok"] is False
    assert rec["targets"]["x86_64-unknown-linux-gnu"]["ok"] is True
    # Smoke reports the failed target as failed, not skipped.
    smoke = invoke("smoke", cwd=root, env={"CARGO_TARGET_DIR": str(cargo_target_dir)})
    assert smoke.returncode == 1 and "its build failed" in smoke.stderr


def test_fail_fast_stops_at_first_failure(tmp_path: Path, cargo_target_dir: Path) -> None:
    root = write_project(tmp_path, MIXED)
    done = invoke("build", "--all", "--fail-fast", cwd=root, env={"CARGO_TARGET_DIR": str(cargo_target_dir)})
    assert done.returncode == 1
    assert "not run (--fail-fast)" in done.stdout
    assert not (root / "dist/.wavrybuild/bin/x86_64-unknown-linux-gnu").exists()


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ('[project]\ncrate = "demo"\n[targets.aarch64-unknown-linux-gnu]\nbuilderr = "zigbuild"\n',
         "targets.aarch64-unknown-linux-gnu.builderr: unknown key; did you mean 'builder'?"),
        ('[project]\ncrate = "demo"\n[targets.aarch64-unknown-linux-gn]\n', "did you mean 'aarch64-unknown-linux-gnu'?"),
        ('[project]\ncrate = "demo"\n[targets.x86_64-unknown-linux-gnu]\nfeatures = 3\n', "expected a list of strings"),
        ('[project]\ncrate = "missing"\n[targets.x86_64-unknown-linux-gnu]\n', "project.crate: no Cargo.toml"),
    ],
)
def test_bad_config_exit_2_nothing_written(tmp_path: Path, toml: str, needle: str) -> None:
    root = write_project(tmp_path, toml)
    done = invoke("build", "--all", cwd=root)
    assert done.returncode == 2, done.stderr
    assert needle in done.stderr
    assert str(root / "targets.toml") in done.stderr
    assert "Traceback" not in done.stderr
    assert not (root / "dist").exists()
    assert not (root / "demo" / "target").exists()


def test_unknown_target_flag(tmp_path: Path) -> None:
    root = write_project(tmp_path, MIXED)
    done = invoke("build", "--target", "aarch64-unknown-linux-gnux", cwd=root)
    assert done.returncode == 2
    assert "target 'aarch64-unknown-linux-gnux' is not configured; did you mean 'aarch64-unknown-linux-gnu'?" in done.stderr
