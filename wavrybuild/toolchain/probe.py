"""What this machine can build, and how to get what is missing.

Discovery is read-only and cheap (one `rustup toolchain list -v`, file checks). For each target it
decides: which Rust toolchain, where std comes from (installed or -Zbuild-std from rust-src), which
builder, which linker and which runner. `install_plan` turns what is missing into commands:
`rustup target add` where rustup's server answers, else Debian multiarch std packages or rust-src
for build-std.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import env as env_
from .. import proc
from ..config import Config, Project, TargetConfig
from ..errors import ConfigError
from ..rustc import RustcVersion, pinned_release, rustup_toolchains, version_of
from ..triple import Triple, host_triple, platforms
from . import pins, winapi
from .pins import Pin
from .versions import Chosen, lacking_std, pin_mismatch
from .winapi import ImportLibraries

SYSTEM_TOOLCHAIN = "system"  # the name `invoke toolchain --install` links /usr under


@dataclass(frozen=True)
class RustToolchain:
    """An installed Rust toolchain: a rustup name (None: plain rustc on PATH) and its sysroot."""

    name: str | None
    sysroot: Path
    default: bool = False
    # Its `rustc -vV`, when the caller already knows it (tests describing a machine); else probed.
    probed: RustcVersion | None = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        if not self.name:
            return "rustc on PATH"
        # "stable-x86_64-unknown-linux-gnu" -> "stable": the host part says nothing here.
        return re.sub(r"-(x86_64|aarch64|i686|arm\w*|powerpc64le|s390x|riscv64\w*)-.*$", "", self.name)

    @property
    def env(self) -> dict[str, str]:
        # RUSTUP_TOOLCHAIN reaches every cargo/rustc proxy, including the cargo that
        # cargo-zigbuild spawns; `+name` would only reach the first.
        return {"RUSTUP_TOOLCHAIN": self.name} if self.name else {}

    def has_std(self, triple: Triple | str) -> bool:
        names = triple.slices if isinstance(triple, Triple) else (triple,)
        libs = [self.sysroot / "lib" / "rustlib" / name / "lib" for name in names]
        return all(lib.is_dir() and any(lib.glob("libstd-*.rlib")) for lib in libs)

    @property
    def rust_src(self) -> Path | None:
        lib = self.sysroot / "lib" / "rustlib" / "src" / "rust" / "library"
        return lib if (lib / "std").is_dir() else None

    @property
    def vendored_src(self) -> Path | None:
        """std's own dependencies vendored next to rust-src (Debian ships this): build-std offline."""
        src = self.rust_src
        return src / "vendor" if src and (src / "vendor").is_dir() else None

    def own_tool(self, name: str, host: str) -> Path | None:
        """A tool the toolchain ships for rustc itself (rustup's carry rust-objcopy, rust-lld)."""
        path = self.sysroot / "lib" / "rustlib" / host / "bin" / name
        return path if path.is_file() else None

    @functools.cached_property
    def rustc_info(self) -> RustcVersion:
        """Release and commit (`rustc -vV`), cached by the compiler binary: a no-op build starts no rustc."""
        return self.probed if self.probed is not None else version_of(self.sysroot, self.env)

    @property
    def version(self) -> str:
        """Its `rustc -V` line (the first of `-vV`)."""
        return self.rustc_info.line


@functools.cache
def toolchains() -> tuple[RustToolchain, ...]:
    """Installed toolchains, the default first."""
    found = [RustToolchain(t.name, t.sysroot, default=t.default) for t in rustup_toolchains()]
    if not found:
        sysroot = proc.capture(["rustc", "--print", "sysroot"])
        if sysroot:
            found.append(RustToolchain(None, Path(sysroot.strip()), default=True))
    return tuple(sorted(found, key=lambda t: not t.default))


def unlinked_system_sysroot() -> Path | None:
    """A distribution Rust in /usr that rustup does not know yet (link it to use it)."""
    if not Path("/usr/bin/rustc").exists() or proc.which("rustup") is None:
        return None
    if any(t.sysroot == Path("/usr") for t in toolchains()):
        return None
    return Path("/usr")


def pin_matches(chain: RustToolchain, pin: Pin) -> bool:
    if chain.name == pin.name or (chain.name or "").startswith(pin.name + "-"):
        return True
    # A version pin (channel = "1.96.0") is kept by any toolchain of that release, whatever rustup
    # calls it: the distribution's Rust linked as `system` is 1.96.0 too.
    release = pinned_release(pin.name)
    return release is not None and chain.rustc_info.is_release(release)


