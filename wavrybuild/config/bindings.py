"""[bindings]: a crate with Python bindings, built into extension wheels by cibuildwheel with the
matrix of targets.toml. The target → cibuildwheel selection is checked when targets.toml loads."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import checks as c
from .project import Core
from .targets import TargetConfig

KEYS = ("package-dir", "python", "targets", "output-dir", "install-rust")
LINUX_ARCH = {"x86_64": "x86_64", "aarch64": "aarch64", "i686": "i686", "armv7": "armv7l",
              "powerpc64le": "ppc64le", "s390x": "s390x", "riscv64gc": "riscv64"}
MACOS_ARCH = {"x86_64": "x86_64", "aarch64": "arm64"}
WINDOWS_ARCH = {"x86_64": ("AMD64", "win_amd64"), "i686": ("x86", "win32"), "aarch64": ("ARM64", "win_arm64")}
# The manylinux images and the glibc each one is built on: the oldest image at or above the floor.
MANYLINUX_IMAGES = (((2, 17), "manylinux2014"), ((2, 28), "manylinux_2_28"), ((2, 34), "manylinux_2_34"))

@dataclass(frozen=True)
class BindingsConfig:
    package_dir: Path
    python: tuple[str, ...]  # build selector prefixes: "cp3*", "cp312", "pp310" …
    targets: tuple[str, ...] | None
    output_dir: Path
    install_rust: bool


@dataclass(frozen=True)
class Selection:
    """One target as cibuildwheel sees it."""

    target: TargetConfig
    platform: str  # linux | macos | windows
    arch: str  # cibuildwheel's name
    suffix: str  # the platform half of the build identifier: manylinux_x86_64, macosx_arm64 …
    image: tuple[str, str] | None = None  # (CIBW_MANYLINUX_<ARCH>_IMAGE, image) for a glibc floor



def parse_bindings(cfg: Core, table: Any) -> BindingsConfig | None:
    if table is None:
        return None
    where = cfg.project.config_path
    raw = c.check_table(where, "bindings.", table)
    c.reject_unknown(where, "bindings.", raw, KEYS)
    pkg = raw.get("package-dir", ".")
    if not isinstance(pkg, str):
        raise ConfigError(f"{where}: bindings.package-dir: expected a path string, got {pkg!r}")
    package_dir = c.local_path(where, "bindings.package-dir", pkg)
    if not c.is_file(package_dir / "pyproject.toml"):
        raise ConfigError(f"{where}: bindings.package-dir: no pyproject.toml in {package_dir}",
                          hint="point it at the directory of the Python package (maturin or setuptools-rust)")
    python = raw.get("python", ["cp3*"])
    if isinstance(python, str):
        python = [python]
    if not isinstance(python, list) or not python or not all(
            isinstance(p, str) and re.fullmatch(r"(cp|pp|gp)[0-9*]+t?", p) for p in python):
        raise ConfigError(f"{where}: bindings.python: {python!r}: expected build selector prefixes",
                          hint='e.g. python = ["cp3*"] or ["cp310", "cp311", "cp312"]')
    targets = raw.get("targets")
    if targets is not None:
        targets = c.target_ids(where, [t.id for t in cfg.targets], "bindings.targets", targets)
    out = raw.get("output-dir", str(cfg.project.dist_dir / "wheelhouse"))
    if not isinstance(out, str):
        raise ConfigError(f"{where}: bindings.output-dir: expected a path string")
    install_rust = raw.get("install-rust", True)
    if not isinstance(install_rust, bool):
        raise ConfigError(f"{where}: bindings.install-rust: expected true or false")
    bc = BindingsConfig(package_dir, tuple(python), targets, c.local_path(where, "bindings.output-dir", out), install_rust)
    selections(cfg, bc)  # a target cibuildwheel cannot build is refused at load time
    return bc


def select(t: TargetConfig) -> Selection:
    tr = t.triple
    arch = tr.arch if not tr.arch.startswith("armv7") else "armv7"
    if tr.os == "linux" and arch in LINUX_ARCH:
        a = LINUX_ARCH[arch]
        if tr.is_musl:
            return Selection(t, "linux", a, f"musllinux_{a}")
        image = None
        if t.glibc:
            floor = tuple(int(x) for x in t.glibc.split(".")[:2])
            # The newest image whose glibc is at or below the floor: its wheels keep the promise.
            fits = [name for glibc, name in MANYLINUX_IMAGES if glibc <= floor]
            if not fits:
                raise ConfigError(f"{t.id}: no manylinux image is as old as glibc {t.glibc}",
                                  hint="the oldest cibuildwheel image is manylinux2014 (glibc 2.17)")
            name = fits[-1]
            image = (f"CIBW_MANYLINUX_{a.upper()}_IMAGE", name)
        return Selection(t, "linux", a, f"manylinux_{a}", image)
    if tr.os == "macos" and arch in MACOS_ARCH:
        a = MACOS_ARCH[arch]
        return Selection(t, "macos", a, f"macosx_{a}")
    if tr.is_windows and arch in WINDOWS_ARCH:
        a, suffix = WINDOWS_ARCH[arch]
        return Selection(t, "windows", a, suffix)
    raise ConfigError(f"{t.id}: cibuildwheel does not build for {tr}", hint="leave it out of bindings.targets")


def selections(cfg: Core, bc: BindingsConfig) -> list[Selection]:
    return [select(t) for t in cfg.targets if bc.targets is None or t.id in bc.targets]


