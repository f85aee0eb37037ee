"""What doctor reports and what `toolchain --install` plans on machines unlike this one: no Rust at
all, a distribution's Rust without rust-objcopy. Only the questions "which programs are on PATH"
and "is this Debian" are answered for the machine being described; the planning code is real."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import write_project
from wavrybuild import proc
from wavrybuild.config import TargetConfig, load
from wavrybuild.toolchain import pins, provision
from wavrybuild.toolchain import probe as tc
from wavrybuild.toolchain.probe import RustToolchain, Tools, target_status
from wavrybuild.triple import Triple

HOST = "x86_64-unknown-linux-gnu"
APPLE = TargetConfig(id="aarch64-apple-darwin", triple=Triple("aarch64-apple-darwin"))


def _sysroot(root: Path, *triples: str, objcopy: bool = False) -> Path:
    for t in triples:
        lib = root / "lib" / "rustlib" / t / "lib"
        lib.mkdir(parents=True)
        (lib / "libstd-0123.rlib").write_bytes(b"")
    (root / "lib/rustlib/src/rust/library/std").mkdir(parents=True)
    if objcopy:
        tool = root / "lib" / "rustlib" / HOST / "bin" / "rust-objcopy"
        tool.parent.mkdir(parents=True)
        tool.write_text("#!/bin/sh\n")
        tool.chmod(0o755)
    return root


def _machine(monkeypatch: pytest.MonkeyPatch, have: set[str], tmp_path: Path) -> None:
    """Describe the machine: only `have` are on PATH; no LLVM under /usr/lib."""
    real = proc.which
    # A program the described machine has but this one may not (rustup on a bare CI machine):
    # the plans only ask whether it is there.
    monkeypatch.setattr(proc, "which", lambda p: (real(p) or f"/usr/bin/{p}") if p in have else None)
    monkeypatch.setattr(tc, "llvm_objcopy", lambda: real("llvm-objcopy") if "llvm-objcopy" in have else None)
    monkeypatch.setattr(provision, "_is_debian", lambda: True)
    monkeypatch.setattr(provision, "_rust_package_suffix", lambda: "-web")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no shim from an earlier build


TOOLS = Tools(cargo="cargo 1.96.0", zig="0.17.1", zigbuild="cargo-zigbuild 0.24.1", host=HOST)


def test_apple_target_without_rust_objcopy_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _machine(monkeypatch, {"cargo-zigbuild"}, tmp_path)
    distro = RustToolchain(None, _sysroot(tmp_path / "usr", HOST), default=True)
    st = target_status(APPLE, TOOLS, (distro,))
    assert st.std is not None and st.std.mode == "build-std"
    assert not st.buildable
    assert any("rust-objcopy not found" in p and "`apt-get install llvm`" in p for p in st.problems)


def test_apple_target_with_the_toolchains_own_rust_objcopy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _machine(monkeypatch, {"cargo-zigbuild"}, tmp_path)
    rustup_like = RustToolchain("nightly", _sysroot(tmp_path / "nightly", HOST, objcopy=True), default=True)
    assert target_status(APPLE, TOOLS, (rustup_like,)).buildable


def test_apple_target_with_llvm_objcopy_gets_a_shim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if proc.which("llvm-objcopy") is None:
        pytest.fail("needs LLVM's objcopy (`invoke toolchain --install` installs llvm for the Apple target)")
    _machine(monkeypatch, {"cargo-zigbuild", "llvm-objcopy"}, tmp_path)
    distro = RustToolchain(None, _sysroot(tmp_path / "usr", HOST), default=True)
    assert target_status(APPLE, TOOLS, (distro,)).buildable
    tc.ensure_objcopy_shim(distro, HOST)
    shim = tmp_path / "cache" / "wavrybuild" / "bin" / "rust-objcopy"
    assert shim.is_symlink() and Path(shim.resolve()).name.startswith("llvm-objcopy")
    assert str(shim.parent) in proc.tool_path().split(":")


def test_bare_machine_plan_installs_rust_then_everything_the_targets_need(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_project(tmp_path / "p", '[project]\ncrate="demo"\n[targets.x86_64-unknown-linux-gnu]\n'
                                         '[targets.aarch64-unknown-linux-gnu]\n[targets.aarch64-apple-darwin]\n')
    cfg = load(root / "targets.toml")  # with this machine's cargo; the machine described has none
    _machine(monkeypatch, {"cargo-zigbuild", "curl", "sh"}, tmp_path)
    monkeypatch.setattr(tc, "toolchains", lambda: ())
    bare = Tools(cargo=None, zig="0.17.1", zigbuild="cargo-zigbuild 0.24.1", host=HOST)
    doctor = [target_status(t, bare) for t in cfg.targets]
    assert all(any("cargo (Rust) not installed" in p for p in st.problems) for st in doctor)
    aarch64 = next(st for st in doctor if st.target.id == "aarch64-unknown-linux-gnu")
    assert any("qemu-aarch64 not found" in m and "apt-get install qemu-user" in m for m in aarch64.missing)

    steps = provision.install_plan(cfg, cfg.targets, bare)
    argvs = [" ".join(s.argv) for s in steps]
    # rustup's installer first (optional: offline it fails and the distribution's Rust follows).
    assert steps[0].optional and steps[0].argv[0] == "curl" and "https://sh.rustup.rs" in steps[0].argv
    assert steps[1].optional and steps[1].chain == steps[0].chain and steps[1].argv[0] == "sh"
    apt = next(s for s in steps if s.argv[:2] == ("apt-get", "install"))
    pkgs = set(apt.argv)
    assert {"rustc-web", "cargo-web", "libstd-rust-web-dev:arm64", "rust-web-src", "llvm", "qemu-user", "gcc"} <= pkgs
    assert "dpkg --add-architecture arm64" in argvs
    assert not any(a.startswith("rustup") for a in argvs)  # there is no rustup to link anything into
    # Only what the targets need: no Windows linker for a matrix without Windows.
    assert "gcc-mingw-w64-x86-64" not in pkgs


def test_rustup_without_toolchains_gets_one_and_a_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_project(tmp_path / "p", '[project]\ncrate="demo"\n[targets.x86_64-unknown-linux-gnu]\n')
    cfg = load(root / "targets.toml")
    _machine(monkeypatch, {"cargo-zigbuild", "rustup"}, tmp_path)
    monkeypatch.setattr(tc, "toolchains", lambda: ())
    monkeypatch.setattr(pins, "active_pin", lambda _d: None)
    bare = Tools(cargo=None, zig=None, zigbuild=None, host=HOST)
    argvs = [" ".join(s.argv) for s in provision.install_plan(cfg, cfg.targets, bare)]
    assert argvs[0] == "rustup toolchain install stable --profile minimal"
    assert "rustup toolchain link system /usr" in argvs and argvs[-1] == "rustup default system"
