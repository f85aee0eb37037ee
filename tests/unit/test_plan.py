"""Plans are pure: builder argv/env, builder and runner choice, std discovery, install plans."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import REPO
from wavrybuild.build.builders import BUILDERS, VENDOR_SOURCE
from wavrybuild.config import TargetConfig, load
from wavrybuild.proc import Command
from wavrybuild.toolchain.probe import RustToolchain, StdSource, choose_builder, choose_runner, find_std
from wavrybuild.triple import Triple

HOST = "x86_64-unknown-linux-gnu"


def _rustflags(cmd, triple: str) -> list[str]:
    """The flags a command gives one target, parsed back from its `--config target."T".rustflags`."""
    import json

    prefix = f'target."{triple}".rustflags='
    values = [a[len(prefix):] for a in cmd.argv if a.startswith(prefix)]
    assert len(values) == 1, cmd.argv
    return json.loads(values[0])


def _target(triple: str, **kw) -> TargetConfig:
    return TargetConfig(id=kw.pop("id", triple), triple=Triple(triple), **kw)


def _sysroot(root: Path, *triples: str, src: bool = False, vendor: bool = False) -> Path:
    """A sysroot laid out as rustc's: lib/rustlib/<triple>/lib/libstd-*.rlib, optional rust-src."""
    for t in triples:
        lib = root / "lib" / "rustlib" / t / "lib"
        lib.mkdir(parents=True)
        (lib / "libstd-0123.rlib").write_bytes(b"")
    if src:
        (root / "lib/rustlib/src/rust/library/std").mkdir(parents=True)
        if vendor:
            (root / "lib/rustlib/src/rust/library/vendor").mkdir()
    return root


@pytest.fixture
def project():
    return load(REPO / "targets.toml").project


def test_cargo_builder_host(project) -> None:
    t = _target(HOST, features=("a", "b"), no_default_features=True)
    std = StdSource(RustToolchain("stable", Path("/nowhere")), "installed")
    cmd = BUILDERS["cargo"].command(project, t, std, HOST)
    assert cmd.argv[:2] == ("cargo", "build")
    argv = list(cmd.argv)
    assert argv[argv.index("--target") + 1] == HOST
    assert argv[argv.index("--features") + 1] == "a,b"
    assert "--no-default-features" in argv and "--locked" in argv
    assert argv[argv.index("--message-format") + 1] == "json-render-diagnostics"
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--bin"] == ["wavry-demo", "wavry-hello"]
    assert cmd.env["RUSTUP_TOOLCHAIN"] == "stable"
    # Machine paths are remapped so the binary does not depend on where the checkout is: the
    # checkout's own path only for the workspace's crates (through the workspace wrapper), so std
    # and registry crates keep flags that are the same in every checkout.
    ws_flag = f"--remap-path-prefix={project.workspace_root}=/build/wavry-demo"
    assert ws_flag not in _rustflags(cmd, HOST)
    assert f"--remap-path-prefix={project.build_dir}=/target" in _rustflags(cmd, HOST)
    assert cmd.env["RUSTC_WORKSPACE_WRAPPER"].endswith("rustc-workspace.sh")
    assert ws_flag in cmd.env["WAVRYBUILD_REMAP"].split("\n")
    assert len(cmd.env["WAVRYBUILD_CHECKOUT_ID"]) == 32
    # Per-target config, not RUSTFLAGS (which would override it): an inherited RUSTFLAGS is cleared.
    assert "RUSTFLAGS" not in cmd.env and "RUSTFLAGS" in cmd.unset_env
    assert not any(a.startswith("-Zbuild-std") for a in argv)


