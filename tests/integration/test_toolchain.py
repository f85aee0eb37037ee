"""doctor / toolchain reports on this machine, and the install plan."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import REPO, invoke, write_project


def test_doctor_json_reports_every_target(tmp_path: Path) -> None:
    root = write_project(tmp_path, (REPO / "targets.toml").read_text())
    done = invoke("doctor", "--json", cwd=root)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    by_id = {t["target"]: t for t in report["targets"]}
    assert set(by_id) == {"x86_64-unknown-linux-gnu", "x86_64-unknown-linux-gnu.2.17", "aarch64-unknown-linux-gnu",
                          "x86_64-unknown-linux-musl", "aarch64-apple-darwin", "x86_64-pc-windows-gnu"}
    assert all(t["buildable"] for t in by_id.values())
    assert by_id["aarch64-unknown-linux-gnu"]["runner"] == "qemu"
    assert by_id["aarch64-apple-darwin"]["runner_available"] is False
    assert by_id["x86_64-pc-windows-gnu"]["linker"] == "x86_64-w64-mingw32-gcc"
    assert by_id["x86_64-unknown-linux-gnu"]["rustc"].startswith("rustc ")
    assert report["tools"]["zig"] and report["tools"]["cargo-zigbuild"].startswith("cargo-zigbuild")


def test_toolchain_table(tmp_path: Path) -> None:
    root = write_project(tmp_path, (REPO / "targets.toml").read_text())
    done = invoke("toolchain", cwd=root)
    assert done.returncode == 0, done.stderr
    assert "aarch64-unknown-linux-gnu" in done.stdout and "qemu" in done.stdout


def test_doctor_fails_for_unbuildable_target(tmp_path: Path) -> None:
    # A pinned toolchain without this target's std and without rust-src cannot build it.
    root = write_project(tmp_path, '[project]\ncrate="demo"\n[targets.riscv64gc-unknown-linux-gnu]\n'
                                   'std = "installed"\n')
    done = invoke("doctor", "--json", cwd=root)
    assert done.returncode == 1
    t = json.loads(done.stdout)["targets"][0]
    assert t["std"] == "missing" and "invoke toolchain --install" in t["problems"][0]


def test_install_dry_plans_rustup_then_offline_providers(tmp_path: Path) -> None:
    root = write_project(tmp_path, '[project]\ncrate="demo"\n[targets.riscv64gc-unknown-linux-gnu]\n'
                                   'std = "installed"\n')
    done = invoke("toolchain", "--install", "--dry", cwd=root)
    assert done.returncode == 0, done.stderr
    err = done.stderr
    if shutil.which("rustup"):
        assert "rustup target add riscv64gc-unknown-linux-gnu" in err
    assert "dpkg --add-architecture riscv64" in err
    assert "libstd-rust-web-dev:riscv64" in err or "libstd-rust-dev:riscv64" in err
    assert "qemu-user" in err or "qemu-riscv64" not in err


def test_doctor_on_a_machine_without_rust(tmp_path: Path) -> None:
    """PATH holding only the virtual environment (python, zig, cargo-zigbuild): no cargo, no cc, no
    qemu, no linkers. doctor still reads the project (Cargo.toml directly) and names each piece."""
    import sys

    root = write_project(tmp_path / "p", (REPO / "targets.toml").read_text())
    env = {"PATH": str(Path(sys.executable).parent), "CARGO_HOME": str(tmp_path / "no-cargo-home"),
           "RUSTUP_HOME": str(tmp_path / "no-rustup-home"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = invoke("doctor", "--json", cwd=root, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    by_id = {t["target"]: t for t in json.loads(done.stdout)["targets"]}
    for t in by_id.values():
        assert not t["buildable"]
        assert any("cargo (Rust) not installed" in p and "invoke toolchain --install" in p for p in t["problems"])
    assert any("x86_64-w64-mingw32-gcc not found" in p and "apt-get install gcc-mingw-w64-x86-64" in p
               for p in by_id["x86_64-pc-windows-gnu"]["problems"])
    assert any("linker cc not found" in p for p in by_id["x86_64-unknown-linux-gnu"]["problems"])
    assert any("qemu-aarch64 not found" in m and "apt-get install qemu-user" in m
               for m in by_id["aarch64-unknown-linux-gnu"]["missing"])
    table = invoke("doctor", cwd=root, env=env)
    assert table.returncode == 1 and "cargo (Rust) not installed" in table.stderr
    assert "invoke toolchain --install" in table.stderr
    # And the plan for it, without running anything.
    dry = invoke("toolchain", "--install", "--dry", cwd=root, env=env)
    assert dry.returncode == 0, dry.stderr
    assert "rustc" in dry.stderr and "cargo" in dry.stderr and "qemu-user" in dry.stderr


def test_doctor_exits_0_when_nothing_is_missing(tmp_path: Path) -> None:
    # After `invoke toolchain --install` (which .ci/setup runs) every target of targets.toml is ready.
    root = write_project(tmp_path, (REPO / "targets.toml").read_text())
    done = invoke("doctor", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "see below" not in done.stdout
