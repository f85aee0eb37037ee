"""[release] notes-template: a Markdown file laying out RELEASE_NOTES.md with placeholders.

Only `{name}` of a fixed set is replaced (never str.format: `{changelog.__class__}` or `{0[x]}`
would reach into Python objects), `{{` and `}}` are literal braces, and anything else in braces —
an unknown name, a lone brace — is an error naming the file, the line and the placeholder, found
when targets.toml loads, before anything is built."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import suggest
from ..fsutil import Refused, read_regular

# Each placeholder's text (changelog.py's `blocks`): the release's name and version, the changes
# (the changelog's section or the commits'; "" when there are none), the downloads table, how to
# verify, and the commit built ("" outside git).
PLACEHOLDERS = ("name", "version", "changelog", "artifacts", "verify", "commit")
TEMPLATE_LIMIT = 1 << 20  # bytes: a layout, not a document
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
HINT = ("placeholders: " + ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        + "; write {{ and }} for a literal brace")


class TemplateError(ValueError):
    """What is wrong with a template, naming its file and line."""


@dataclass(frozen=True)
class NotesTemplate:
    path: Path
    # The template cut at its placeholders: literal text, or a placeholder's name (is_name True).
    parts: tuple[tuple[bool, str], ...]

    def render(self, values: Mapping[str, str]) -> str:
        text = "".join(values[p] if is_name else p for is_name, p in self.parts)
        return text.rstrip("\n") + "\n"


def _shown(name: str) -> str:
    return "{" + name + "}" if re.fullmatch(r"[A-Za-z0-9_ .-]{0,40}", name) else repr("{" + name + "}")[:80]


def parse_template(path: Path, text: str) -> NotesTemplate:
    parts: list[tuple[bool, str]] = []
    at = 0
    for m in _TOKEN.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        parts.append((False, text[at:m.start()]))
        at = m.end()
        token = m.group(0)
        if token in ("{{", "}}"):
            parts.append((False, token[0]))
        elif token in ("{", "}"):
            raise TemplateError(f"{path}:{line}: a lone {token!r}; write {token * 2} for a literal brace")
        elif m[1] in PLACEHOLDERS:
            parts.append((True, m[1]))
        else:
            near = suggest(m[1].strip(), list(PLACEHOLDERS))
            raise TemplateError(f"{path}:{line}: unknown placeholder {_shown(m[1])}"
                                + (f"; did you mean {{{near}}}?" if near else ""))
    parts.append((False, text[at:]))
    return NotesTemplate(path, tuple(p for p in parts if p[1] or p[0]))


def load_template(path: Path) -> NotesTemplate:
    """The template file, read once (a regular UTF-8 file of at most TEMPLATE_LIMIT bytes) and parsed."""
    try:
        text = read_regular(path, TEMPLATE_LIMIT).decode("utf-8")
    except Refused as exc:
        raise TemplateError(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise TemplateError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_template(path, text)