def test_zigbuild_glibc_floor_and_build_std(project, tmp_path: Path) -> None:
    floor = _target(HOST, glibc="2.17")
    chain = RustToolchain("system", _sysroot(tmp_path, HOST, src=True, vendor=True))
    cmd = BUILDERS["zigbuild"].command(project, floor, StdSource(chain, "installed"), HOST)
    assert cmd.argv[:2] == ("cargo-zigbuild", "zigbuild")
    assert "x86_64-unknown-linux-gnu.2.17" in cmd.argv

    musl = _target("x86_64-unknown-linux-musl", rustflags=("-C", "opt-level=z"))
    cmd = BUILDERS["zigbuild"].command(project, musl, StdSource(chain, "build-std"), HOST)
    assert "-Zbuild-std=std,panic_abort" in cmd.argv
    assert f'source.crates-io.replace-with="{VENDOR_SOURCE}"' in cmd.argv
    assert cmd.env["RUSTC_BOOTSTRAP"] == "1"
    assert _rustflags(cmd, "x86_64-unknown-linux-musl")[-4:] == ["-C", "opt-level=z", "-C", "link-self-contained=no"]


def test_cargo_windows_gnu_uses_mingw_linker(project, tmp_path: Path) -> None:
    win = _target("x86_64-pc-windows-gnu")
    assert choose_builder(win, HOST) == "cargo"
    chain = RustToolchain("system", _sysroot(tmp_path, src=True))
    cmd = BUILDERS["cargo"].command(project, win, StdSource(chain, "build-std"), HOST)
    assert cmd.env["CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER"] == "x86_64-w64-mingw32-gcc"
    # rust-src without vendored deps: no offline source replacement is forced.
    assert not any(VENDOR_SOURCE in a for a in cmd.argv)


def test_choose_builder() -> None:
    assert choose_builder(_target(HOST), HOST) == "cargo"
    assert choose_builder(_target(HOST, glibc="2.17"), HOST) == "zigbuild"
    assert choose_builder(_target("aarch64-unknown-linux-gnu"), HOST) == "zigbuild"
    assert choose_builder(_target("aarch64-apple-darwin"), HOST) == "zigbuild"
    assert choose_builder(_target("aarch64-unknown-linux-gnu", builder="cargo"), HOST) == "cargo"


def test_choose_runner() -> None:
    assert choose_runner(_target(HOST), HOST).kind == "native"
    assert choose_runner(_target("x86_64-unknown-linux-musl"), HOST).kind == "native"
    arm = choose_runner(_target("aarch64-unknown-linux-gnu"), HOST)
    assert arm.kind == "qemu" and arm.argv[0].startswith("qemu-aarch64")
    mac = choose_runner(_target("aarch64-apple-darwin"), HOST)
    assert mac.kind == "none" and not mac.available and "macOS" in mac.reason
    off = choose_runner(_target(HOST, runner="none"), HOST)
    assert not off.available


def test_find_std_prefers_installed_then_build_std(tmp_path: Path) -> None:
    stable = RustToolchain("stable", _sysroot(tmp_path / "stable", HOST), default=True)
    system = RustToolchain("system", _sysroot(tmp_path / "sys", HOST, "aarch64-unknown-linux-gnu", src=True, vendor=True))
    chains = (stable, system)
    assert find_std(_target(HOST), chains) == StdSource(stable, "installed")
    assert find_std(_target("aarch64-unknown-linux-gnu"), chains) == StdSource(system, "installed")
    assert find_std(_target("x86_64-unknown-linux-musl"), chains) == StdSource(system, "build-std")
    assert find_std(_target("x86_64-unknown-linux-musl", std="installed"), chains) is None
    # Pinned to a toolchain: only that one counts, even if another has the std.
    assert find_std(_target("aarch64-unknown-linux-gnu", toolchain="stable"), chains) is None
    assert find_std(_target(HOST, std="build-std"), chains) == StdSource(system, "build-std")


def test_find_std_unknown_toolchain(tmp_path: Path) -> None:
    from wavrybuild.errors import ConfigError

    chains = (RustToolchain("stable", _sysroot(tmp_path, HOST)),)
    with pytest.raises(ConfigError, match="no installed Rust toolchain 'beta'"):
        find_std(_target(HOST, toolchain="beta"), chains)


