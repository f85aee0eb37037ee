"""[[artifacts]]: release files that are not Rust binaries (a website, docs, assets), made by a
command and packed by the same deterministic archiver as the binaries."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import checks as c
from .models import Core

KEYS = ("name", "command", "directory", "top")
EXTENSIONS = {".tar.gz": "tar.gz", ".tar.xz": "tar.xz", ".tar.zst": "tar.zst", ".zip": "zip"}


@dataclass(frozen=True)
class ExtraArtifact:
    name: str  # its file name in dist/ (website-build.tar.gz); the extension says the format
    format: str
    directory: Path  # absolute: what is packed (made by `command`)
    command: tuple[str, ...] = ()  # argv, run in targets.toml's directory; () when the directory is prebuilt
    top: str = ""  # the archive's top directory (default: the name without its extension)


def _format(where: str, name: Any) -> str:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", name) or ".." in name:
        raise ConfigError(f"{where}.name: {name!r} is not a usable file name (letters, digits, . _ + -)")
    for ext, fmt in EXTENSIONS.items():
        if name.endswith(ext):
            return fmt
    raise ConfigError(f"{where}.name: {name!r}: the name says the archive format",
                      hint="end it with " + ", ".join(EXTENSIONS))


def parse_artifacts(cfg: Core, raw: Any) -> tuple[ExtraArtifact, ...]:
    path = cfg.project.config_path
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: artifacts: expected [[artifacts]] tables")
    out: list[ExtraArtifact] = []
    for i, item in enumerate(raw):
        where = f"{path}: artifacts[{i}]"
        table = c.check_table(path, f"artifacts[{i}].", item)
        c.reject_unknown(path, f"artifacts[{i}].", table, KEYS)
        for key in ("name", "directory"):
            if key not in table:
                raise ConfigError(f"{where}.{key}: missing", hint="[[artifacts]] needs name and directory")
        fmt = _format(where, table["name"])
        directory = table["directory"]
        if not isinstance(directory, str) or not directory or Path(directory).is_absolute() or ".." in Path(directory).parts:
            raise ConfigError(f"{where}.directory: {directory!r}: expected a relative path inside the project",
                              hint='e.g. directory = "apps/website/dist"')
        try:
            command = c.str_list(table.get("command", []))
        except ValueError as exc:
            raise ConfigError(f"{where}.command: expected {exc} (an argv, never a shell string)") from None
        top = table.get("top", "")
        if not isinstance(top, str) or (top and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", top)):
            raise ConfigError(f"{where}.top: {top!r} is not a usable directory name")
        if any(a.name == table["name"] for a in out):
            raise ConfigError(f"{where}.name: {table['name']!r} is listed twice")
        stem = next(table["name"].removesuffix(ext) for ext in EXTENSIONS if table["name"].endswith(ext))
        out.append(ExtraArtifact(table["name"], fmt, (path.parent / directory).resolve(), tuple(command), top or stem))
    return tuple(out)
