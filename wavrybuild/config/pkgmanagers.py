"""[channels.homebrew], [channels.scoop], [channels.winget]: manifests for other people's package
managers that point at the release's own download URLs and sha256s. Each section is checked when
targets.toml loads, and the download URL they need of [publish.github] against the whole config by
config/downloads.check_package_managers. What they take from Cargo.toml (license, homepage) and from dist/ (the
archives, [desktop]'s installers) is checked where they are written (channels/pkgmanagers/)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import checks as c
from .project import Core
from .values import HttpUrl, Line

# winget's PackageIdentifier (manifest schema 1.6.0), narrowed to what a file name and YAML take plainly.
WINGET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+-]{0,31}(\.[A-Za-z0-9_+-]{1,32}){1,7}")


@dataclass(frozen=True)
class HomebrewConfig:
    base_url: HttpUrl | None  # {version} {name}; None: the [publish.github] release's download URL


@dataclass(frozen=True)
class ScoopConfig:
    base_url: HttpUrl | None
    checkver_url: HttpUrl | None  # a page naming the newest archive; None: the GitHub repository's releases


@dataclass(frozen=True)
class WingetConfig:
    base_url: HttpUrl | None
    package_identifier: Line  # Publisher.Package; {name} filled in per bundle (checked against WINGET_ID)
    publisher: Line | None  # None: [desktop.windows] manufacturer


def _base(where: Path, key: str, table: dict[str, Any], name: str = "base-url") -> HttpUrl | None:
    return c.base_url(where, f"{key}.{name}", table[name]) if name in table else None


HOMEBREW_KEYS = ("base-url",)
SCOOP_KEYS = ("base-url", "checkver-url")
WINGET_KEYS = ("base-url", "package-identifier", "publisher")


def parse_homebrew(cfg: Core, raw: Any) -> HomebrewConfig:
    where = cfg.project.config_path
    table = c.check_table(where, "channels.homebrew.", raw)
    c.reject_unknown(where, "channels.homebrew.", table, HOMEBREW_KEYS)
    return HomebrewConfig(_base(where, "channels.homebrew", table))


def parse_scoop(cfg: Core, raw: Any) -> ScoopConfig:
    where = cfg.project.config_path
    table = c.check_table(where, "channels.scoop.", raw)
    c.reject_unknown(where, "channels.scoop.", table, SCOOP_KEYS)
    return ScoopConfig(_base(where, "channels.scoop", table), _base(where, "channels.scoop", table, "checkver-url"))


def parse_winget(cfg: Core, raw: Any) -> WingetConfig:
    where = cfg.project.config_path
    table = c.check_table(where, "channels.winget.", raw)
    c.reject_unknown(where, "channels.winget.", table, WINGET_KEYS)
    ident = table.get("package-identifier")
    sample = ident.replace("{name}", cfg.project.name) if isinstance(ident, str) else None
    if sample is None or "{" in sample or "}" in sample or not WINGET_ID.fullmatch(sample) or len(sample) > 128:
        raise ConfigError(f"{where}: channels.winget.package-identifier: expected Publisher.Package (2 to 8 parts "
                          f"of letters, digits, '_', '+' and '-', {{name}} filled in), got {ident!r}",
                          hint='e.g. "Example.{name}": the id users type in `winget install`')
    publisher = table.get("publisher")
    if publisher is not None and (not isinstance(publisher, str) or not Line.valid(publisher) or len(publisher) < 2):
        raise ConfigError(f"{where}: channels.winget.publisher: expected one line of at least 2 characters, "
                          f"got {publisher!r}")
    return WingetConfig(_base(where, "channels.winget", table), Line.parse(ident),
                        Line.parse(publisher) if publisher is not None else None)
