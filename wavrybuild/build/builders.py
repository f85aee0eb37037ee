"""Builders: strategy objects that only construct the command (argv + env) for one target."""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Protocol

from .. import cargo as cargo_
from .. import env as env_
from .. import proc
from ..config import Project, TargetConfig
from ..fsutil import write_atomic
from ..proc import Command
from ..toolchain import winapi
from ..toolchain.probe import StdSource, linker_for
from . import sources

VENDOR_SOURCE = "wavrybuild-std-vendor"


class Builder(Protocol):
    name: str

    def command(self, project: Project, target: TargetConfig, std: StdSource, host: str) -> Command: ...


def _cargo_args(project: Project, target: TargetConfig, std: StdSource) -> list[str]:
    # universal2: both Apple slices in one invocation; plan.py joins them.
    args = [a for name in target.rust_targets for a in ("--target", name)]
    args += [
        "--manifest-path", str(project.manifest_path),
        "--message-format", "json-render-diagnostics",
        "--profile", target.profile,
    ]
    # Every released package in one invocation: dependencies they share compile once per target.
    for p in project.packages or ():
        args += ["--package", p.name]
    if not project.packages:
        args += ["--package", project.package]
    for b in project.binaries:
        args += ["--bin", b]
    if target.features:
        args += ["--features", ",".join(target.features)]
    if target.no_default_features:
        args.append("--no-default-features")
    if target.all_features:
        args.append("--all-features")
    for key, value in target.profile_settings:
        # TOML literals: true/false, numbers, and strings as JSON (a subset of TOML basic strings).
        literal = str(value).lower() if isinstance(value, bool) else (str(value) if isinstance(value, int) else json.dumps(value))
        args += ["--config", f"profile.{target.profile}.{key}={literal}"]
    if project.sccache or project.build_dir_name:
        # As an argument, not CARGO_TARGET_DIR: sccache puts every CARGO_* variable rustc sees into
        # its cache key, and the target dir differs between clones. A target's own dir inside it is
        # an argument too: it wins over CARGO_TARGET_DIR and cargo config.
        args += ["--target-dir", str(project.build_dir)]
    if (project.workspace_root / "Cargo.lock").exists():
        # A release builds exactly the committed dependency set.
        args.append("--locked")
    if std.mode == "build-std":
        args.append("-Zbuild-std=std,panic_abort")
        vendor = std.toolchain.vendored_src
        if vendor:
            # std's dependencies from the vendored copy next to rust-src: no registry needed. A
            # crate whose own dependencies come from a directory source (cargo vendor, a
            # distribution's registry) gets one source holding both: cargo takes one replacement.
            own = cargo_.crates_io_directory(project.manifest_path.parent)
            directory = sources.merged_directory(vendor, own) if own else vendor
            args += [
                "--config", f'source.crates-io.replace-with="{VENDOR_SOURCE}"',
                "--config", f'source.{VENDOR_SOURCE}.directory="{directory}"',
            ]
    return args


def remap_flags(project: Project, std: StdSource, *, checkout: bool | None = None,
                workspace: bool = False) -> list[str]:
    """--remap-path-prefix for every machine-specific directory that can reach the binary
    (panic locations, debug info): the same commit gives the same bytes in any checkout.

    checkout=True: only the pairs naming this checkout (workspace, target dir); False: only the
    others (cargo home, Rust's source), which are the same in every clone on a machine.
    workspace=True: only the workspace's own pair."""
    cargo_home = env_.cargo_home()
    pairs = [
        (cargo_home, "/cargo"),
        # Every build dir maps to the same /target: where a target was built leaves no trace.
        (project.build_dir, "/target"),
        (project.workspace_root, f"/build/{project.package}"),
    ]
    if std.mode == "build-std" and std.toolchain.rust_src:
        pairs.append((std.toolchain.rust_src.parent.parent, "/rustc/src"))  # .../lib/rustlib/src/rust
    if checkout is not None:
        local = {project.build_dir, project.workspace_root}
        pairs = [p for p in pairs if (p[0] in local) == checkout]
    if workspace:
        pairs = [p for p in pairs if p[0] == project.workspace_root]
    # rustc uses the last matching prefix: list outer directories first.
    pairs.sort(key=lambda p: len(str(p[0])))
    return [f"--remap-path-prefix={src}={dst}" for src, dst in pairs]