def pinned_chains(chains: tuple[RustToolchain, ...], pin: Pin) -> tuple[RustToolchain, ...]:
    """The toolchains a pin allows: the one it names, or for a version pin every one of that
    release (so the host can take the one toolchain that also has the foreign std)."""
    matching = tuple(c for c in chains if pin_matches(c, pin))
    return matching if pinned_release(pin.name) else matching[:1]


def pin_release(pin: Pin | None, chains: tuple[RustToolchain, ...]) -> str | None:
    """The release every target must be built by under this pin: the version it names, or the
    release of the toolchain it names; None without a pin, or when that toolchain is not installed."""
    if pin is None:
        return None
    release = pinned_release(pin.name)
    if release:
        return release
    named = pinned_chains(chains, pin)
    return named[0].rustc_info.release if named else None


@dataclass(frozen=True)
class StdSource:
    toolchain: RustToolchain
    mode: str  # "installed" | "build-std"


def find_std(target: TargetConfig, chains: tuple[RustToolchain, ...] | None = None,
             pin: Pin | None = None) -> StdSource | None:
    """Which toolchain gives this target a std, and how. None: nothing installed can.

    targets.toml's `toolchain` wins; else the crate's pin (rust-toolchain.toml, rustup override) is
    the only candidate; else any installed toolchain, the default first."""
    chains = toolchains() if chains is None else chains
    if pin is not None and not target.toolchain:
        chains = pinned_chains(chains, pin)
    if target.toolchain:
        named = [t for t in chains if t.name == target.toolchain or (t.name or "").startswith(target.toolchain + "-")]
        if not named:
            raise ConfigError(
                f"targets.{target.id}.toolchain: no installed Rust toolchain {target.toolchain!r}",
                hint="installed: " + (", ".join(t.label for t in chains) or "none")
                + f"; `rustup toolchain install {target.toolchain}` or `invoke toolchain --install`",
            )
        chains = tuple(named[:1])
    if target.std in ("auto", "installed"):
        for chain in chains:
            if chain.has_std(target.triple):
                return StdSource(chain, "installed")
    if target.std in ("auto", "build-std"):
        # Prefer a rust-src that carries std's vendored dependencies: it needs no network.
        with_src = sorted((c for c in chains if c.rust_src), key=lambda c: c.vendored_src is None)
        if with_src:
            return StdSource(with_src[0], "build-std")
    return None


def choose_builder(target: TargetConfig, host: str) -> str:
    if target.builder != "auto":
        return target.builder
    if target.triple.is_windows and target.triple.env != "gnullvm":
        # zig's mingw link misses libssp_nonshared for Rust's std; the mingw gcc links it. MSVC
        # targets build with cargo on Windows, where the SDK is. The LLVM-flavoured mingw targets
        # (aarch64-pc-windows-gnullvm: Windows on ARM64) have no gcc: zig links them (lld, its mingw-w64).
        return "cargo"
    if str(target.triple) == host and not target.glibc:
        return "cargo"
    return "zigbuild"


def linker_for(target: TargetConfig, builder: str, host: str) -> tuple[str, str | None, str | None]:
    """(description, program to check on PATH, Debian package providing it)."""
    if builder == "zigbuild":
        return "zig (cargo-zigbuild)", None, None
    if str(target.triple) == host:
        return "cc", "cc", "gcc"
    entry = platforms()["linker"].get(str(target.triple))
    if entry:
        return entry["program"], entry["program"], entry.get("debian")
    return "cc (rustc default)", "cc", "gcc"


@dataclass(frozen=True)
class Runner:
    kind: str  # native | qemu | none
    argv: tuple[str, ...] = ()  # prefix before the binary
    reason: str = ""  # why `none`, or what is missing
    available: bool = True


