"""Size-oriented profile settings from targets.toml give smaller binaries that still run."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import invoke, write_project

SMALL = """
[project]
crate = "demo"

[defaults]
strip = "symbols"
lto = "fat"
codegen-units = 1
opt-level = "z"
panic = "abort"

[targets.x86_64-unknown-linux-gnu]
[targets.aarch64-unknown-linux-gnu]
"""


def test_size_settings_shrink_binaries(release, tmp_path: Path, cargo_target_dir: Path) -> None:
    root = write_project(tmp_path, SMALL)
    done = invoke("build", "--all", "smoke", cwd=root, env={"CARGO_TARGET_DIR": str(cargo_target_dir)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'profile.release.opt-level="z"' in done.stderr and 'profile.release.panic="abort"' in done.stderr
    for target in ("x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"):
        small = root / f"dist/.wavrybuild/bin/{target}/wavry-demo"
        plain = release.binary(target)
        assert small.stat().st_size < plain.stat().st_size * 0.9, (target, small.stat().st_size, plain.stat().st_size)
    out = subprocess.run([str(root / "dist/.wavrybuild/bin/x86_64-unknown-linux-gnu/wavry-demo")],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "wavry-demo 0.1.0 (x86_64-unknown-linux-gnu)"
