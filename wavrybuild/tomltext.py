"""TOML text that init writes: strings and keys escaped so a value from outside (a package name from
cargo metadata, a value from a peer's config) cannot end its string, line or table, and a key or
table with its one-line comment."""

from __future__ import annotations

import re
from collections.abc import Sequence

COMMENT_COLUMN = 44


def toml_string(value: str) -> str:
    """A TOML basic string holding exactly `value`: quotes, backslashes and every control character
    escaped (a name from outside cannot end the string, the line or the table)."""
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        elif 0xD800 <= code <= 0xDFFF:
            raise ValueError("text without lone surrogates")  # no TOML (or UTF-8) can hold one
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def toml_key(value: str) -> str:
    return value if re.fullmatch(r"[A-Za-z0-9_-]+", value) else toml_string(value)


def toml_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(toml_string(v) for v in values) + "]"


def commented(code: str, comment: str) -> str:
    """A key (or table) and its one-line comment: beside it, or above it when the key is long."""
    if len(code) < COMMENT_COLUMN - 1:
        return f"{code:<{COMMENT_COLUMN - 1}} # {comment}"
    return f"# {comment}\n{code}"


def one_line(text: str, limit: int = 200) -> str:
    """Text from outside shown in a comment or a table cell: control and format characters as \\uXXXX
    (a newline cannot start a TOML line of its own), at most `limit` characters."""
    out = []
    for ch in text:
        code = ord(ch)
        if code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0 or ch in "\u2028\u2029\u200e\u200f\u202a\u202b\u202c\u202d\u202e" \
                or 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04X}")
        else:
            out.append(ch)
    s = "".join(out)
    return s if len(s) <= limit else s[: limit - 1] + "…"
