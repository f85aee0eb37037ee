"""Windows on ARM64 (issue 30 item 6): aarch64-pc-windows-gnullvm is cross-built here (cargo-zigbuild:
zig's lld and mingw-w64, std from source), aarch64-pc-windows-msvc goes to GitHub's Windows ARM64
runner (windows-11-arm) and is refused here naming it. The real gnullvm build, its zip and its
Authenticode signature are in tests/integration/test_winarm.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import REPO, git_commit, invoke, write_project
from tests.unit.test_pipeline import fake_metadata
from wavrybuild.ci.matrix import matrix
from wavrybuild.config import Config, TargetConfig, parse
from wavrybuild.env import Settings
from wavrybuild.toolchain.probe import RustToolchain, Tools, choose_builder, choose_runner, target_status
from wavrybuild.triple import Triple

HOST = "x86_64-unknown-linux-gnu"
ARM_GNU, ARM_MSVC, X64_MSVC = "aarch64-pc-windows-gnullvm", "aarch64-pc-windows-msvc", "x86_64-pc-windows-msvc"


def _config(tmp_path: Path, *ids: str, extra: dict[str, Any] | None = None) -> Config:
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.0.0"\n')
    data: dict[str, Any] = {"targets": {t: {} for t in ids}, **(extra or {})}
    return parse(tmp_path / "targets.toml", data, fake_metadata, Settings())


def test_plan_puts_arm64_msvc_on_windows_11_arm_and_gnullvm_on_linux(tmp_path: Path) -> None:
    cfg = _config(tmp_path, ARM_MSVC, X64_MSVC, ARM_GNU)
    jobs = {j["target"]: j["runs-on"] for j in matrix(cfg, "github")["include"]}  # type: ignore[index]
    assert jobs == {ARM_MSVC: "windows-11-arm", X64_MSVC: "windows-latest", ARM_GNU: "ubuntu-latest"}
    # targets.toml's runs-on still wins.
    cfg = _config(tmp_path, ARM_MSVC, extra={"targets": {ARM_MSVC: {"runs-on": "self-hosted-arm"}}})
    assert [j["runs-on"] for j in matrix(cfg, "github")["include"]] == ["self-hosted-arm"]  # type: ignore[index]


def test_gnullvm_is_built_with_zig_and_not_run_here() -> None:
    t = TargetConfig(id=ARM_GNU, triple=Triple(ARM_GNU))
    assert choose_builder(t, HOST) == "zigbuild"
    # windows-gnu keeps the mingw gcc (zig's mingw link misses libssp_nonshared there).
    assert choose_builder(TargetConfig(id="w", triple=Triple("x86_64-pc-windows-gnu")), HOST) == "cargo"
    runner = choose_runner(t, HOST)
    assert runner.kind == "none" and not runner.available and "Windows" in runner.reason
    # No zig: the missing pieces are named, each with its fix; nothing about MSVC or a Windows runner.
    st = target_status(t, Tools(host=HOST, cargo="/usr/bin/cargo", zigbuild=None, zig=None), chains=())
    assert any("pip install cargo-zigbuild" in p for p in st.problems)
    assert any("pip install ziglang" in p for p in st.problems)
    assert not any("runner" in p for p in st.problems)


def test_arm64_msvc_status_names_the_arm_runner(tmp_path: Path) -> None:
    t = TargetConfig(id=ARM_MSVC, triple=Triple(ARM_MSVC))
    chain = RustToolchain("stable", tmp_path)
    st = target_status(t, Tools(host=HOST, cargo="/usr/bin/cargo", zigbuild=None, zig=None), chains=(chain,))
    assert not st.buildable
    why = [p for p in st.problems if "Windows SDK" in p]
    assert len(why) == 1 and "windows-11-arm" in why[0] and ARM_GNU in why[0]
    x64 = target_status(TargetConfig(id=X64_MSVC, triple=Triple(X64_MSVC)),
                        Tools(host=HOST, cargo="/usr/bin/cargo", zigbuild=None, zig=None), chains=(chain,))
    assert any("windows-latest" in p and "cargo-xwin" in p for p in x64.problems)


def test_local_build_of_arm64_msvc_is_refused_naming_the_runner(tmp_path: Path) -> None:
    """The real CLI: one clear message, a non-zero exit, no traceback, nothing compiled or written."""
    text = (REPO / "targets.toml").read_text().split("[targets.", 1)[0] + f"[targets.{ARM_MSVC}]\n"
    root = write_project(tmp_path / "p", text)
    git_commit(root)
    done = invoke("build", "--target", ARM_MSVC, cwd=root)
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert "windows-11-arm" in out and ARM_MSVC in out
    assert "Traceback" not in out
    assert not list((root / "dist").glob(f".wavrybuild/bin/{ARM_MSVC}/*"))


def test_gnullvm_links_without_the_gnu_ld_flag_and_strips(tmp_path: Path) -> None:
    """zig's cc refuses GNU ld's --no-insert-timestamp: gnullvm gets lld's -Brepro (no link time in
    the PE header) instead; the COFF symbol table goes (strip=symbols), as for windows-gnu."""
    from tests.unit.test_plan import _rustflags
    from wavrybuild.build.builders import BUILDERS
    from wavrybuild.config import load
    from wavrybuild.toolchain.probe import StdSource

    project = load(REPO / "targets.toml").project
    chain = RustToolchain("system", tmp_path)
    for triple, builder, want in ((ARM_GNU, "zigbuild", ["-C", "link-arg=-Wl,-Brepro", "-C", "strip=symbols"]),
                                  ("x86_64-pc-windows-gnu", "cargo",
                                   ["-C", "link-arg=-Wl,--no-insert-timestamp", "-C", "strip=symbols"])):
        t = TargetConfig(id=triple, triple=Triple(triple))
        cmd = BUILDERS[builder].command(project, t, StdSource(chain, "build-std"), HOST)
        flags = _rustflags(cmd, triple)
        assert flags[-len(want):] == want and ("--no-insert-timestamp" in " ".join(flags)) == (builder == "cargo")