def choose_runner(target: TargetConfig, host: str) -> Runner:
    triple = target.triple
    host_t = Triple(host)
    kind = target.runner
    same_arch = triple.arch == host_t.arch or (host_t.arch == "x86_64" and triple.arch in ("i686", "i586"))
    if kind == "auto":
        # A universal2 binary runs natively on either Mac.
        if triple.os == host_t.os and (same_arch or triple.is_universal):
            kind = "native"
        elif triple.os == "linux" and host_t.os == "linux" and triple.qemu_arch:
            kind = "qemu"
        else:
            why = {
                "macos": "macOS binaries cannot run on Linux",
                "windows": "Windows binaries need Windows (wine cannot load Rust's std here)",
            }.get(triple.os, f"no runner for {triple} on {host}")
            return Runner("none", reason=why, available=False)
    if kind == "none":
        return Runner("none", reason="runner = \"none\" in targets.toml", available=False)
    if kind == "native":
        return Runner("native")
    qarch = triple.qemu_arch or triple.arch
    for name in (f"qemu-{qarch}", f"qemu-{qarch}-static"):
        path = proc.which(name)
        if path:
            argv: tuple[str, ...] = (name,)
            # qemu looks up paths under -L first and falls back to /, so a cross sysroot (from a
            # cross gcc package) and multiarch libraries in / both work.
            prefix = Path("/usr") / (triple.gnu_prefix or "")
            if triple.gnu_prefix and prefix.is_dir():
                argv += ("-L", str(prefix))
            return Runner("qemu", argv)
    return Runner("qemu", (f"qemu-{qarch}",), reason=f"qemu-{qarch} not installed (apt-get install qemu-user)",
                  available=False)


