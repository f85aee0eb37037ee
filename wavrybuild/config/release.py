"""[release]: the release notes (RELEASE_NOTES.md), where their changes come from (a changelog's
section or the commits since the previous tag: `notes-from`), their layout (`notes-template`), and
which kinds of artifact the release publishes (`publish`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..errors import ConfigError, suggest
from . import checks as c
from .notes_template import HINT as TEMPLATE_HINT
from .notes_template import NotesTemplate, TemplateError, load_template
from .project import Core
from .values import Checked

KEYS = ("changelog", "notes", "notes-from", "notes-template", "publish")
SOURCES = ("changelog", "commits", "none")
# The kinds `publish` chooses from: every kind of manifest.py's KINDS but the two that describe the
# release itself (notes, provenance), which follow the chosen set like SHA256SUMS and the manifest do.
CHOOSABLE = ("archive", "crate", "deb", "dmg", "extra", "installer", "msi", "npm", "rpm", "sbom", "setup", "wheel",
             "homebrew", "scoop", "winget")
FOLLOWING = ("notes", "provenance")


class _OneOf(Checked):
    """One word of a fixed list, `choices`."""

    choices: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def check(cls, value: str) -> str:
        if value not in cls.choices:
            raise ValueError(cls.expected)
        return value


class ArtifactKind(_OneOf):
    """One kind name of `[release] publish`."""

    choices = CHOOSABLE
    expected = "a kind of artifact: " + ", ".join(repr(k) for k in CHOOSABLE)


class NotesSource(_OneOf):
    """`[release] notes-from`: what opens the notes — the changelog's section for the version, the
    commits since the previous release tag (Conventional Commits), or nothing."""

    choices = SOURCES
    expected = "one of " + ", ".join(repr(s) for s in SOURCES)


COMMITS = NotesSource("commits")


@dataclass(frozen=True)
class ReleaseConfig:
    notes: bool = False  # write RELEASE_NOTES.md (on by default with [release] or a release page)
    changelog: Path | None = None  # a Keep a Changelog file; its section for the version opens the notes
    # What opens the notes: "changelog" when `changelog` is set, else "commits" (or "none").
    source: NotesSource = COMMITS
    template: NotesTemplate | None = None  # None: the built-in layout (changelog.py's `render`)
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
    source = _source(where, table["notes-from"], changelog) if "notes-from" in table else (
        NotesSource("changelog") if changelog else COMMITS)
    template = _template(where, table["notes-template"]) if "notes-template" in table else None
    return ReleaseConfig(notes=notes, changelog=changelog, source=source, template=template, publish=kinds)


def _source(where: Path, raw: Any, changelog: Path | None) -> NotesSource:
    key = "release.notes-from"
    try:
        source = NotesSource.parse(raw)
    except ValueError as exc:
        near = suggest(raw, list(SOURCES)) if isinstance(raw, str) else None
        raise ConfigError(f"{where}: {key}: expected {exc}, got {repr(raw)[:100]}"
                          + (f"; did you mean {near!r}?" if near else ""),
                          hint='"commits": the commits since the previous tag; "changelog": release.changelog\'s '
                          'section; "none": no changes in the notes') from None
    if source == "changelog" and changelog is None:
        raise ConfigError(f"{where}: {key}: \"changelog\" needs release.changelog",
                          hint='set changelog = "CHANGELOG.md", or notes-from = "commits"')
    if source != "changelog" and changelog is not None:
        raise ConfigError(f"{where}: {key}: {source!r}, but release.changelog is set too",
                          hint="remove one: the notes open with either the changelog's section or the commits")
    return source


def _template(where: Path, raw: Any) -> NotesTemplate:
    key = "release.notes-template"
    path = c.local_path(where, key, raw)
    if not c.is_file(path):
        raise ConfigError(f"{where}: {key}: no file {path}",
                          hint="point it at a Markdown file, relative to targets.toml; " + TEMPLATE_HINT)
    try:
        return load_template(path)
    except TemplateError as exc:
        raise ConfigError(f"{where}: {key}: {exc}", hint=TEMPLATE_HINT) from None


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
