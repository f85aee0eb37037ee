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
from .values import GitRef, HttpUrl, Line, RelPath, RepoSlug

# winget's PackageIdentifier (manifest schema 1.6.0), narrowed to what a file name and YAML take plainly.
WINGET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+-]{0,31}(\.[A-Za-z0-9_+-]{1,32}){1,7}")


@dataclass(frozen=True)
class TapConfig:
    """Where `invoke publish` commits the formula through GitHub's contents API (publish/tap.py)."""

    repo: RepoSlug  # owner/name of the tap repository (homebrew-<something> for `brew tap owner/something`)
    path: RelPath  # the formula's path in it; {name} filled in per bundle (a Component)
    token_env: str = "HOMEBREW_TAP_TOKEN"  # a token that may write the tap's contents
    api_url: HttpUrl = HttpUrl("https://api.github.com")
    branch: GitRef | None = None  # None: the tap's default branch

    def path_of(self, name: str) -> RelPath:
        return RelPath.parse(str(self.path).replace("{name}", name))


@dataclass(frozen=True)
class HomebrewConfig:
    base_url: HttpUrl | None  # {version} {name}; None: the [publish.github] release's download URL
    tap: TapConfig | None = None  # None: the formula is only an artifact


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


TAP_KEYS = ("tap", "tap-path", "tap-token-env", "tap-api-url", "tap-branch")
HOMEBREW_KEYS = ("base-url", *TAP_KEYS)
SCOOP_KEYS = ("base-url", "checkver-url")
WINGET_KEYS = ("base-url", "package-identifier", "publisher")


def parse_homebrew(cfg: Core, raw: Any) -> HomebrewConfig:
    where = cfg.project.config_path
    table = c.check_table(where, "channels.homebrew.", raw)
    c.reject_unknown(where, "channels.homebrew.", table, HOMEBREW_KEYS)
    return HomebrewConfig(_base(where, "channels.homebrew", table), _tap(where, table))


def _tap_path(v: Any) -> RelPath:
    rest = v.replace("{name}", "") if isinstance(v, str) else ""
    if not isinstance(v, str) or not v.endswith(".rb") or "{" in rest or "}" in rest:
        raise ValueError("a relative path ending in .rb ({name} the only placeholder)")
    RelPath.parse(v.replace("{name}", "x"))
    return RelPath.parse(v)


def _tap(where: Path, table: dict[str, Any]) -> TapConfig | None:
    keys = {k: table[k] for k in TAP_KEYS if k in table}
    if not keys:
        return None
    if "tap" not in keys:
        raise ConfigError(f"{where}: channels.homebrew.tap: missing (the other tap-* keys need it)",
                          hint='tap = "owner/homebrew-tap": the repository the formula is committed to')
    v = c.values(where, "channels.homebrew.", keys, {
        "tap": (c.repo_slug, c.REQUIRED), "tap-path": (_tap_path, RelPath("Formula/{name}.rb")),
        "tap-token-env": (c.env_name, "HOMEBREW_TAP_TOKEN"),
        "tap-api-url": (c.url(()), HttpUrl("https://api.github.com")),
        "tap-branch": (GitRef.parse, None)})
    return TapConfig(v["tap"], v["tap-path"], v["tap-token-env"], v["tap-api-url"], v["tap-branch"])


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
