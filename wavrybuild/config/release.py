"""[release]: the release notes (RELEASE_NOTES.md), where their changelog section comes from, and
which kinds of artifact the release publishes (`publish`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, suggest
from . import checks as c
from .project import Core
from .values import Checked

KEYS = ("changelog", "notes", "publish")
# The kinds `publish` chooses from: every kind of manifest.py's KINDS but the two that describe the
# release itself (notes, provenance), which follow the chosen set like SHA256SUMS and the manifest do.
CHOOSABLE = ("archive", "crate", "deb", "dmg", "extra", "installer", "msi", "npm", "rpm", "sbom", "setup", "wheel",
             "homebrew", "scoop", "winget")
FOLLOWING = ("notes", "provenance")


class ArtifactKind(Checked):
    """One kind name of `[release] publish`."""

    expected = "a kind of artifact: " + ", ".join(repr(k) for k in CHOOSABLE)

    @classmethod
    def check(cls, value: str) -> str:
        if value not in CHOOSABLE:
            raise ValueError(cls.expected)
        return value


@dataclass(frozen=True)
class ReleaseConfig:
    notes: bool = False  # write RELEASE_NOTES.md (on by default with [release] or a release page)
    changelog: Path | None = None  # a Keep a Changelog file; its section for the version opens the notes
    # The kinds that are published, sorted; None: every kind. The others are still made in dist/
    # (later stages read them) but stay out of SHA256SUMS, the notes, the provenance and every upload.
    publish: tuple[ArtifactKind, ...] | None = None

    def publishes(self, kind: str) -> bool:
        return published(kind, self.publish)


def published(kind: str, kinds: Iterable[str] | None) -> bool:
    """Whether an artifact of `kind` is published when `kinds` are chosen (None: all)."""
    return kinds is None or kind in FOLLOWING or kind in kinds


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
    kinds = _publish(where, table["publish"]) if "publish" in table else None
    return ReleaseConfig(notes=notes, changelog=changelog, publish=kinds)


_KINDS_HINT = ('list the kinds to publish, e.g. publish = ["dmg", "msi", "setup", "deb", "rpm"]; '
               "SHA256SUMS, manifest.json, signatures, RELEASE_NOTES.md and the provenance always follow them")


def _publish(where: Path, raw: Any) -> tuple[ArtifactKind, ...]:
    key = "release.publish"
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}: {key}: expected a non-empty list of artifact kinds, got {raw!r}",
                          hint=_KINDS_HINT)
    out: list[ArtifactKind] = []
    for item in raw:
        if isinstance(item, str) and item in FOLLOWING:
            raise ConfigError(f"{where}: {key}: {item!r} is not chosen: it follows the published kinds",
                              hint="RELEASE_NOTES.md follows release.notes, the provenance [provenance]; "
                              "remove it from the list")
        try:
            kind = ArtifactKind.parse(item)
        except ValueError as exc:
            near = suggest(item, list(CHOOSABLE)) if isinstance(item, str) else None
            raise ConfigError(f"{where}: {key}: expected {exc}, got {item!r}"
                              + (f"; did you mean {near!r}?" if near else ""), hint=_KINDS_HINT) from None
        if kind in out:
            raise ConfigError(f"{where}: {key}: {kind!r} is listed twice", hint="list each kind once")
        out.append(kind)
    return tuple(sorted(out))
