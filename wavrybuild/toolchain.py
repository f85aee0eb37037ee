"""What this machine can build, and how to get what is missing.

Discovery is read-only and cheap (one `rustup toolchain list -v`, file checks). For each target it
decides: which Rust toolchain, where std comes from (installed or -Zbuild-std from rust-src), which
builder, which linker and which runner. `install_plan` turns what is missing into commands:
`rustup target add` where rustup's server answers, else Debian multiarch std packages or rust-src
for build-std.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import env as env_
from . import proc
from .config import Config, TargetConfig
from .errors import ConfigError
from .triple import Triple, host_triple, platforms

SYSTEM_TOOLCHAIN = "system"  # the name `invoke toolchain --install` links /usr under


@dataclass(frozen=True)
class RustToolchain:
    """An installed Rust toolchain: a rustup name (None: plain rustc on PATH) and its sysroot."""

    name: str | None
    sysroot: Path
    default: bool = False

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
        lib = self.sysroot / "lib" / "rustlib" / str(triple) / "lib"
        return lib.is_dir() and any(lib.glob("libstd-*.rlib"))

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
    def version(self) -> str:
        rustc = self.sysroot / "bin" / "rustc"
        out = proc.capture_cached([str(rustc), "-V"], [str(rustc)]) if rustc.exists() else None
        if out is None:
            out = proc.capture(["rustc", "-V"], env=self.env)
        return out.strip() if out else "unknown"


@functools.cache
def toolchains() -> tuple[RustToolchain, ...]:
    """Installed toolchains, the default first."""
    out = proc.capture(["rustup", "toolchain", "list", "-v"])
    found: list[RustToolchain] = []
    if out is not None:
        for line in out.splitlines():
            m = re.match(r"^(\S+)\s*(\(([^)]*)\))?\s*(\S+)?\s*$", line.strip())
            if not m or not m.group(4):
                continue
            flags = m.group(3) or ""
            found.append(RustToolchain(m.group(1), Path(m.group(4)), default="default" in flags))
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


@dataclass(frozen=True)
class Pin:
    """The toolchain the crate's directory selects through rustup: a rust-toolchain(.toml) file,
    `rustup override set` or RUSTUP_TOOLCHAIN. Builds use it, as `cargo build` there would."""

    name: str
    source: str  # what rustup says selected it
    installed: bool


@functools.cache
def active_pin(crate_dir: Path) -> Pin | None:
    """What rustup would run in `crate_dir`, when something other than its default chose it."""
    if proc.which("rustup") is None or not _may_be_pinned(crate_dir):
        return None
    # RUSTUP_AUTO_INSTALL=0: a probe must not start downloading a pinned toolchain.
    done = proc.probe(["rustup", "show", "active-toolchain"], env={"RUSTUP_AUTO_INSTALL": "0"}, cwd=crate_dir)
    if done is None:
        return None
    rc, out, err = done
    if rc != 0:
        # "error: override toolchain 'X' is not installed … the toolchain file at '…' specifies …"
        # rustup 1.28+: "override toolchain 'X' is not installed … the toolchain file at '…'", or
        # "custom toolchain 'X' specified in override file '…' is not installed".
        m = re.search(r"toolchain '([^']+)'[^\n]* is not installed", err)
        if not m:
            return None
        src = re.search(r"(?:toolchain file at|override file) '([^']+)'", err)
        return Pin(m.group(1), f"overridden by '{src.group(1)}'" if src else "overridden", installed=False)
    m = re.match(r"(\S+)(?:\s+\((.*)\))?", out.strip())
    if not m or not m.group(2) or m.group(2).startswith("default"):
        return None
    return Pin(m.group(1), m.group(2), installed=True)


def _may_be_pinned(crate_dir: Path) -> bool:
    """Cheap pre-check so that an unpinned build does not pay for a rustup call."""
    if env_.var("RUSTUP_TOOLCHAIN"):
        return True
    for d in (crate_dir, *crate_dir.parents):
        if (d / "rust-toolchain.toml").is_file() or (d / "rust-toolchain").is_file():
            return True
    home = str(env_.rustup_home())
    try:
        settings = Path(home, "settings.toml").read_text()
    except OSError:
        return False
    return re.search(r"^\[overrides\]\s*\n\s*\S", settings, re.M) is not None


def pin_matches(chain: RustToolchain, pin: Pin) -> bool:
    return chain.name == pin.name or (chain.name or "").startswith(pin.name + "-")


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
        chains = tuple(c for c in chains if pin_matches(c, pin))[:1]
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
    if target.triple.is_windows:
        # zig's mingw link misses libssp_nonshared for Rust's std; the mingw gcc links it.
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
        if triple.os == host_t.os == "linux" and same_arch:
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
    import importlib.util

    spec = importlib.util.find_spec("ziglang")
    if spec is None or not spec.origin:
        return None
    zig = Path(spec.origin).parent / "zig"
    return str(zig) if zig.exists() else None


def probe_tools(need_zig: bool = True) -> Tools:
    zig = zigbuild = None
    if need_zig:
        zig_bin = _ziglang_binary()
        zig_out = (proc.capture_cached([sys.executable, "-m", "ziglang", "version"], [zig_bin, sys.executable])
                   if zig_bin else proc.capture(["zig", "version"]))
        zig = _first_line(zig_out)
        zigbuild = _first_line(proc.capture_cached(["cargo-zigbuild", "--version"], [proc.which("cargo-zigbuild")]))
    return Tools(
        cargo=_first_line(proc.capture_cached(["cargo", "--version"], [proc.which("cargo"), _rustup_settings()])),
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


def target_status(target: TargetConfig, tools: Tools, chains: tuple[RustToolchain, ...] | None = None,
                  pin: Pin | None = None) -> TargetStatus:
    """What `doctor` says of one target: every missing piece, each with the command that fixes it."""
    builder = choose_builder(target, tools.host)
    problems: list[str] = []
    rustup = proc.which("rustup") is not None
    if pin is not None and not pin.installed and not target.toolchain:
        problems.append(_std_problem(target, pin, rustup))  # rustup's cargo cannot run either
        std = None
    elif not tools.cargo:
        problems.append(f"cargo (Rust) not installed: {_fix(None)}")
        std = None
    else:
        std = find_std(target, chains, pin)
        if std is None:
            problems.append(_std_problem(target, pin, rustup))
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
    )


# --- installing what is missing ----------------------------------------------------------------


@dataclass(frozen=True)
class InstallStep:
    why: str
    argv: tuple[str, ...]
    needs_root: bool = False
    # Try it, and on failure go on to the next provider (rustup is offline here).
    optional: bool = False
    # Optional steps of one chain (download, then run the installer) stop at the first failure.
    chain: str = ""


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _is_debian() -> bool:
    return Path("/etc/debian_version").exists() and (proc.which("apt-get") is not None
                                                     or Path("/usr/bin/apt-get").exists())


def _rust_package_suffix() -> str:
    """Debian 12's own rustc (1.63) is too old; its security archive carries a current one as *-web.

    Decided from /etc/os-release, not apt-cache, because the package lists may not exist yet on a
    fresh machine (the plan runs `apt-get update` itself).
    """
    try:
        info = dict(
            line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line
        )
    except OSError:
        return ""
    ident = info.get("ID", "").strip('"')
    version = info.get("VERSION_ID", "").strip('"')
    return "-web" if ident == "debian" and version == "12" else ""


RUSTUP_INIT_URL = "https://sh.rustup.rs"


def _rust_install_steps(rustup: bool, pin: Pin | None) -> list[InstallStep]:
    """No cargo at all: rustup's toolchain where its server answers (the distribution's Rust is
    the offline fallback, planned with the std packages)."""
    if rustup:
        name = pin.name if pin else "stable"
        argv = ("rustup", "toolchain", "install", name, "--profile", "minimal")
        steps = [InstallStep(f"Rust {name} from rustup (needs its server)", argv, optional=True, chain="rust")]
        if not pin:
            steps.append(InstallStep("make it rustup's default", ("rustup", "default", name), optional=True, chain="rust"))
        return steps
    script = str(env_.tmp_root() / f"rustup-init-{os.getuid() if hasattr(os, 'getuid') else 0}.sh")
    return [
        InstallStep("rustup's installer (needs its server)",
                    ("curl", "--proto", "=https", "--tlsv1.2", "-sSf", "--connect-timeout", "20", "-o", script,
                     RUSTUP_INIT_URL), optional=True, chain="rust"),
        InstallStep("rustup and Rust stable into ~/.cargo (PATH is left alone; wavrybuild finds it there)",
                    ("sh", script, "-y", "--profile", "minimal", "--no-modify-path"), optional=True, chain="rust"),
    ]


def _needs_objcopy(st: TargetStatus, tools: Tools) -> bool:
    """An Apple target whose toolchain (or the distribution's Rust it will get) has no rust-objcopy."""
    if st.target.triple.os != "macos":
        return False
    if st.std is not None:
        return objcopy_for(st.std.toolchain, tools.host) is None
    return proc.which("rust-objcopy") is None and llvm_objcopy() is None


@dataclass
class _Needs:
    """What the plan collects while walking the targets."""

    steps: list[InstallStep] = field(default_factory=list)
    apt: list[str] = field(default_factory=list)
    arches: list[str] = field(default_factory=list)
    system_rust: bool = False  # the distribution's Rust will be installed (link it into rustup)

    def distro_rust(self, *pkgs: str) -> None:
        self.apt += ["rustc-web", "cargo-web", *pkgs]
        self.system_rust = True


def _pinned_std_steps(t: TargetConfig, pin: Pin) -> list[InstallStep]:
    """Only rustup can give a pinned toolchain a std: the distribution's is for its own rustc."""
    steps = []
    if t.std != "build-std":
        steps.append(InstallStep(f"{t.id}: std for the pinned {pin.name}",
                                 ("rustup", "target", "add", str(t.triple), "--toolchain", pin.name), optional=True))
    steps.append(InstallStep(f"{t.id}: Rust's source for -Zbuild-std with {pin.name}",
                             ("rustup", "component", "add", "rust-src", "--toolchain", pin.name), optional=True))
    return steps


def _std_needs(st: TargetStatus, tools: Tools, rustup: bool, debian: bool, needs: _Needs) -> None:
    """A prebuilt std from rustup (optional: it needs rustup's server), else the distribution's."""
    t = st.target
    prebuilt_possible = t.std != "build-std" and (
        rustup or (debian and t.triple.is_linux_gnu and t.triple.debian_arch is not None))
    # Missing std, or only build-std (minutes per target) where a prebuilt std could be had.
    if not (st.std is None or (st.std.mode == "build-std" and t.std == "auto" and prebuilt_possible)):
        return
    if rustup and tools.cargo and t.std != "build-std":
        toolchain = ("--toolchain", t.toolchain) if t.toolchain else ()
        needs.steps.append(InstallStep(f"{t.id}: prebuilt std from rustup (needs its server)",
                                       ("rustup", "target", "add", str(t.triple), *toolchain), optional=True))
    arch = t.triple.debian_arch
    if debian and t.triple.is_linux_gnu and arch and t.std != "build-std":
        if arch != "amd64" and arch not in needs.arches:
            needs.arches.append(arch)
        needs.distro_rust(f"libstd-rust-web-dev:{arch}")
    elif debian and st.std is None:
        # No prebuilt std package: build std from source (Debian's copy vendors its deps).
        needs.distro_rust("rust-web-src")


def _tool_needs(st: TargetStatus, tools: Tools, needs: _Needs) -> None:
    """Linker, runner and the rust-objcopy of Apple targets, as Debian packages."""
    _, program, pkg = linker_for(st.target, st.builder, tools.host)
    if program and proc.which(program) is None and pkg:
        needs.apt.append(pkg)
    if st.runner.kind == "qemu" and not st.runner.available:
        needs.apt.append("qemu-user")
    if _needs_objcopy(st, tools):
        needs.apt.append("llvm")  # llvm-objcopy, which rustc gets as rust-objcopy (see ensure_objcopy_shim)


def _apt_steps(needs: _Needs) -> list[InstallStep]:
    if not needs.apt:
        return []
    suffix = _rust_package_suffix()
    pkgs = [p.replace("-web", suffix) for p in dict.fromkeys(needs.apt)]
    steps = [InstallStep(f"enable {arch} packages (multiarch)", ("dpkg", "--add-architecture", arch), True)
             for arch in needs.arches]
    steps.append(InstallStep("refresh package lists", ("apt-get", "update", "-q"), True))
    steps.append(InstallStep("Rust, std, linkers and runners from the distribution",
                             ("apt-get", "install", "-y", "-q", "--no-install-recommends", *pkgs), True))
    return steps


def _link_steps() -> list[InstallStep]:
    """rustup on the machine: make the distribution's Rust one of its toolchains."""
    chains = toolchains()
    if any(c.name == SYSTEM_TOOLCHAIN for c in chains):
        return []
    steps = [InstallStep(f"make the distribution's Rust selectable as toolchain {SYSTEM_TOOLCHAIN!r}",
                         ("rustup", "toolchain", "link", SYSTEM_TOOLCHAIN, "/usr"))]
    if not any(c.default for c in chains if c.name):
        steps.append(InstallStep(f"rustup has no default toolchain: make it {SYSTEM_TOOLCHAIN!r}",
                                 ("rustup", "default", SYSTEM_TOOLCHAIN)))
    return steps


def install_plan(config: Config, targets: tuple[TargetConfig, ...], tools: Tools) -> list[InstallStep]:
    """Commands that give each target a std, a linker, a runner and what rustc itself needs; only
    what the targets need. Pure apart from file probes."""
    pin = active_pin(config.project.manifest_path.parent)
    debian = _is_debian()
    rustup = proc.which("rustup") is not None
    needs = _Needs()
    if not tools.cargo:
        needs.steps += _rust_install_steps(rustup, pin)
        if debian:
            needs.distro_rust()
    elif pin is not None and not pin.installed:
        needs.steps.append(InstallStep(f"the pinned toolchain {pin.name} ({pin.source})",
                                       ("rustup", "toolchain", "install", pin.name, "--profile", "minimal"),
                                       optional=True))
    for st in (target_status(t, tools, pin=pin) for t in targets):
        if pin is not None and not st.target.toolchain:
            if st.std is None and tools.cargo:
                needs.steps += _pinned_std_steps(st.target, pin)
        else:
            _std_needs(st, tools, rustup, debian, needs)
        if debian:
            _tool_needs(st, tools, needs)
    if not debian:
        needs.apt.clear()
    steps = needs.steps + _apt_steps(needs)
    if needs.system_rust and rustup:
        steps += _link_steps()
    return steps
