"""[package] and [checksum]: how archives and SHA256SUMS are made ([sign] is in sign.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import checks as c
from .targets import TargetConfig

GROUPS = ("package", "platform")


@dataclass(frozen=True)
class PackageConfig:
    """[package]: how archives are made."""

    format: str = "tar.gz"
    windows_format: str = "zip"
    # Globs relative to the crate directory, checked as Lines that stay inside it; kept plain str
    # because pathlib's glob() interns its pattern, which a str subclass cannot be.
    include: tuple[str, ...] = ()
    compression_level: int | None = None  # None: the format's usual default
    group: str = "package"  # "package": an archive per package and target; "platform": one per target
    # The crate's LICENSE*/COPYING*/README* files (cratedocs.py) in every archive and Linux package.
    crate_docs: bool = True

    def format_for(self, target: TargetConfig) -> str:
        if target.archive:
            return target.archive
        return self.windows_format if target.triple.is_windows else self.format


@dataclass(frozen=True)
class ChecksumConfig:
    sidecars: bool = False



PACKAGE_KEYS = {"format", "windows-format", "include", "compression-level", "group", "crate-docs"}
CHECKSUM_KEYS = {"sidecars"}


def _compression_level(level: Any) -> int:
    if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 22:
        raise ValueError("a whole number from 0 to 22 (gzip/xz use 0-9, zstd 1-22)")
    return level


_PACKAGE_CHECKS: dict[str, Callable[[Any], Any]] = {
    "format": c.choice(c.ARCHIVE_FORMATS), "windows-format": c.choice(c.ARCHIVE_FORMATS),
    "include": lambda v: tuple(str(x) for x in c.line_list(v)),
    "compression-level": _compression_level, "group": c.choice(GROUPS), "crate-docs": c.bool_value,
}


def parse_package(path: Path, raw: Any) -> PackageConfig:
    table = c.check_table(path, "package.", raw)
    c.reject_unknown(path, "package.", table, PACKAGE_KEYS)
    values: dict[str, Any] = {}
    for key, value in table.items():
        try:
            values[key.replace("-", "_")] = _PACKAGE_CHECKS[key](value)
        except ValueError as exc:
            raise ConfigError(f"{path}: package.{key}: expected {exc}, got {value!r}") from None
    for pattern in values.get("include", ()):
        parts = Path(pattern).parts
        if pattern.strip() and not parts:
            raise ConfigError(f"{path}: package.include: {pattern!r} is the crate directory itself",
                              hint="name the files to ship, e.g. \"LICENSE*\" or \"completions/*\"")
        if Path(pattern).is_absolute() or ".." in parts or not pattern.strip():
            raise ConfigError(
                f"{path}: package.include: {pattern!r} would reach outside the crate directory",
                hint="use a relative pattern inside the crate directory, e.g. \"LICENSE*\" or \"completions/*\"",
            )
    return PackageConfig(**values)


def parse_checksum(path: Path, raw: Any) -> ChecksumConfig:
    table = c.check_table(path, "checksum.", raw)
    c.reject_unknown(path, "checksum.", table, CHECKSUM_KEYS)
    try:
        return ChecksumConfig(sidecars=c.bool_value(table.get("sidecars", False)))
    except ValueError as exc:
        raise ConfigError(f"{path}: checksum.sidecars: expected {exc}, got {table['sidecars']!r}") from None
