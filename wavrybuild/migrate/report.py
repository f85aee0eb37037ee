"""What a migration made of a peer's config: the targets.toml pieces (TOML lines, every value from
the peer's file checked and escaped) and one row per key of the peer's config saying whether it was
carried over, maps differently or has no equivalent. Shared by cargodist.py and goreleaser.py."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.values import Component, RepoSlug
from ..errors import ConfigError
from ..tomltext import commented, one_line, toml_key, toml_list, toml_string
from ..triple import Triple, known_triples

CARRIED = "carried over"
DIFFERS = "maps differently"
NONE = "no equivalent"
TOOLS = ("cargo-dist", "goreleaser")
ARCHIVES = ("tar.gz", "tar.xz", "tar.zst", "zip")
MAX_BYTES = 1 << 20  # a peer's config file larger than this is not a config file


@dataclass(frozen=True)
class Row:
    key: str  # the peer's key, as its file spells it (shown cleaned: one line)
    outcome: str  # CARRIED, DIFFERS or NONE
    note: str  # where it went in targets.toml, or why not


@dataclass(frozen=True)
class Facts:
    """What the migration knows of the crate besides the peer's file (from cargo metadata)."""

    root: Path
    name: str  # the first binary package's name
    repo: RepoSlug | None  # its Cargo.toml `repository`, when that is a github.com repository
    has_authors: bool
    several: bool = False  # several packages with binaries: a package name of the peer's needs {name}


@dataclass(frozen=True)
class Migration:
    """The peer's config as targets.toml pieces: lines of TOML (checked values, escaped)."""

    tool: str  # "cargo-dist" or "goreleaser"
    source: str  # the file read, relative to the project root
    targets: tuple[str, ...]
    project: tuple[str, ...] = ()  # extra [project] lines
    defaults: tuple[str, ...] = ()  # extra [defaults] lines
    package: tuple[str, ...] = ()  # the [package] lines (format, windows-format, include)
    target_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # target id → extra lines
    sections: tuple[str, ...] = ()  # whole tables, in order
    rows: tuple[Row, ...] = ()

    def table_rows(self) -> list[tuple[str, str, str]]:
        return [(one_line(r.key, 60), r.outcome, one_line(r.note)) for r in self.rows]

    def comment_block(self) -> list[str]:
        """The rows as a comment table at the end of targets.toml (every cell one line)."""
        rows = [(f"{self.tool} key", "outcome", "in targets.toml / why"), *self.table_rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(2)]
        out = [f"# What `python -m wavrybuild init --from {self.tool}` made of {one_line(self.source)}:"]
        for key, outcome, note in rows:
            out.append(f"#   {key:<{widths[0]}} | {outcome:<{widths[1]}} | {note}")
        return out


class Draft:
    """A migration being made: the mappers add lines and rows, `done` freezes it."""

    def __init__(self, tool: str, source: str, prefix: str = "") -> None:
        self.tool, self.source, self.prefix = tool, source, prefix  # prefix: the table's path, e.g. "dist."
        self.targets: list[str] = []
        self.project: list[str] = []
        self.defaults: list[str] = []
        self.package: list[str] = []
        self.target_keys: dict[str, list[str]] = {}
        self.sections: list[str] = []
        self.rows: list[Row] = []

    def row(self, key: str, outcome: str, note: str) -> None:
        self.rows.append(Row(key, outcome, note))

    def section(self, header: str, comment: str, keys: Sequence[tuple[str, str]] = ()) -> None:
        """A table: `header` like "channels.npm", keys as (TOML `key = value`, comment) pairs."""
        self.sections += ["", commented(f"[{header}]", comment), *(commented(k, c) for k, c in keys)]

    def error(self, key: str, expected: str, value: Any) -> ConfigError:
        return ConfigError(f"{self.source}: {self.prefix}{key}: expected {expected}, got {one_line(repr(value), 120)}",
                           hint=f"fix it in {self.source} (or leave it out), then run init --from {self.tool} again")

    def done(self) -> Migration:
        return Migration(self.tool, self.source, tuple(self.targets), tuple(self.project), tuple(self.defaults),
                         tuple(self.package), {k: tuple(v) for k, v in self.target_keys.items()},
                         tuple(self.sections), tuple(self.rows))

    # -- checked values ---------------------------------------------------------------------------

    def strings(self, key: str, value: Any) -> list[str]:
        """A string or a list of strings (the peers take both in places)."""
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise self.error(key, "a list of strings", value)
        return list(items)

    def flag(self, key: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.error(key, "true or false", value)
        return value

    def add_targets(self, key: str, value: Any) -> None:
        """Target triples: each one file name (a '/', a newline or a leading '-' is refused, naming
        the key), known to rustc; another name (a valid file name rustc does not know) is a row."""
        for t in self.strings(key, value):
            if not Component.valid(t):
                raise self.error(key, "Rust target triples (letters, digits, '.', '_', '-'; no '/' or newline)", t)
            if t in self.targets:
                continue
            if t not in known_triples() and t != "universal2-apple-darwin":
                self.row(f"{key}: {t}", NONE, "not a target rustc knows: left out")
                continue
            self.targets.append(t)

    def format_key(self, key: str, value: Any, aliases: Mapping[str, str]) -> str | None:
        """An archive format: ours, or None (with a row) when wavrybuild has no such archive."""
        if not isinstance(value, str):
            raise self.error(key, "an archive format", value)
        fmt = aliases.get(value, value)
        if fmt not in ARCHIVES:
            self.row(key, NONE, f"{one_line(value, 40)}: wavrybuild archives are {', '.join(ARCHIVES)}")
            return None
        return fmt

    def npm_targets(self) -> list[str]:
        """The targets npm has a platform for, one each (a channel refuses two for one platform)."""
        from ..config.npm import NPM_OS

        seen: dict[tuple[str, str, bool], str] = {}
        for t in self.targets:
            tr = Triple(t)
            cpu = tr.arch_info.get("npm")
            if tr.os in NPM_OS and cpu and not tr.is_universal:
                seen.setdefault((tr.os, str(cpu), tr.is_musl), t)
        return list(seen.values())

    def linux_targets(self) -> list[str]:
        """Linux targets with a .deb/.rpm architecture, one per architecture (the first listed)."""
        seen: dict[str, str] = {}
        for t in self.targets:
            tr = Triple(t)
            if tr.os == "linux" and tr.debian_arch:
                seen.setdefault(tr.debian_arch, t)
        return list(seen.values())


def github_repo(url: Any) -> RepoSlug | None:
    """owner/name of a github.com repository URL (Cargo.toml's `repository`), else None."""
    if not isinstance(url, str):
        return None
    m = re.fullmatch(r"https://github\.com/([^/\s]+/[^/\s]+?)(?:\.git)?/?", url.strip())
    if not m:
        return None
    try:
        return RepoSlug.parse(m.group(1))
    except ValueError:
        return None


def tv(key: str, value: str) -> str:
    """`key = "value"` (the value escaped)."""
    return f"{toml_key(key)} = {toml_string(value)}"


def tl(key: str, values: Sequence[str]) -> str:
    return f"{toml_key(key)} = {toml_list(values)}"


def release_url(repo: RepoSlug) -> str:
    """Where a [publish.github] release of `repo` (tag v{version}) serves its files."""
    return f"https://github.com/{repo}/releases/download/v{{version}}"
