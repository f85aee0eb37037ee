"""Installing what is missing: `install_plan` turns the toolchain report into commands —
`rustup target add` where rustup's server answers, else Debian multiarch std packages or
rust-src for build-std, cross linkers, qemu-user and llvm."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import env as env_
from .. import proc
from ..config import Config, TargetConfig
from ..rustc import pinned_release
from . import pins
from . import probe as tc
from .pins import Pin
from .probe import SYSTEM_TOOLCHAIN, TargetStatus, Tools, linker_for, objcopy_for, pinned_chains, target_status, toolchains

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
    return proc.which("rust-objcopy") is None and tc.llvm_objcopy() is None


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
    if st.import_libraries and st.import_libraries.problem and st.import_libraries.package:
        needs.apt.append(st.import_libraries.package)  # mingw's import libraries, which winapi links instead
    if _needs_objcopy(st, tools):
        needs.apt.append("llvm")  # llvm-objcopy, which rustc gets as rust-objcopy (see ensure_objcopy_shim)


def _desktop_needs(config: Config, targets: tuple[TargetConfig, ...], needs: _Needs) -> None:
    """[desktop]: the image and installer makers of the platforms being released."""
    d = config.desktop
    if d is None:
        return
    wanted: list[tuple[str, str]] = []
    if any(t.triple.os == "macos" for t in targets):
        wanted.append(("xorriso", "xorriso"))
    if any(t.triple.is_windows for t in targets):
        if "msi" in d.windows_formats:
            wanted += [("wixl", "wixl"), ("msibuild", "msitools")]
        if "nsis" in d.windows_formats:
            wanted.append(("makensis", "nsis"))
    if any(t.triple.os == "linux" for t in targets) and config.channels.linux:
        wanted.append(("desktop-file-validate", "desktop-file-utils"))
    needs.apt += [pkg for program, pkg in wanted if proc.which(program) is None]


def _apt_steps(needs: _Needs) -> list[InstallStep]:
    if not needs.apt:
        return []
    suffix = _rust_package_suffix()
    pkgs = [p.replace("-web", suffix) for p in dict.fromkeys(needs.apt)]
    steps = [InstallStep(f"enable {arch} packages (multiarch)", ("dpkg", "--add-architecture", arch), True)
             for arch in needs.arches]
    steps.append(InstallStep("refresh package lists", ("apt-get", "update", "-q"), True))
    steps.append(InstallStep("Rust, std, linkers, runners (and [desktop]'s image makers) from the distribution",
                             ("apt-get", "install", "-y", "-q", "--no-install-recommends", *pkgs), True))
    return steps


def _link_steps() -> list[InstallStep]:
    """rustup on the machine: make the distribution's Rust one of its toolchains."""
    chains = tc.toolchains()
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
    pin = pins.config_pin(config.project) or pins.active_pin(config.project.manifest_path.parent)
    if pin is not None and not pin.installed and pinned_release(pin.name):
        # A version pin kept by a toolchain rustup knows under another name (stable is 1.95.0):
        # that one gets the std, and nothing needs installing for the pin itself.
        held = pinned_chains(toolchains(), pin)
        pin = replace(pin, name=held[0].name, installed=True) if held and held[0].name else pin
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
    for st in (target_status(t, tools, pin=pin, project=config.project) for t in targets):
        if pin is not None and not st.target.toolchain:
            if st.std is None and tools.cargo:
                needs.steps += _pinned_std_steps(st.target, pin)
        else:
            _std_needs(st, tools, rustup, debian, needs)
        if debian:
            _tool_needs(st, tools, needs)
    if debian:
        _desktop_needs(config, targets, needs)
    if not debian:
        needs.apt.clear()
    steps = needs.steps + _apt_steps(needs)
    if needs.system_rust and rustup:
        steps += _link_steps()
    return steps
