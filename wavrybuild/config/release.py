"""[release]: the release notes (RELEASE_NOTES.md) and where their changelog section comes from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import checks as c
from .project import Core

KEYS = ("changelog", "notes")


@dataclass(frozen=True)
class ReleaseConfig:
    notes: bool = False  # write RELEASE_NOTES.md (on by default with [release] or a release page)
    changelog: Path | None = None  # a Keep a Changelog file; its section for the version opens the notes


def parse_release(cfg: Core, raw: Any, *, release_page: bool) -> ReleaseConfig:
    """`release_page`: a destination that shows notes ([publish.github]) is configured."""
    where = cfg.project.config_path
    if raw is None:
        return ReleaseConfig(notes=release_page)
    table = c.check_table(where, "release.", raw)
    c.reject_unknown(where, "release.", table, KEYS)
    try:
        notes = c.bool_value(table.get("notes", True))
    except ValueError as exc:
        raise ConfigError(f"{where}: release.notes: expected {exc}, got {table.get('notes')!r}") from None
    changelog = None
    if "changelog" in table:
        value = table["changelog"]
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: release.changelog: expected a file path, got {value!r}")
        changelog = c.local_path(where, "release.changelog", value)
        if not c.is_file(changelog):
            raise ConfigError(f"{where}: release.changelog: no file {changelog}",
                              hint="point it at the changelog (Keep a Changelog format), relative to targets.toml")
    return ReleaseConfig(notes=notes, changelog=changelog)
