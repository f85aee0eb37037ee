"""A workspace: the binary lives in one member and uses a path dependency; cargo's JSON finds it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import invoke, write_files

FILES = {
    "Cargo.toml": '[workspace]\nmembers = ["crates/core", "crates/cli"]\nresolver = "2"\n\n'
                  '[workspace.package]\nversion = "2.3.4"\nedition = "2021"\n',
    "crates/core/Cargo.toml": '[package]\nname = "ws-core"\nversion.workspace = true\nedition.workspace = true\n',
    "crates/core/src/lib.rs": 'pub fn greeting() -> &\'static str { "hello from the core crate" }\n',
    "crates/cli/Cargo.toml": '[package]\nname = "ws-cli"\nversion.workspace = true\nedition.workspace = true\n\n'
                             '[[bin]]\nname = "ws-tool"\npath = "src/main.rs"\n\n'
                             '[dependencies]\nws-core = { path = "../core" }\n',
    "crates/cli/src/main.rs": 'fn main() { println!("ws-tool {} {}", env!("CARGO_PKG_VERSION"), ws_core::greeting()); }\n',
    "targets.toml": '[project]\ncrate = "."\n\n[defaults]\nsmoke-expect = "ws-tool 2.3.4 hello from the core crate"\n\n'
                    '[targets.x86_64-unknown-linux-gnu]\n[targets.aarch64-unknown-linux-gnu]\n',
    "tasks.py": "from wavrybuild import ns  # noqa: F401\n",
}


def test_workspace_member_binary(tmp_path: Path, cargo_target_dir: Path) -> None:
    write_files(tmp_path, FILES)
    env = {"CARGO_TARGET_DIR": str(cargo_target_dir)}
    done = invoke("build", "--all", "smoke", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("passed") == 2
    out = subprocess.run(["qemu-aarch64", str(tmp_path / "dist/.wavrybuild/bin/aarch64-unknown-linux-gnu/ws-tool")],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "ws-tool 2.3.4 hello from the core crate"