@dataclass(frozen=True)
class TargetStatus:
    """Everything `doctor` says about one target; also what the build plan needs."""

    target: TargetConfig
    builder: str
    std: StdSource | None
    linker: str
    linker_ok: bool
    runner: Runner
    problems: tuple[str, ...] = field(default_factory=tuple)  # each stops the build
    missing: tuple[str, ...] = field(default_factory=tuple)  # the build works, a later stage will not
    import_libraries: ImportLibraries | None = None  # winapi without its bundled libraries (winapi.py)
    pin_problem: str | None = None  # why the crate's toolchain pin cannot be kept (also in problems): stops a build

    @property
    def notes(self) -> tuple[str, ...]:
        """How the build adapts to this machine (said by doctor and in the build output)."""
        note = self.import_libraries.note if self.import_libraries else None
        return (note,) if note else ()

    @property
    def buildable(self) -> bool:
        return not self.problems

    @property
    def ready(self) -> bool:
        """Nothing missing at all: what `doctor` exits 0 for."""
        return not self.problems and not self.missing

    def as_json(self) -> dict[str, Any]:
        return {
            "target": self.target.id,
            "triple": self.target.rust_target,
            "builder": self.builder,
            "toolchain": self.std.toolchain.label if self.std else None,
            "rustc": self.std.toolchain.version if self.std else None,
            "std": self.std.mode if self.std else "missing",
            "linker": self.linker,
            "linker_ok": self.linker_ok,
            "runner": self.runner.kind,
            "runner_available": self.runner.available,
            "runner_note": self.runner.reason,
            "buildable": self.buildable,
            "problems": list(self.problems),
            "missing": list(self.missing),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Tools:
    """Machine-wide tools (probed once)."""

    cargo: str | None
    zig: str | None
    zigbuild: str | None
    host: str

    def as_json(self) -> dict[str, Any]:
        return {"host": self.host, "cargo": self.cargo, "zig": self.zig, "cargo-zigbuild": self.zigbuild}


def _first_line(out: str | None) -> str | None:
    return out.strip().splitlines()[0] if out and out.strip() else None


def _ziglang_binary() -> str | None:
    spec = importlib.util.find_spec("ziglang")
    if spec is None or not spec.origin:
        return None
    zig = Path(spec.origin).parent / "zig"
    return str(zig) if zig.exists() else None


def probe_tools(need_zig: bool = True, toolchain: str | None = None) -> Tools:
    zig = zigbuild = None
    if need_zig:
        zig_bin = _ziglang_binary()
        zig_out = (proc.capture_cached([sys.executable, "-m", "ziglang", "version"], [zig_bin, sys.executable])
                   if zig_bin else proc.capture(["zig", "version"]))
        zig = _first_line(zig_out)
        zigbuild = _first_line(proc.capture_cached(["cargo-zigbuild", "--version"], [proc.which("cargo-zigbuild")]))
    return Tools(
        cargo=_first_line(proc.capture_cached(["cargo", *([f"+{toolchain}"] if toolchain else []), "--version"],
                                              [proc.which("cargo"), _rustup_settings()])),
        zig=zig,
        zigbuild=zigbuild,
        host=host_triple(),
    )


def _rustup_settings() -> str | None:
    """The file that names rustup's default toolchain: `cargo --version` changes with it.
    (None when there is no rustup: then cargo is probed every time.)"""
    home = str(env_.rustup_home())
    path = os.path.join(home, "settings.toml")
    return path if os.path.exists(path) and env_.var("RUSTUP_TOOLCHAIN") is None else None


def llvm_objcopy() -> str | None:
    """An LLVM objcopy (Debian's `llvm` package, or a versioned llvm-N): what rust-objcopy is."""
    found = proc.which("llvm-objcopy")
    if found:
        return found
    versioned = sorted(Path("/usr/lib").glob("llvm-*/bin/llvm-objcopy"),
                       key=lambda p: int(re.sub(r"\D", "", p.parent.parent.name) or 0), reverse=True)
    return str(versioned[0]) if versioned else None


def objcopy_for(chain: RustToolchain, host: str) -> str | None:
    """The `rust-objcopy` rustc runs to strip Apple binaries: its toolchain's own (rustup's carry
    one), one on PATH, or an LLVM objcopy that the build puts on PATH under that name."""
    own = chain.own_tool("rust-objcopy", host)
    return str(own) if own else proc.which("rust-objcopy") or llvm_objcopy()


def ensure_objcopy_shim(chain: RustToolchain, host: str) -> None:
    """Give rustc a `rust-objcopy` when its toolchain has none (a distribution's Rust): a link to
    LLVM's objcopy in wavrybuild's shim dir, which proc puts at the end of every child's PATH."""
    if chain.own_tool("rust-objcopy", host):
        return
    shim = proc.shim_dir() / "rust-objcopy"
    found = proc.which("rust-objcopy")
    if found and Path(found) != shim:
        return
    llvm = llvm_objcopy()
    if llvm is None:
        return
    if shim.is_symlink() and os.readlink(shim) == llvm:
        return
    shim.parent.mkdir(parents=True, exist_ok=True)
    tmp = shim.with_name(f".rust-objcopy.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(llvm)
    tmp.replace(shim)


INSTALL_ALL = "invoke toolchain --install"


def _fix(command: str | None) -> str:
    return f"`{command}`" if command else f"`{INSTALL_ALL}`"


def _std_problem(target: TargetConfig, pin: Pin | None, rustup: bool) -> str:
    triple = str(target.triple)
    if pin is not None and not target.toolchain:
        if not pin.installed:
            return (f"the crate pins toolchain {pin.name} ({pin.source}), which is not installed: "
                    f"`rustup toolchain install {pin.name}`")
        return (f"the pinned toolchain {pin.name} ({pin.source}) has no std for {triple}: "
                f"`rustup target add {triple} --toolchain {pin.name}` (or `rustup component add rust-src "
                f"--toolchain {pin.name}` to build it from source)")
    unlinked = unlinked_system_sysroot()
    if unlinked and (unlinked / "lib" / "rustlib" / triple).is_dir():
        return (f"the std for {triple} is in {unlinked} but rustup does not know that toolchain: "
                f"`rustup toolchain link {SYSTEM_TOOLCHAIN} {unlinked}`")
    if rustup and target.std != "build-std":
        return f"no std for {triple}: `rustup target add {triple}` (offline: {_fix(None)})"
    return f"no std for {triple}: {_fix(None)}"


def _import_libraries(target: TargetConfig, project: Project | None, mingw: str | None) -> ImportLibraries | None:
    """winapi's import libraries for a windows-gnu target. `mingw`: the gcc to ask for mingw's own
    (None with zig, or when the linker is missing: installing it brings them)."""
    if project is None:
        return None
    return winapi.import_libraries(target, project.manifest_path.parent, project.workspace_root, mingw)


def _std_status(target: TargetConfig, tools: Tools, chains: tuple[RustToolchain, ...],
                pin: Pin | None) -> tuple[StdSource | None, str | None, str | None]:
    """(the target's std source, why it breaks the crate's pin, its std problem: the pin's or another)."""
    rustup = proc.which("rustup") is not None
    release = pin_release(pin, chains)
    if pin is not None and not pin.installed and not target.toolchain and release is None:
        return None, None, _std_problem(target, pin, rustup)  # rustup's cargo cannot run either
    if not tools.cargo:
        return None, None, f"cargo (Rust) not installed: {_fix(None)}"
    std = find_std(target, chains, pin)
    if pin is None or release is None:
        return std, None, None if std else _std_problem(target, pin, rustup)
    if std is None and not target.toolchain and not pinned_release(pin.name):
        named = _std_problem(target, pin, rustup)  # the named toolchain lacks it: rustup can add it there
        return None, named, named
    if std is None and not target.toolchain:
        have = [c.label for c in chains if c.rustc_info.is_release(release)]
        why = lacking_std(target.id, str(target.triple), release, pin.source, have,
                          _others_with_std(target, chains, release))
        return None, why, why
    if std is None:
        return None, None, _std_problem(target, pin, rustup)
    broken = pin_mismatch(Chosen(target.id, std.toolchain.label, std.toolchain.rustc_info), release, pin.source)
    return std, broken, broken


def target_status(target: TargetConfig, tools: Tools, chains: tuple[RustToolchain, ...] | None = None,
                  pin: Pin | None = None, project: Project | None = None) -> TargetStatus:
    """What `doctor` says of one target: every missing piece, each with the command that fixes it.
    With `project`, also what its dependencies need of this machine (winapi's import libraries)."""
    builder = choose_builder(target, tools.host)
    std, pin_problem, problem = _std_status(target, tools, toolchains() if chains is None else chains, pin)
    problems = [problem] if problem else []
    if target.triple.env == "msvc" and Triple(tools.host).os != "windows":
        problems.append(f"{target.triple} needs the Windows SDK (MSVC), which this machine does not have: build it on a "
                        f"Windows runner (`invoke plan` puts it on {target.triple.windows_runner})"
                        + (", or build aarch64-pc-windows-gnullvm here (zig links it)" if target.triple.arch == "aarch64"
                           else ", or with cargo-xwin where it can download the SDK"))
    linker, program, pkg = linker_for(target, builder, tools.host)
    linker_ok = program is None or proc.which(program) is not None
    if not linker_ok:
        problems.append(f"linker {program} not found: {_fix(f'apt-get install {pkg}' if pkg else None)}")
    if builder == "zigbuild":
        if not tools.zigbuild:
            problems.append("cargo-zigbuild not found: `pip install cargo-zigbuild`")
        if not tools.zig:
            problems.append("zig not found: `pip install ziglang`")
    if target.triple.os == "macos" and std is not None and objcopy_for(std.toolchain, tools.host) is None:
        problems.append(f"rust-objcopy not found (rustc strips Apple binaries with it; {std.toolchain.label} has "
                        "none): `apt-get install llvm`")
    imports = _import_libraries(target, project, program if builder == "cargo" and linker_ok else None)
    if imports is not None and imports.problem:
        problems.append(imports.problem)
    runner = choose_runner(target, tools.host)
    missing = []
    if runner.kind == "qemu" and not runner.available:
        missing.append(f"{runner.argv[0]} not found (smoke runs need it): `apt-get install qemu-user`")
    return TargetStatus(
        target=target,
        builder=builder,
        std=std,
        linker=linker,
        linker_ok=linker_ok,
        runner=runner,
        problems=tuple(problems),
        missing=tuple(missing),
        import_libraries=imports,
        pin_problem=pin_problem,
    )


def _others_with_std(target: TargetConfig, chains: tuple[RustToolchain, ...], release: str) -> list[Chosen]:
    """Toolchains of another release that would build the target: what a pin's message suggests."""
    unpinned = replace(target, toolchain=None)
    found = []
    for chain in chains:
        if not chain.rustc_info.is_release(release) and find_std(unpinned, (chain,)) is not None:
            found.append(Chosen(target.id, chain.label, chain.rustc_info))
    return found


def statuses(config: Config, targets: tuple[TargetConfig, ...]) -> tuple[Tools, list[TargetStatus]]:
    """The machine's tools (zig only probed when a target needs it) and every target's status."""
    host = host_triple()
    need_zig = any(choose_builder(t, host) == "zigbuild" for t in targets)
    pin = pins.config_pin(config.project) or pins.active_pin(config.project.manifest_path.parent)
    # A version pin rustup has no toolchain of that name for: cargo itself is asked through one
    # that is that release (rustup would refuse, or try to download the pinned one).
    via = None
    if pin is not None and not pin.installed and pinned_release(pin.name):
        via = next((c.name for c in pinned_chains(toolchains(), pin) if c.name), None)
    tools = probe_tools(need_zig=need_zig, toolchain=via)
    return tools, [target_status(t, tools, pin=pin, project=config.project) for t in targets]
