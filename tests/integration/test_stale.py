"""A skipped build never ships a stale binary: each input cargo's own freshness covers makes the
next `invoke build` run cargo again, and the staged binary says so."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import invoke, write_files

TARGETS = '[project]\ncrate = "cli"\n\n[targets.x86_64-unknown-linux-gnu]\n'

FILES = {
    # A sibling crate outside cli's workspace, as in many monorepos.
    "core/Cargo.toml": '[package]\nname = "core"\nversion = "0.1.0"\nedition = "2021"\n',
    "core/src/lib.rs": 'pub fn word() -> &\'static str { "core v1" }\n',
    "cli/Cargo.toml": '[package]\nname = "cli"\nversion = "1.0.0"\nedition = "2021"\n\n'
                      '[dependencies]\ncore = { path = "../core" }\n',
    "cli/build.rs": 'fn main() {\n'
                    '    println!("cargo:rerun-if-env-changed=CLI_FLAVOUR");\n'
                    '    println!("cargo:rerun-if-changed=.hidden/greeting.txt");\n'
                    '    let flavour = std::env::var("CLI_FLAVOUR").unwrap_or_else(|_| "plain".into());\n'
                    '    let greeting = std::fs::read_to_string(".hidden/greeting.txt").unwrap();\n'
                    '    println!("cargo:rustc-env=CLI_FLAVOUR={flavour}");\n'
                    '    println!("cargo:rustc-env=CLI_GREETING={}", greeting.trim());\n'
                    '}\n',
    "cli/.hidden/greeting.txt": "hello 1\n",
    "cli/src/main.rs": 'fn main() {\n'
                       '    println!("{} {} {} {}", core::word(), env!("CLI_FLAVOUR"), env!("CLI_GREETING"),\n'
                       '             option_env!("CLI_STAMP").unwrap_or("-"));\n'
                       '}\n',
    "tasks.py": "from wavrybuild import ns  # noqa: F401\n",
    "targets.toml": TARGETS,
}


@pytest.fixture
def monorepo(tmp_path: Path) -> Path:
    write_files(tmp_path, FILES, lock=False)
    subprocess.run(["cargo", "generate-lockfile", "--offline"], cwd=tmp_path / "cli", check=True, capture_output=True)
    return tmp_path


def _release_binary(root: Path, env: dict[str, str]) -> tuple[str, str]:
    done = invoke("build", "--all", cwd=root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    out = subprocess.run([str(root / "dist/.wavrybuild/bin/x86_64-unknown-linux-gnu/cli")], capture_output=True,
                         text=True, check=True).stdout.strip()
    return out, done.stderr


def _touch_later(path: Path, text: str) -> None:
    path.write_text(text)
    t = time.time() + 5  # a clearly newer mtime, whatever the file system's granularity
    os.utime(path, (t, t))


def test_every_input_outside_the_workspace_files_rebuilds(monorepo: Path, tmp_path: Path) -> None:
    env = {"CARGO_TARGET_DIR": str(tmp_path / "target")}
    out, _ = _release_binary(monorepo, env)
    assert out == "core v1 plain hello 1 -"
    again, err = _release_binary(monorepo, env)
    assert again == out and "up to date" in err  # nothing changed: skipped, as before

    # 1. A path dependency outside the workspace.
    _touch_later(monorepo / "core/src/lib.rs", 'pub fn word() -> &\'static str { "core v2" }\n')
    out, err = _release_binary(monorepo, env)
    assert out.startswith("core v2 "), (out, err)

    # 2. A variable a build script declares with rerun-if-env-changed.
    out, _ = _release_binary(monorepo, {**env, "CLI_FLAVOUR": "spicy"})
    assert out == "core v2 spicy hello 1 -"

    # 3. A file in a hidden directory that the build reads.
    _touch_later(monorepo / "cli/.hidden/greeting.txt", "hello 2\n")
    out, _ = _release_binary(monorepo, {**env, "CLI_FLAVOUR": "spicy"})
    assert out == "core v2 spicy hello 2 -"

    # 4. A variable read by option_env! in the crate itself.
    out, _ = _release_binary(monorepo, {**env, "CLI_FLAVOUR": "spicy", "CLI_STAMP": "s1"})
    assert out == "core v2 spicy hello 2 s1"

    # And unchanged inputs are still a skip (the no-op stays cheap).
    again, err = _release_binary(monorepo, {**env, "CLI_FLAVOUR": "spicy", "CLI_STAMP": "s1"})
    assert again == out and "up to date" in err


def test_a_cargo_config_change_rebuilds(monorepo: Path, tmp_path: Path) -> None:
    env = {"CARGO_TARGET_DIR": str(tmp_path / "target")}
    out, _ = _release_binary(monorepo, env)
    assert out.endswith(" -")
    # .cargo/config.toml above the crate (outside its workspace), setting a variable for rustc.
    (monorepo / ".cargo").mkdir()
    (monorepo / ".cargo/config.toml").write_text('[env]\nCLI_STAMP = "from-config"\n')
    out, err = _release_binary(monorepo, env)
    assert out.endswith(" from-config"), (out, err)
    build_json = (monorepo / "dist/.wavrybuild/build.json").read_text()
    assert "from-config" not in build_json  # watched variables are recorded as digests