def _unset(project: Project) -> frozenset[str]:
    return frozenset({"CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR"}) if project.sccache else frozenset()


def _shim(name: str) -> Path:
    """One of our rustc shims (resources/), kept as an executable under the cache home."""
    return _shim_in(env_.cache_home(), name)


@functools.cache
def _shim_in(home: Path, name: str) -> Path:
    # Once per process and cache home: every build command of a run names the same shim.
    shim = home / "wavrybuild" / name
    text = resources.files("wavrybuild").joinpath(f"resources/{name}").read_text()
    if not shim.is_file() or shim.read_text() != text:
        shim.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(shim, text, mode=0o755)
    return shim


def workspace_env(project: Project, std: StdSource) -> dict[str, str]:
    """The workspace's own crates get the remap naming the checkout through RUSTC_WORKSPACE_WRAPPER
    (resources/rustc-workspace.sh), not through target.<triple>.rustflags: flags there reach std
    (-Zbuild-std) and registry crates too, and a checkout at another path would compile those again
    although nothing in them names it. cargo does not see a wrapper's flags, so the shim records
    WAVRYBUILD_CHECKOUT_ID (a digest of every remap) in the crate's dep-info as a variable it
    depends on: another checkout sharing the target dir is recompiled, never handed this one's
    artifact."""
    flags = "\n".join(remap_flags(project, std))
    env = {"RUSTC_WORKSPACE_WRAPPER": str(_shim("rustc-workspace.sh")), "WAVRYBUILD_REMAP": flags,
           "WAVRYBUILD_CHECKOUT_ID": hashlib.sha256(flags.encode()).hexdigest()[:32]}
    caller = env_.var("RUSTC_WORKSPACE_WRAPPER")
    if caller and caller != env["RUSTC_WORKSPACE_WRAPPER"]:
        env["WAVRYBUILD_NEXT_WRAPPER"] = caller
    return env


def sccache_env(project: Project, std: StdSource) -> dict[str, str]:
    """sccache as rustc's wrapper (with the shared Redis cache when one is configured).

    The flags naming this checkout are added by a small rustc shim *behind* sccache, so they are
    not part of its cache key (a second clone hits) nor of cargo's -C metadata (symbol names, and so
    the binaries, stay the same in every clone)."""

    env = {"RUSTC_WRAPPER": proc.which("sccache") or "sccache", "CARGO_INCREMENTAL": "0",
           "RUSTC": str(_shim("rustc-remap.sh")),
           "WAVRYBUILD_REMAP": "\n".join(remap_flags(project, std, checkout=True))}
    if project.sccache and project.sccache != "local":
        env["SCCACHE_REDIS_ENDPOINT"] = project.sccache
    return env


INHERITED_FLAGS = ("CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS")


def rustflags(project: Project, target: TargetConfig, std: StdSource) -> list[str]:
    """This target's rustc flags: the caller's RUSTFLAGS, remaps, targets.toml's, and the ones a
    target needs for a reproducible link."""
    encoded = env_.var("CARGO_ENCODED_RUSTFLAGS")
    inherited = encoded.split("\x1f") if encoded else (env_.var("RUSTFLAGS") or "").split()
    # Flags naming the checkout would put its path into every sccache key, and a second clone would
    # never hit: with the cache they are added behind sccache (sccache_env), the rest here. Without
    # it the workspace's remap goes to the workspace's crates alone (workspace_env).
    flags = (remap_flags(project, std, checkout=False) if project.sccache else
             [f for f in remap_flags(project, std) if f not in remap_flags(project, std, workspace=True)])
    flags += list(target.rustflags)
    if target.triple.is_windows and target.triple.env == "gnu":
        # GNU ld stamps the link time into the PE header and keeps a COFF symbol table naming rustc's
        # temporary object files: both differ per build, so neither goes into a release binary.
        flags += ["-C", "link-arg=-Wl,--no-insert-timestamp", "-C", "strip=symbols"]
    elif target.triple.is_windows and target.triple.env == "gnullvm":
        # zig links these with lld, which stamps the link time too; zig's cc refuses GNU ld's flag and
        # takes lld's /Brepro (a timestamp derived from the output's hash) instead.
        flags += ["-C", "link-arg=-Wl,-Brepro", "-C", "strip=symbols"]
    elif target.triple.os == "macos" and drops_debug_map(target):
        # A Mach-O's debug map (stabs naming each object file that has debug info, by its path on
        # this machine, and the directory it was compiled in) is not removed by rustc's strip: C
        # compiled through cargo-zigbuild's `zig cc -g` (the cc crate) puts one in every build. The
        # linker's -S (zig's and Apple's ld64 both take it) writes none.
        flags += ["-C", "link-arg=-Wl,-S"]
    if std.mode == "build-std" and target.triple.is_musl:
        # A std built from source has no self-contained musl crt objects; the linker's own are used.
        flags += ["-C", "link-self-contained=no"]
    return [f for f in inherited if f] + flags