def test_profile_settings_become_cargo_config(project) -> None:
    t = _target(HOST, profile_settings=(("strip", "symbols"), ("lto", True), ("codegen-units", 1),
                                        ("opt-level", "z"), ("panic", "abort")))
    std = StdSource(RustToolchain("stable", Path("/nowhere")), "installed")
    argv = list(BUILDERS["cargo"].command(project, t, std, HOST).argv)
    configs = [argv[i + 1] for i, a in enumerate(argv) if a == "--config" and argv[i + 1].startswith("profile.")]
    assert configs == ['profile.release.strip="symbols"', "profile.release.lto=true",
                       "profile.release.codegen-units=1", 'profile.release.opt-level="z"',
                       'profile.release.panic="abort"']


def test_targets_differing_only_in_flags_share_one_invocation(project, tmp_path: Path, monkeypatch) -> None:
    from wavrybuild.build.plan import BuildStep, group_command, group_steps

    # The caller's RUSTFLAGS (a path with a space: it must stay one flag) go into every target's config.
    monkeypatch.setenv("CARGO_ENCODED_RUSTFLAGS", "-L\x1f/opt/my libs")
    chain = RustToolchain("system", _sysroot(tmp_path, src=True, vendor=True))
    std = StdSource(chain, "build-std")

    def step(t: TargetConfig, builder: str = "zigbuild", s: StdSource = std) -> BuildStep:
        return BuildStep(t, builder, BUILDERS[builder].command(project, t, s, HOST), std_mode=s.mode)

    musl = step(_target("x86_64-unknown-linux-musl"))
    mac = step(_target("aarch64-apple-darwin", rustflags=("-C", "opt-level=s")))
    win = step(_target("x86_64-pc-windows-gnu"), builder="cargo")
    host = step(_target(HOST))
    floor = step(_target(HOST, id="floor", glibc="2.17"))
    aarch64 = step(_target("aarch64-unknown-linux-gnu"), s=StdSource(chain, "installed"))
    groups = group_steps([musl, host, mac, floor, win, aarch64], HOST)
    ids = [[s.target.id for s in g] for g in groups]
    # Same builder, toolchain, std and shared flags: one invocation, whatever each target's own
    # rustflags; the host's own triple (with or without a glibc floor) stays apart, since beside
    # it the others' bytes would differ from a build of their own; another builder or std mode is
    # another invocation.
    assert ids == [["x86_64-unknown-linux-musl", "aarch64-apple-darwin"], [HOST], ["floor"],
                   ["x86_64-pc-windows-gnu"], ["aarch64-unknown-linux-gnu"]]
    cmd = group_command(groups[0])
    argv = list(cmd.argv)
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--target"] == [
        "x86_64-unknown-linux-musl", "aarch64-apple-darwin"]
    assert argv[-1] == "--keep-going" and argv.count("-Zbuild-std=std,panic_abort") == 1
    assert _rustflags(cmd, "x86_64-unknown-linux-musl")[:2] == ["-L", "/opt/my libs"]
    assert _rustflags(cmd, "x86_64-unknown-linux-musl")[-2:] == ["-C", "link-self-contained=no"]
    assert _rustflags(cmd, "aarch64-apple-darwin")[-4:] == ["-C", "opt-level=s", "-C", "link-arg=-Wl,-S"]
    assert "link-self-contained=no" not in _rustflags(cmd, "aarch64-apple-darwin")
    assert {"RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"} <= cmd.unset_env
    assert "env -u CARGO_ENCODED_RUSTFLAGS" in cmd.display()


