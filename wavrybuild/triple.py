"""Target triples: parsing and the per-platform facts in resources/platforms.toml."""

from __future__ import annotations

import functools
import platform
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any


@functools.cache
def known_triples() -> frozenset[str]:
    """Triples rustc knows (`rustc --print target-list`, shipped as data so parsing stays offline and fast)."""
    text = resources.files("wavrybuild.resources").joinpath("triples.txt").read_text()
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


# Not rustc's: cargo-zigbuild's spelling of a macOS binary holding both Apple architectures.
UNIVERSAL2 = "universal2-apple-darwin"
UNIVERSAL2_SLICES = ("x86_64-apple-darwin", "aarch64-apple-darwin")


@functools.cache
def platforms() -> dict[str, Any]:
    with resources.files("wavrybuild.resources").joinpath("platforms.toml").open("rb") as f:
        return tomllib.load(f)


@dataclass(frozen=True)
class Triple:
    """A parsed Rust target triple, e.g. aarch64-unknown-linux-gnu."""

    name: str

    @property
    def arch(self) -> str:
        return self.name.split("-", 1)[0]

    @property
    def parts(self) -> list[str]:
        return self.name.split("-")

    @property
    def os(self) -> str:
        if "-linux" in self.name:
            return "linux"
        if "-apple-darwin" in self.name:
            return "macos"
        if "-windows" in self.name:
            return "windows"
        if "freebsd" in self.name:
            return "freebsd"
        return self.parts[2] if len(self.parts) > 2 else "unknown"

    @property
    def env(self) -> str:
        """The ABI/libc part: gnu, musl, msvc, … ('' when the triple has none)."""
        return self.parts[3] if len(self.parts) > 3 else ""

    @property
    def is_windows(self) -> bool:
        return self.os == "windows"

    @property
    def is_linux_gnu(self) -> bool:
        return self.os == "linux" and self.env.startswith("gnu")

    @property
    def is_musl(self) -> bool:
        return self.os == "linux" and self.env.startswith("musl")

    @property
    def is_universal(self) -> bool:
        return self.name == UNIVERSAL2

    @property
    def slices(self) -> tuple[str, ...]:
        """The rustc triples this target is built as: two for universal2, else itself."""
        return UNIVERSAL2_SLICES if self.is_universal else (self.name,)

    @property
    def exe_suffix(self) -> str:
        return ".exe" if self.is_windows else ""

    @property
    def arch_info(self) -> dict[str, Any]:
        arch = self.arch
        table = platforms()["arch"]
        # armv7 variants (armv7-unknown-linux-gnueabihf …) and arm v6 share entries.
        key = arch if arch in table else "armv7" if arch.startswith("armv7") else "arm" if arch.startswith("arm") else None
        info: dict[str, Any] = table[key] if key else {}
        return info

    @property
    def debian_arch(self) -> str | None:
        return self.arch_info.get("debian")

    @property
    def qemu_arch(self) -> str | None:
        return self.arch_info.get("qemu")

    @property
    def gnu_prefix(self) -> str | None:
        return self.arch_info.get("gnu")

    @property
    def windows_runner(self) -> str:
        """The GitHub-hosted Windows runner of this triple's CPU (windows-11-arm for aarch64)."""
        return str(self.arch_info.get("github-windows", "windows-latest"))

    @property
    def cargo_env_key(self) -> str:
        """The triple as cargo spells it in env vars: CARGO_TARGET_<KEY>_LINKER."""
        return self.name.upper().replace("-", "_").replace(".", "_")

    def __str__(self) -> str:
        return self.name


def host_triple() -> str:
    """The triple of this machine, without spawning rustc (hot path for every task)."""
    machine = platform.machine().lower()
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    system = platform.system()
    if system == "Linux":
        libc = "musl" if "musl" in (platform.libc_ver()[0] or "") else "gnu"
        return f"{arch}-unknown-linux-{libc}"
    if system == "Darwin":
        return f"{arch}-apple-darwin"
    if system == "Windows":
        return f"{arch}-pc-windows-msvc"
    return f"{arch}-unknown-{system.lower()}"
