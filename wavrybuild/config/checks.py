"""The validators every section of targets.toml shares.

A value checker returns the normalised value or raises ValueError(what is expected); the table
helpers turn problems into one ConfigError naming the file and the key, with a did-you-mean.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, cast
from urllib.parse import urlsplit

from ..errors import ConfigError, suggest
from .values import Checked, Component, GitRef, HttpUrl, Line, RelPath, RepoSlug, sample_fill

ARCHIVE_FORMATS = ("tar.gz", "tar.xz", "tar.zst", "zip")
SECRET_WORDS = ("passphrase", "password", "token", "secret")
GITHUB_TOKEN_PREFIXES = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class HoldsSecret(ValueError):
    """A rejected value that may itself be a secret: the error message must not repeat it."""


# --- values ----------------------------------------------------------------------------------------

def str_value(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("a string")
    return v


def opt_str(v: Any) -> str | None:
    return None if v in ("", "auto") else str_value(v)


def bool_value(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError("true or false")
    return v


def str_list(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError("a list of strings")
    return tuple(v)


# --- boundary types (config/values.py) as checkers ---------------------------------------------------

def line(v: Any) -> Line:
    """A single-line field of a file format (.deb control, RPM, .desktop, Info.plist, WiX, NSIS)."""
    return Line.parse(v)


def opt_line(v: Any) -> Line | None:
    return None if v in ("", "auto") else Line.parse(v)


def component(v: Any) -> Component:
    """One path component: a file or directory name, never a path."""
    return Component.parse(v)


def rel_path(v: Any) -> RelPath:
    return RelPath.parse(v)


def repo_slug(v: Any) -> RepoSlug:
    try:
        return RepoSlug.parse(v)
    except ValueError:
        raise ValueError('"owner/name"') from None


def text_line(v: Any) -> Line:
    """A non-empty single line."""
    return Line.parse(text(v))


MAX_PATH = 4096
MAX_NAME = 255  # bytes of one file name (Linux, macOS)


def path_text(v: Any) -> Line:
    """A file path as targets.toml writes it: one line, no NUL, within the OS's limits (a longer
    one is an OSError, not a 'no such file', on the way)."""
    value = Line.parse(text(v)) if isinstance(v, str) else text(v)
    if len(value) > MAX_PATH or any(len(p.encode()) > MAX_NAME for p in value.split("/")):
        raise ValueError(f"a path of at most {MAX_PATH} characters, {MAX_NAME} bytes per name")
    return Line(value)


def local_path(config: Path, key: str, v: Any, base: Path | None = None) -> Path:
    """A path relative to `base` (targets.toml's directory), or absolute, resolved: ConfigError
    naming targets.toml and the key."""
    try:
        return ((base or config.parent) / Path(path_text(v)).expanduser()).resolve()
    except ValueError as exc:
        got = f", got {v!r}" if isinstance(v, str) and len(v) < 200 else ""
        raise ConfigError(f"{config}: {key}: expected {exc}{got}") from None
    except (OSError, RuntimeError) as exc:  # a symlink loop, an unreadable directory on the way
        raise ConfigError(f"{config}: {key}: cannot be resolved ({exc.__class__.__name__})") from None


def is_file(p: Path) -> bool:
    try:
        return p.is_file()
    except OSError:
        return False


def is_dir(p: Path) -> bool:
    try:
        return p.is_dir()
    except OSError:
        return False


def line_list(v: Any) -> tuple[Line, ...]:
    """A list of single-line values (each checked: a list is no way around the boundary)."""
    if not isinstance(v, list):
        raise ValueError("a list of strings")
    try:
        return tuple(Line.parse(x) for x in v)
    except ValueError as exc:
        raise ValueError(f"a list of strings, each {exc}") from None


def component_list(v: Any) -> tuple[Component, ...]:
    if not isinstance(v, list):
        raise ValueError("a list of strings")
    try:
        return tuple(Component.parse(x) for x in v)
    except ValueError as exc:
        raise ValueError(f"a list of names, each {exc}") from None


def args(v: Any) -> tuple[Line, ...]:
    """An argv tail: a list of single-line strings (NUL or a line break in an argument is never
    what a user meant, and NUL would stop the child from starting). A single string is accepted for
    convenience and split like a shell would not: on spaces only."""
    if isinstance(v, str):
        v = v.split()
    return line_list(v)


def str_map(v: Any) -> tuple[tuple[str, str], ...]:
    """An environment table: variable names as the shell writes them, values without NUL."""
    if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
        raise ValueError("a table of string values")
    for name, value in v.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"environment variable names (letters, digits, _), not {name!r}")
        if "\0" in value:
            raise ValueError(f"values without NUL characters ({name})")
    return tuple(sorted(v.items()))


def choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if not isinstance(v, str) or v not in choices:
            near = suggest(v, list(choices)) if isinstance(v, str) else None
            extra = f" (did you mean {near!r}?)" if near else ""
            raise ValueError("one of " + ", ".join(repr(c) for c in choices) + extra)
        return v

    check.choices = choices  # type: ignore[attr-defined]  # the JSON Schema's enum (config/schema.py)
    return check


def archive(v: Any) -> str | None:
    return None if v in ("", "auto") else choice(ARCHIVE_FORMATS)(v)


def strip(v: Any) -> str | bool | None:
    if v is None or isinstance(v, bool) or v in ("none", "debuginfo", "symbols"):
        return cast(str | bool | None, v)
    raise ValueError('true, false, "none", "debuginfo" or "symbols"')


def lto(v: Any) -> str | bool | None:
    if v is None or isinstance(v, bool) or v in ("off", "thin", "fat"):
        return cast(str | bool | None, v)
    raise ValueError('true, false, "off", "thin" or "fat"')


def codegen_units(v: Any) -> int | None:
    if v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
        return v
    raise ValueError("a whole number >= 1")


def opt_level(v: Any) -> int | str | None:
    # `true` is 1 to Python: a bool is not an opt-level.
    if v is None or (not isinstance(v, bool) and v in (0, 1, 2, 3, "s", "z")):
        return cast(int | str | None, v)
    raise ValueError('0, 1, 2, 3, "s" or "z"')


def panic(v: Any) -> str | None:
    if v is None or v in ("unwind", "abort"):
        return cast(str | None, v)
    raise ValueError('"unwind" or "abort"')


def glibc(v: Any) -> str | None:
    if v in (None, ""):
        return None
    if not isinstance(v, str) or not re.fullmatch(r"2\.\d{1,2}", v):
        raise ValueError('a glibc version string like "2.17"')
    return v


SMOKE_FIELDS = ("name", "version", "package", "triple", "target", "binary")


def expect(v: Any) -> str | None:
    if v is False or v == "":
        return None
    return template(SMOKE_FIELDS)(str_value(v))



def text(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError("a non-empty string")
    return v


def template(allowed: tuple[str, ...]) -> Callable[[Any], str]:
    """A string with {placeholders}; only plain names from `allowed` (no attribute access, no specs)."""

    def check(v: Any) -> str:
        value = text(v)
        try:
            fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(value) if f is not None]
        except ValueError as exc:
            raise ValueError(f"a template with {{placeholders}} ({exc})") from None
        for name, spec, conv in fields:
            if name not in allowed or spec or conv:
                near = suggest(name, list(allowed))
                raise ValueError("placeholders among " + ", ".join("{" + a + "}" for a in allowed)
                                 + (f" (did you mean {{{near}}}?)" if near else "") + f"; {{{name}}} is not one")
        return value

    return check


def url(allowed: tuple[str, ...]) -> Callable[[Any], HttpUrl]:
    """An http(s) URL (with {placeholders} among `allowed`, checked filled with samples)."""
    fill = template(allowed)

    def check(v: Any) -> HttpUrl:
        value = fill(v)
        try:
            parts = urlsplit(value)
            password = parts.password
        except ValueError:
            raise ValueError("an http:// or https:// URL") from None
        if password is not None or parts.username is not None:
            raise HoldsSecret("a URL without credentials (name env vars with user-env and password-env)")
        HttpUrl.parse(sample_fill(value, allowed))
        return HttpUrl(value.rstrip("/"))

    return check


def url_template(v: Any) -> UrlTemplate:
    """A URL with {placeholders} among RELEASE_FIELDS ([publish.http] url)."""
    return UrlTemplate.parse(url(RELEASE_FIELDS)(v))


class Template(Checked):
    """A {placeholder} template (placeholders among RELEASE_FIELDS) whose every rendering must be a
    `renders`: checked filled with harmless samples when targets.toml loads, and the real
    rendering checked again by `render` where it is used (a version or commit could still break it)."""

    fields: ClassVar[tuple[str, ...]] = ("name", "version", "commit", "date")
    renders: ClassVar[type[Checked]] = Line

    @classmethod
    def check(cls, value: str) -> str:
        template(cls.fields)(value)
        try:
            cls.renders.check(sample_fill(value, cls.fields))
        except ValueError as exc:
            raise ValueError(f"a template that renders to {exc}") from None
        return value

    def _render(self, values: Mapping[str, str]) -> str:
        rendered = self.format(**{f: values.get(f, "") for f in self.fields})
        try:
            return self.renders.check(rendered)
        except ValueError as exc:
            raise ValueError(f"{self!r} renders to {rendered!r}, not {exc}") from None


class TagTemplate(Template):
    """A tag name template ("v{version}"): every rendering a git ref name."""

    renders = GitRef
    expected = "a tag template such as \"v{version}\" that renders to a git ref name"

    def render(self, values: Mapping[str, str]) -> GitRef:
        return GitRef(self._render(values))


class NameTemplate(Template):
    """A template that renders to one path component (a URL path segment, a package name)."""

    renders = Component
    expected = "a template that renders to one file name"

    def render(self, values: Mapping[str, str]) -> Component:
        return Component(self._render(values))


class PathTemplate(Template):
    """A template that renders to a relative path of file names (a directory layout)."""

    renders = RelPath
    expected = "a template that renders to a relative path inside publish.directory.path"

    def render(self, values: Mapping[str, str]) -> RelPath:
        return RelPath(self._render(values))


class UrlTemplate(Template):
    """A URL template ("https://host/{name}/{version}"): every rendering an http(s) URL, and every
    value filled in one path component (a version or commit of "../x" must not move the URL)."""

    renders = HttpUrl
    expected = "an http:// or https:// URL template"

    def render(self, values: Mapping[str, str]) -> HttpUrl:
        for field in self.fields:
            if "{" + field + "}" in self:
                try:
                    Component.check(values.get(field, ""))
                except ValueError:
                    raise ValueError(f"{self!r}: {{{field}}} = {values.get(field, '')!r} is not one path component") from None
        return HttpUrl(self._render(values))


def git_ref_template(v: Any) -> TagTemplate:
    return TagTemplate.parse(v)


def optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v == "" else check(v)


def env_name(v: Any) -> str:
    if not isinstance(v, str) or not ENV_NAME.fullmatch(v) or len(v) > 255:
        raise HoldsSecret("the name of an environment variable (letters, digits, _)")
    if v.startswith(GITHUB_TOKEN_PREFIXES):
        raise HoldsSecret("the *name* of an environment variable; this looks like a token itself")
    return v


# What release templates (tags, URLs, directory layouts) may hold: see publish.base.ReleaseRef.
RELEASE_FIELDS = ("name", "version", "commit", "date")


def relative_template(v: Any) -> PathTemplate:
    value = template(RELEASE_FIELDS)(v)
    parts = PurePosixPath(value).parts
    if value.startswith(("/", "\\")) or ".." in parts:
        raise ValueError("a relative path template inside publish.directory.path")
    return PathTemplate.parse(value.strip("/"))


# --- tables ----------------------------------------------------------------------------------------

def shown_key(key: Any) -> str:
    """A key as an error message may show it: as written when it is a plain name, else its repr
    (a key holding a line break or a control character must not break the message's line)."""
    return key if isinstance(key, str) and re.fullmatch(r"[A-Za-z0-9_.@+-]{1,128}", key) else repr(key)[:200]


def unknown_key(path: Path, where: str, key: str, allowed: Iterable[str]) -> ConfigError:
    near = suggest(key, list(allowed)) if isinstance(key, str) else None
    return ConfigError(
        f"{path}: {where}{shown_key(key)}: unknown key" + (f"; did you mean {near!r}?" if near else ""),
        hint="allowed here: " + ", ".join(sorted(allowed)),
    )


def looks_secret(key: str) -> bool:
    return any(w in key.lower() for w in SECRET_WORDS) and not key.endswith("-env")


def secret_refused(path: Path, where: str, key: str) -> ConfigError:
    # The value is never repeated: it may be the secret.
    return ConfigError(
        f"{path}: {where}{shown_key(key)}: secrets never go in targets.toml",
        hint=f"put it in an environment variable and name that variable with `{key.split('-')[0]}-env`, "
        "or keep it in a file outside the repository",
    )


def reject_unknown(path: Path, where: str, table: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """The first key of `table` not in `allowed`, as a ConfigError with a did-you-mean (or, for a
    key that looks like a secret, the refusal that says where secrets go)."""
    allowed = list(allowed)
    for key in table:
        if key not in allowed:
            if looks_secret(str(key)):
                raise secret_refused(path, where, str(key))
            raise unknown_key(path, where, key, allowed)


def check_table(path: Path, where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: {where.rstrip('.')}: expected a table")
    return value


REQUIRED = object()
Spec = Mapping[str, tuple[Callable[[Any], Any], Any]]


def values(path: Path, where: str, table: Any, spec: Spec) -> dict[str, Any]:
    """Every key of `spec` checked (key -> (checker, default); REQUIRED: no default)."""
    table = check_table(path, where, table)
    reject_unknown(path, where, table, spec)
    out: dict[str, Any] = {}
    for key, (check, default) in spec.items():
        if key not in table:
            if default is REQUIRED:
                raise ConfigError(f"{path}: {where}{key}: missing", hint=f"[{where.rstrip('.')}] needs `{key}`")
            out[key] = default
            continue
        value = table[key]
        try:
            out[key] = check(value)
        except ValueError as exc:
            # An *-env value is not echoed: a user may have pasted the secret instead of its name.
            got = "" if key.endswith("-env") or isinstance(exc, HoldsSecret) else f", got {value!r}"
            raise ConfigError(f"{path}: {where}{key}: expected {exc}{got}") from None
    return out


def target_ids(path: Path, configured: Sequence[str], key: str, value: Any) -> tuple[str, ...]:
    """A non-empty list of configured target ids (for `targets = [...]` of a channel or bindings)."""
    ids = list(configured)
    if not isinstance(value, list) or not value or not all(isinstance(x, str) for x in value):
        raise ConfigError(f"{path}: {key}: expected a non-empty list of target ids, got {value!r}")
    for x in value:
        if x not in ids:
            near = suggest(x, ids)
            raise ConfigError(f"{path}: {key}: {x!r} is not a configured target" + (f"; did you mean {near!r}?" if near else ""),
                              hint="targets: " + ", ".join(ids))
    return tuple(value)


def base_url(where: Path, key: str, url: Any) -> HttpUrl:
    """Where the release's files are served from: https only, {version} and {name} the only
    placeholders, nothing a shell script, a Ruby formula or a YAML manifest would read as syntax."""
    # fullmatch: `$` alone would let a trailing newline through, into the script above `set -eu`.
    if not isinstance(url, str) or not re.fullmatch(r"https://[^\s'\"`$\\;&|<>()#\x00-\x1f\x7f]+", url):
        raise ConfigError(f"{where}: {key}: expected the https:// URL the release files are "
                          "served from, without spaces, quotes or shell characters",
                          hint='e.g. "https://github.com/OWNER/REPO/releases/download/v{version}" (plain http '
                          "would let anyone on the way swap the archive and its checksum)")
    try:
        HttpUrl.parse(url.format(version="0", name="x"))
    except (KeyError, IndexError, ValueError):
        raise ConfigError(f"{where}: {key}: only {{version}} and {{name}} can be filled in") from None
    return HttpUrl(url)