def test_a_targets_build_dir_is_its_own_and_lanes_keep_one_dir_on_one_lane(project, tmp_path: Path) -> None:
    from wavrybuild.build.plan import BuildStep, assign_lanes, build_dir_name, build_dirs, group_command

    chain = RustToolchain("system", _sysroot(tmp_path, src=True, vendor=True))

    def group(triple: str, mode: str, builder: str = "zigbuild", **kw) -> list[BuildStep]:
        t, s = _target(triple, **kw), StdSource(chain, mode)
        name = build_dir_name(t, builder, s, HOST)
        cmd = BUILDERS[builder].command(replace(project, build_dir_name=name), t, s, HOST)
        return [BuildStep(t, builder, cmd, std_mode=mode, std=s, dir_name=name)]

    groups = [group(HOST, "installed", "cargo"), group("x86_64-unknown-linux-musl", "build-std"),
              group("aarch64-unknown-linux-gnu", "installed"), group("x86_64-pc-windows-gnu", "build-std", "cargo"),
              [BuildStep(_target("riscv64gc-unknown-linux-gnu"), "zigbuild", None, problem="no std")],
              group("aarch64-unknown-linux-musl", "build-std", features=("x",)), group(HOST, "installed", glibc="2.17")]
    names = [g[0].dir_name for g in groups]
    # Builder, std, toolchain and the host's triple name the dir; nothing about the other targets.
    assert names[:4] == ["cargo-installed-system-host", "zigbuild-build-std-system", "zigbuild-installed-system",
                         "cargo-build-std-system"]
    assert names[5] == names[1] and names[6] == "zigbuild-installed-system-host"
    assert build_dirs(groups) == ["cargo-installed-system-host", "zigbuild-build-std-system", "zigbuild-installed-system",
                                  "cargo-build-std-system", "zigbuild-installed-system-host"]
    # The two std-from-source dirs go to different lanes, the light ones fill the emptier lane, and
    # the groups of one dir share its lane (cargo locks a target dir for a whole build).
    assert assign_lanes(groups, 2) == [1, 0, 1, 1, 0, 0, 1]
    assert assign_lanes(groups, 1) == [0] * 7
    assert assign_lanes(groups, 3) == [2, 0, 2, 1, 0, 0, 2]
    argv = list(group_command(groups[3]).argv)
    build_dir = project.target_directory / "wavrybuild" / "cargo-build-std-system"
    assert argv[argv.index("--target-dir") + 1] == str(build_dir)
    # The build dir maps to /target as cargo's own would; cargo's own dir is not named at all.
    flags = _rustflags(group_command(groups[3]), "x86_64-pc-windows-gnu")
    assert f"--remap-path-prefix={build_dir}=/target" in flags
    assert f"--remap-path-prefix={project.target_directory}=/target" not in flags
    # A toolchain label is made a safe directory name.
    odd = StdSource(RustToolchain(None, tmp_path), "installed")
    assert build_dir_name(_target("aarch64-unknown-linux-gnu"), "zigbuild", odd, HOST) == "zigbuild-installed-rustc-on-PATH"
    hostile = StdSource(RustToolchain("../../etc\n/x", tmp_path), "installed")
    name = build_dir_name(_target("aarch64-unknown-linux-gnu"), "zigbuild", hostile, HOST)
    assert "/" not in name and "\n" not in name and (project.target_directory / "wavrybuild" / name).parent.name == "wavrybuild"


def test_compiled_units_counts_what_cargo_did_not_find_fresh(tmp_path: Path) -> None:
    import json

    from wavrybuild.build.plan import compiled_units

    d = tmp_path / "t"

    def msg(fresh: bool, *files: str) -> str:
        return json.dumps({"reason": "compiler-artifact", "fresh": fresh, "filenames": [str(d / f) for f in files]})

    out = "\n".join([
        msg(False, "release/build/dep-1/build-script-build"),  # a host unit: the invocation's
        msg(False, "aarch64-unknown-linux-gnu/release/deps/libdep-2.rlib"),
        msg(True, "aarch64-unknown-linux-gnu/release/deps/libother-3.rlib"),
        msg(False, "x86_64-unknown-linux-musl/release/deps/libdep-4.rlib"),
        json.dumps({"reason": "build-script-executed", "out_dir": str(d)}), "not json {", "{broken",
    ])
    group = ("aarch64-unknown-linux-gnu", "x86_64-unknown-linux-musl")
    assert compiled_units(out, d, ("aarch64-unknown-linux-gnu",), group) == 2
    assert compiled_units(out, d, ("x86_64-unknown-linux-musl",), group) == 2
    assert compiled_units(out, d, ("aarch64-unknown-linux-gnu",)) == 3  # alone, musl's would be counted too
    assert compiled_units("", d, ("aarch64-unknown-linux-gnu",)) == 0


