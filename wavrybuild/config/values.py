"""The trust boundary's value types: what an outside string may become.

Every value that comes from outside (targets.toml, invoke settings, env, part manifests, storage,
server answers) is parsed once, where it enters, into one of these. Each is a `str` subclass, so
code past the boundary reads it like a string, but its type says what it was checked to be:

- `Component`: one path component (a file or directory name) — never `/`, `\\`, `.`, `..`, NUL,
  control characters, a leading `-`, or more than 128 characters;
- `ArtifactPath`: a relative path inside dist/'s artifact namespace — made of Components, never
  wavrybuild's own files (`.wavrybuild/`, `SHA256SUMS*`, `manifest.json`, `repo/`);
- `Line`: a single-line field for a file format (.deb control, RPM spec, .desktop, Info.plist, WiX,
  NSIS) — no CR, LF, NUL, U+2028/2029/0085 or other control characters (tab aside);
- `GitRef`: a tag or branch name by git's check-ref-format rules;
- `RepoSlug`: a GitHub `owner/name`;
- `CommitId`: a 40- or 64-hex git object id, lower-cased;
- `RustRelease`: a Rust release number ("1.96.0", "1.96"), what `[project] rustc` pins.

`parse(value)` returns the typed value or raises ValueError(what is expected), the convention of
config/checks.py, which turns it into one ConfigError naming the file and key. The error never
repeats the rejected value's control characters: messages use repr().
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, ClassVar, Self

MAX_COMPONENT = 128
MAX_LINE = 1024
# Names of dist/ that belong to wavrybuild itself: no artifact may take them.
RESERVED_TOP = (".wavrybuild", "manifest.json", "repo")
RESERVED_PREFIX = ("SHA256SUMS", "manifest-part-")
# Characters no single-line field may hold; unicodedata covers the other control/separator ones.
_LINE_BREAKS = frozenset("\r\n\0\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def _bad_char(value: str, *, allow_tab: bool) -> str | None:
    for ch in value:
        if ch in _LINE_BREAKS or (unicodedata.category(ch) in ("Cc", "Zl", "Zp") and not (allow_tab and ch == "\t")):
            return ch
    return None


class Checked(str):
    """A string that passed its type's `check`."""

    expected: ClassVar[str] = "a checked value"

    @classmethod
    def check(cls, value: str) -> str:  # pragma: no cover - every subclass overrides it
        return value

    @classmethod
    def parse(cls, value: Any) -> Self:
        if isinstance(value, cls):
            return value
        if not isinstance(value, str):
            raise ValueError(cls.expected)
        return cls(cls.check(value))

    @classmethod
    def valid(cls, value: str) -> bool:
        """Whether `value` passes `check` (for input to skip or report, not to use)."""
        try:
            cls.check(value)
        except ValueError:
            return False
        return True


class Line(Checked):
    expected = f"a single line of text (no line breaks or control characters, at most {MAX_LINE} characters)"

    @classmethod
    def check(cls, value: str) -> str:
        bad = _bad_char(value, allow_tab=False)
        if bad is not None:
            raise ValueError(f"{cls.expected}; it holds {bad!r}")
        if len(value) > MAX_LINE:
            raise ValueError(cls.expected)
        return value


class Component(Checked):
    expected = (f"a file name: one path component (no '/', '\\', '.', '..', NUL or control characters, "
                f"no leading '-', at most {MAX_COMPONENT} characters)")

    @classmethod
    def check(cls, value: str) -> str:
        if (not value or value in (".", "..") or "/" in value or "\\" in value or value.startswith("-")
                or len(value) > MAX_COMPONENT or _bad_char(value, allow_tab=False) is not None or "\t" in value):
            raise ValueError(cls.expected)
        return value


class ArtifactPath(Checked):
    expected = ("a relative path inside dist/ made of file names (not .wavrybuild/, SHA256SUMS*, "
                "manifest.json, manifest-part-*, repo/)")

    @classmethod
    def check(cls, value: str) -> str:
        parts = value.split("/")
        try:
            for p in parts:
                Component.check(p)
        except ValueError:
            raise ValueError(cls.expected) from None
        if parts[0] in RESERVED_TOP or parts[0].startswith(RESERVED_PREFIX):
            raise ValueError(cls.expected)
        return value


class GitRef(Checked):
    expected = "a git ref name (git check-ref-format: no '..', '@{', spaces, control characters, '~^:?*[\\')"

    @classmethod
    def check(cls, value: str) -> str:
        if (not value or value == "@" or value.startswith(("/", "-")) or value.endswith(("/", "."))
                or ".." in value or "@{" in value or "//" in value
                or any(c in value for c in " ~^:?*[\\\x7f") or any(ord(c) < 0x20 for c in value)
                or _bad_char(value, allow_tab=False) is not None
                or any(p.startswith(".") or p.endswith(".lock") for p in value.split("/"))
                or len(value) > 255):
            raise ValueError(cls.expected)
        return value


class RepoSlug(Checked):
    expected = "a GitHub repository as owner/name (letters, digits, '-', '_', '.')"
    _RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")

    @classmethod
    def check(cls, value: str) -> str:
        if not cls._RE.fullmatch(value) or value.split("/")[1] in (".", ".."):
            raise ValueError(cls.expected)
        return value


class CommitId(Checked):
    expected = "a git commit id (40 or 64 hexadecimal digits)"
    _RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")

    @classmethod
    def check(cls, value: str) -> str:
        if not cls._RE.fullmatch(value.lower()):
            raise ValueError(cls.expected)
        return value.lower()


class RustRelease(Checked):
    """A stable Rust release a build is pinned to ([project] rustc): "1.96.0", or "1.96" for any 1.96.x."""

    expected = 'a Rust release such as "1.96.0" (or "1.96" for any 1.96.x)'
    _RE = re.compile(r"[0-9]{1,3}\.[0-9]{1,4}(\.[0-9]{1,4})?")

    @classmethod
    def check(cls, value: str) -> str:
        if not cls._RE.fullmatch(value):
            raise ValueError(cls.expected)
        return value


def sample_fill(template: str, fields: tuple[str, ...]) -> str:
    """`template` with every {field} replaced by a harmless sample, to check what it renders to."""
    return template.format(**{f: "1.0.0" if f == "version" else "x" for f in fields})


class RelPath(Checked):
    """A relative path made of Components ("a/b/c"): never absolute, never '.', '..' or empty parts."""

    expected = "a relative path of file names separated by '/' (no '..', '.', empty parts or control characters)"

    @classmethod
    def check(cls, value: str) -> str:
        try:
            for part in value.split("/"):
                Component.check(part)
        except ValueError:
            raise ValueError(cls.expected) from None
        return value


class HttpUrl(Checked):
    """An http:// or https:// URL with a host: no credentials in it, no whitespace or control
    characters (it goes into requests, argv and scripts as it is)."""

    expected = "an http:// or https:// URL (with a host, without credentials, spaces or control characters)"

    @classmethod
    def check(cls, value: str) -> str:
        from urllib.parse import urlsplit

        if any(ch.isspace() for ch in value) or _bad_char(value, allow_tab=False) is not None or len(value) > MAX_LINE:
            raise ValueError(cls.expected)
        try:
            parts = urlsplit(value)
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            raise ValueError(cls.expected) from None
        if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
            raise ValueError(cls.expected)
        if parts.username is not None or parts.password is not None:
            raise ValueError(cls.expected)
        return value
