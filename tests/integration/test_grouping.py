"""Targets that differ only in --target share one cargo invocation (cargo's jobserver runs them together)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import invoke, write_project

SHARED = """
[project]
crate = "demo"

[defaults]
toolchain = "system"
builder = "zigbuild"
smoke-expect = "{version} ({triple})"

[targets.x86_64-unknown-linux-gnu]
[targets.aarch64-unknown-linux-gnu]
"""


def test_one_invocation_builds_both(tmp_path: Path, cargo_target_dir: Path) -> None:
    root = write_project(tmp_path, SHARED)
    env = {"CARGO_TARGET_DIR": str(cargo_target_dir)}
    done = invoke("build", "--all", "--force", "smoke", cwd=root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    commands = [ln for ln in done.stderr.splitlines() if ln.startswith("$ ")]
    assert len(commands) == 1, commands
    assert "--target x86_64-unknown-linux-gnu --target aarch64-unknown-linux-gnu" in commands[0]
    assert done.stdout.count("passed") == 4
    out = subprocess.run(["qemu-aarch64", str(root / "dist/.wavrybuild/bin/aarch64-unknown-linux-gnu/wavry-demo")],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "wavry-demo 0.1.0 (aarch64-unknown-linux-gnu)"


def test_a_failure_in_the_shared_invocation_is_the_failing_targets_alone(tmp_path: Path, cargo_target_dir: Path) -> None:
    root = write_project(tmp_path, SHARED.replace('builder = "zigbuild"', 'builder = "zigbuild"\nfeatures = ["broken-on-aarch64"]'))
    done = invoke("build", "--all", cwd=root, env={"CARGO_TARGET_DIR": str(cargo_target_dir)})
    assert done.returncode == 1
    assert "aarch64-unknown-linux-gnu: build failed" in done.stderr
    assert "x86_64-unknown-linux-gnu: build failed" not in done.stderr
    assert "broken-on-aarch64` feature is enabled on aarch64" in done.stderr
    assert (root / "dist/.wavrybuild/bin/x86_64-unknown-linux-gnu/wavry-demo").is_file()
    assert not (root / "dist/.wavrybuild/bin/aarch64-unknown-linux-gnu").exists()