def test_universal2_builds_both_slices_and_never_shares_their_dirs(project, tmp_path: Path) -> None:
    from wavrybuild.build.plan import BuildStep, group_steps

    chain = RustToolchain("system", _sysroot(tmp_path, src=True, vendor=True))
    std = StdSource(chain, "build-std")
    uni = _target("universal2-apple-darwin")
    cmd = BUILDERS["zigbuild"].command(project, uni, std, HOST)
    argv = list(cmd.argv)
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--target"] == ["x86_64-apple-darwin", "aarch64-apple-darwin"]
    assert _rustflags(cmd, "x86_64-apple-darwin") == _rustflags(cmd, "aarch64-apple-darwin")
    # A std is installed for universal2 only when both slices' are.
    assert not chain.has_std(uni.triple)
    both = RustToolchain("both", _sysroot(tmp_path / "b", "x86_64-apple-darwin", "aarch64-apple-darwin"))
    assert both.has_std(uni.triple) and find_std(uni, (both,)).mode == "installed"  # type: ignore[union-attr]

    def step(t: TargetConfig) -> BuildStep:
        return BuildStep(t, "zigbuild", BUILDERS["zigbuild"].command(project, t, std, HOST), std_mode="build-std")

    groups = group_steps([step(uni), step(_target("aarch64-apple-darwin")), step(_target("x86_64-unknown-linux-musl"))],
                         HOST)
    # aarch64-apple-darwin is one of universal2's slices: the same output dir, so another invocation.
    together = [{s.target.id for s in g} for g in groups]
    assert not any({"universal2-apple-darwin", "aarch64-apple-darwin"} <= g for g in together)
    assert sum(len(g) for g in together) == 3 and len(together) == 2
    # On a Mac, universal2 runs natively; on Linux it does not run.
    assert choose_runner(uni, "aarch64-apple-darwin").kind == "native"
    assert choose_runner(uni, HOST).kind == "none"


def test_msvc_is_valid_config_refused_only_where_it_cannot_build(tmp_path: Path) -> None:
    from tests.unit.test_pipeline import fake_metadata
    from wavrybuild.ci.matrix import matrix
    from wavrybuild.config import parse
    from wavrybuild.env import Settings
    from wavrybuild.toolchain.probe import Tools, target_status

    # LeanSpec's matrix: five cross-built targets and MSVC on a Windows runner.
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.0.0"\n')
    ids = ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu", "x86_64-unknown-linux-musl",
           "x86_64-apple-darwin", "aarch64-apple-darwin", "x86_64-pc-windows-msvc"]
    data: dict = {"targets": {t: {} for t in ids}}
    cfg = parse(tmp_path / "targets.toml", data, fake_metadata, Settings())
    jobs = {j["target"]: j["runs-on"] for j in matrix(cfg, "github")["include"]}  # type: ignore[index]
    assert jobs == {**{t: "ubuntu-latest" for t in ids[:5]}, "x86_64-pc-windows-msvc": "windows-latest"}
    msvc = cfg.targets[-1]
    assert choose_builder(msvc, "x86_64-pc-windows-msvc") == "cargo"
    tools = Tools(host=HOST, cargo="/usr/bin/cargo", zigbuild=None, zig=None)
    st = target_status(msvc, tools, chains=())
    assert not st.buildable and any("Windows runner" in p for p in st.problems)
    # An app a Developer ID signs: its Apple targets' jobs go to macOS; runs-on/tags/image override.
    data["desktop"] = {"bundle-id": "com.example.demo", "macos": {"identity": "Developer ID Application: A (T)"}}
    data["targets"]["x86_64-unknown-linux-gnu"] = {"runs-on": "self-hosted-big", "tags": ["big"], "image": "rust:1"}
    cfg = parse(tmp_path / "targets.toml", data, fake_metadata, Settings())
    jobs = {j["target"]: j["runs-on"] for j in matrix(cfg, "github")["include"]}  # type: ignore[index]
    assert jobs["aarch64-apple-darwin"] == jobs["x86_64-apple-darwin"] == "macos-latest"
    assert jobs["x86_64-unknown-linux-gnu"] == "self-hosted-big"
    child = matrix(cfg, "gitlab")
    assert child["part:x86_64-unknown-linux-gnu"]["tags"] == ["big"]  # type: ignore[index]
    assert child["part:x86_64-unknown-linux-gnu"]["image"] == "rust:1"  # type: ignore[index]
    assert child["part:aarch64-apple-darwin"]["tags"] == ["saas-macos-medium-m1"]  # type: ignore[index]
    assert "tags" not in child["part:aarch64-unknown-linux-gnu"]  # type: ignore[operator]
    win = child["part:x86_64-pc-windows-msvc"]  # type: ignore[index]
    assert win["tags"] == ["saas-windows-medium-amd64"] and "image" not in win
    assert all(line.startswith("python ") for line in win["script"])