def drops_debug_map(target: TargetConfig) -> bool:
    """Whether a macOS build drops its debug map (-Wl,-S): unless targets.toml keeps everything
    (`strip = "none"` or false), as a release build has no debug info of its own to map."""
    return dict(target.profile_settings).get("strip") not in ("none", False)


def rustflags_config(target: TargetConfig, flags: list[str]) -> list[str]:
    """The flags as `--config target.<triple>.rustflags`, not RUSTFLAGS: they then apply to this
    target only, so targets that differ only in flags can share one cargo invocation (build
    scripts and proc-macros compiled once, one jobserver for all). A TOML array needs no
    splitting on spaces, so paths with spaces are safe."""
    return [a for name in target.triple.slices
            for a in ("--config", f'target."{name}".rustflags={json.dumps(flags)}')]


def _env(project: Project, target: TargetConfig, std: StdSource) -> dict[str, str]:
    env = dict(std.toolchain.env)
    env.update(sccache_env(project, std) if project.sccache else workspace_env(project, std))
    if std.mode == "build-std":
        env["RUSTC_BOOTSTRAP"] = "1"  # -Z flags on a stable toolchain
    # In the command's env, so the cache key sees it; targets.toml's env still wins.
    env.update(winapi.build_env(target, project.manifest_path.parent, project.workspace_root))
    env.update(dict(target.env))
    return env


def _command(program: tuple[str, ...], project: Project, target: TargetConfig, std: StdSource,
             env: dict[str, str]) -> Command:
    argv = (*program, *_cargo_args(project, target, std), *rustflags_config(target, rustflags(project, target, std)))
    # RUSTFLAGS in the environment would override every target.<triple>.rustflags: the caller's
    # flags are folded into ours (see rustflags) and the variables cleared for cargo. Credentials
    # need no mention: no child inherits them (env.SecretPolicy); target.env's are given on purpose.
    return Command(argv, env, cwd=Path(project.root), secret_env=target.secret_env,
                   unset_env=_unset(project) | frozenset(INHERITED_FLAGS))


class CargoBuilder:
    """Plain `cargo build`: the host, or cross targets with a cross linker (mingw for windows-gnu)."""

    name = "cargo"

    def command(self, project: Project, target: TargetConfig, std: StdSource, host: str) -> Command:
        env = _env(project, target, std)
        _, program, _ = linker_for(target, self.name, host)
        if str(target.triple) != host and program and program != "cc":
            env.setdefault(f"CARGO_TARGET_{target.triple.cargo_env_key}_LINKER", program)
        return _command(("cargo", "build"), project, target, std, env)


class ZigBuilder:
    """cargo-zigbuild: zig as the linker, glibc floors, macOS from Linux."""

    name = "zigbuild"

    def command(self, project: Project, target: TargetConfig, std: StdSource, host: str) -> Command:
        # Called directly (not as `cargo zigbuild`) so it need not be on cargo's PATH lookup.
        return _command(("cargo-zigbuild", "zigbuild"), project, target, std, _env(project, target, std))


BUILDERS: dict[str, Builder] = {"cargo": CargoBuilder(), "zigbuild": ZigBuilder()}
