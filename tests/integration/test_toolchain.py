"""doctor / toolchain reports on this machine, and the install plan."""

from __future__ import annotations

import json
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
                                   'toolchain = "stable"\nstd = "installed"\n')
    done = invoke("doctor", "--json", cwd=root)
    assert done.returncode == 1
    t = json.loads(done.stdout)["targets"][0]
    assert t["std"] == "missing" and "invoke toolchain --install" in t["problems"][0]


def test_install_dry_plans_rustup_then_offline_providers(tmp_path: Path) -> None:
    root = write_project(tmp_path, '[project]\ncrate="demo"\n[targets.riscv64gc-unknown-linux-gnu]\n'
                                   'toolchain = "stable"\nstd = "installed"\n')
    done = invoke("toolchain", "--install", "--dry", cwd=root)
    assert done.returncode == 0, done.stderr
    err = done.stderr
    assert "rustup target add riscv64gc-unknown-linux-gnu --toolchain stable" in err
    assert "dpkg --add-architecture riscv64" in err
    assert "libstd-rust-web-dev:riscv64" in err or "libstd-rust-dev:riscv64" in err
    assert "qemu-user" in err or "qemu-riscv64" not in err
