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
class StdSource:
    toolchain: RustToolchain
    mode: str  # "installed" | "build-std"


def find_std(target: TargetConfig, chains: tuple[RustToolchain, ...] | None = None) -> StdSource | None:
    """Which toolchain gives this target a std, and how. None: nothing installed can."""
    chains = toolchains() if chains is None else chains
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
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def buildable(self) -> bool:
        return not self.problems

    def as_json(self) -> dict:
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
        }


@dataclass(frozen=True)
class Tools:
    """Machine-wide tools (probed once)."""

    cargo: str | None
    zig: str | None
    zigbuild: str | None
    host: str

    def as_json(self) -> dict:
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
    home = os.environ.get("RUSTUP_HOME") or os.path.join(os.path.expanduser("~"), ".rustup")
    path = os.path.join(home, "settings.toml")
    return path if os.path.exists(path) and "RUSTUP_TOOLCHAIN" not in os.environ else None


def target_status(target: TargetConfig, tools: Tools, chains: tuple[RustToolchain, ...] | None = None) -> TargetStatus:
    builder = choose_builder(target, tools.host)
    problems: list[str] = []
    std = find_std(target, chains)
    if std is None:
        unlinked = unlinked_system_sysroot()
        if unlinked and (unlinked / "lib" / "rustlib" / str(target.triple)).is_dir():
            problems.append(f"the std for {target.triple} is in {unlinked} but rustup does not know that "
                            f"toolchain: run `invoke toolchain --install` (links it as {SYSTEM_TOOLCHAIN!r})")
        else:
            problems.append(f"no std for {target.triple}: run `invoke toolchain --install`")
    linker, program, _pkg = linker_for(target, builder, tools.host)
    linker_ok = program is None or proc.which(program) is not None
    if not linker_ok:
        problems.append(f"linker {program} not found: run `invoke toolchain --install`")
    if builder == "zigbuild":
        if not tools.zigbuild:
            problems.append("cargo-zigbuild not found: pip install cargo-zigbuild")
        if not tools.zig:
            problems.append("zig not found: pip install ziglang")
    if not tools.cargo:
        problems.append("cargo not found: install Rust (rustup)")
    return TargetStatus(
        target=target,
        builder=builder,
        std=std,
        linker=linker,
        linker_ok=linker_ok,
        runner=choose_runner(target, tools.host),
        problems=tuple(problems),
    )


# --- installing what is missing ----------------------------------------------------------------


@dataclass(frozen=True)
class InstallStep:
    why: str
    argv: tuple[str, ...]
    needs_root: bool = False
    # Try it, and on failure go on to the next provider (rustup is offline here).
    optional: bool = False


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _is_debian() -> bool:
    return Path("/etc/debian_version").exists() and proc.which("apt-get") is not None


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


def install_plan(config: Config, targets: tuple[TargetConfig, ...], tools: Tools) -> list[InstallStep]:
    """Commands that give each target a std, a linker and a runner. Pure apart from file probes."""
    statuses = [target_status(t, tools) for t in targets]
    steps: list[InstallStep] = []
    debian = _is_debian()
    apt_pkgs: list[str] = []
    foreign_arches: list[str] = []
    need_system_link = False
    rustup = proc.which("rustup") is not None

    for st in statuses:
        t = st.target
        prebuilt_possible = t.std != "build-std" and (
            rustup or (debian and t.triple.is_linux_gnu and t.triple.debian_arch is not None)
        )
        # Missing std, or only build-std (minutes per target) where a prebuilt std could be had.
        wants_std = st.std is None or (st.std.mode == "build-std" and t.std == "auto" and prebuilt_possible)
        if wants_std:
            if rustup and t.std != "build-std":
                steps.append(InstallStep(
                    f"{t.id}: prebuilt std from rustup (needs its server)",
                    ("rustup", "target", "add", str(t.triple), *(("--toolchain", t.toolchain) if t.toolchain else ())),
                    optional=True,
                ))
            if debian and t.triple.is_linux_gnu and t.triple.debian_arch and t.std != "build-std":
                arch = t.triple.debian_arch
                if arch != "amd64" and arch not in foreign_arches:
                    foreign_arches.append(arch)
                apt_pkgs += ["rustc-web", "cargo-web", f"libstd-rust-web-dev:{arch}"]
                need_system_link = True
            elif debian and st.std is None:
                # No prebuilt std package: build std from source (Debian's copy vendors its deps).
                apt_pkgs += ["rustc-web", "cargo-web", "rust-web-src"]
                need_system_link = True
        _, program, pkg = linker_for(t, st.builder, tools.host)
        if program and proc.which(program) is None and pkg and debian:
            apt_pkgs.append(pkg)
        if st.runner.kind == "qemu" and not st.runner.available and debian:
            apt_pkgs.append("qemu-user")
    if apt_pkgs:
        apt_pkgs = list(dict.fromkeys(apt_pkgs))
        suffix = _rust_package_suffix()
        apt_pkgs = [p.replace("-web", suffix) for p in apt_pkgs]
        for arch in foreign_arches:
            steps.append(InstallStep(f"enable {arch} packages (multiarch)", ("dpkg", "--add-architecture", arch), True))
        steps.append(InstallStep("refresh package lists", ("apt-get", "update", "-q"), True))
        steps.append(InstallStep(
            "std, linkers and runners from the distribution",
            ("apt-get", "install", "-y", "-q", "--no-install-recommends", *apt_pkgs),
            True,
        ))
    if need_system_link and rustup and not any(c.name == SYSTEM_TOOLCHAIN for c in toolchains()):
        steps.append(InstallStep(
            f"make the distribution's Rust selectable as toolchain {SYSTEM_TOOLCHAIN!r}",
            ("rustup", "toolchain", "link", SYSTEM_TOOLCHAIN, "/usr"),
        ))
    return steps