def test_workspace_wrapper_chains_the_callers_own(project, monkeypatch) -> None:
    std = StdSource(RustToolchain("stable", Path("/nowhere")), "installed")
    t = _target(HOST)
    monkeypatch.delenv("RUSTC_WORKSPACE_WRAPPER", raising=False)
    ours = BUILDERS["cargo"].command(project, t, std, HOST).env
    assert "WAVRYBUILD_NEXT_WRAPPER" not in ours
    # A wrapper of the caller's own still runs (inside ours); ours is never chained to itself.
    monkeypatch.setenv("RUSTC_WORKSPACE_WRAPPER", "/opt/lint/wrapper")
    assert BUILDERS["cargo"].command(project, t, std, HOST).env["WAVRYBUILD_NEXT_WRAPPER"] == "/opt/lint/wrapper"
    monkeypatch.setenv("RUSTC_WORKSPACE_WRAPPER", ours["RUSTC_WORKSPACE_WRAPPER"])
    assert "WAVRYBUILD_NEXT_WRAPPER" not in BUILDERS["cargo"].command(project, t, std, HOST).env
    # The id changes with the checkout, so cargo never hands one checkout's crate to another.
    moved = replace(project, workspace_root=Path("/elsewhere/demo"))
    assert BUILDERS["cargo"].command(moved, t, std, HOST).env["WAVRYBUILD_CHECKOUT_ID"] != ours["WAVRYBUILD_CHECKOUT_ID"]


def test_echoed_command_with_a_multiline_value_stays_one_line_and_runs() -> None:
    remap = "--a=/x y\n--b=/z"
    cmd = Command(("sh", "-c", 'printf "%s|%s|%s" "$1" "$2" "$WAVRYBUILD_REMAP"', "_", "it's", "a\\b"),
                  {"WAVRYBUILD_REMAP": remap})
    line = cmd.display()
    assert "\n" not in line and line.startswith("WAVRYBUILD_REMAP=$'--a=/x y\\x0a--b=/z' ")
    out = subprocess.run(["bash", "-c", line], capture_output=True, text=True, check=True, env={})
    assert out.stdout == f"it's|a\\b|{remap}"


def test_a_macos_build_writes_no_debug_map_unless_told_to_keep_everything(project, tmp_path: Path) -> None:
    """A Mach-O's debug map names this machine's object files (C from `zig cc -g`): the link drops
    it (-Wl,-S) for every Apple target, universal2's slices too, unless targets.toml keeps all
    (strip = "none" or false); other platforms never get the flag."""
    from wavrybuild.build.builders import rustflags

    std = StdSource(RustToolchain("system", _sysroot(tmp_path, src=True, vendor=True)), "build-std")
    for triple in ("aarch64-apple-darwin", "x86_64-apple-darwin", "universal2-apple-darwin"):
        assert rustflags(project, _target(triple), std)[-2:] == ["-C", "link-arg=-Wl,-S"], triple
        for keep in ("none", False):
            flags = rustflags(project, _target(triple, profile_settings=(("strip", keep),)), std)
            assert "link-arg=-Wl,-S" not in flags, (triple, keep)
        kept = rustflags(project, _target(triple, profile_settings=(("strip", "symbols"),)), std)
        assert kept[-2:] == ["-C", "link-arg=-Wl,-S"]
    for triple in ("x86_64-unknown-linux-musl", "x86_64-pc-windows-gnu", "aarch64-unknown-linux-gnu"):
        assert "link-arg=-Wl,-S" not in rustflags(project, _target(triple), std), triple
