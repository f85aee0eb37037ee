"""[package], [checksum] and [sign]: how archives, SHA256SUMS and signatures are made."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..env import Settings
from ..errors import ConfigError, suggest
from . import checks as c
from .models import GROUPS, SIGN_METHOD_KEYS, SIGN_METHODS, ChecksumConfig, PackageConfig, SignConfig
from .values import Line

PACKAGE_KEYS = {"format", "windows-format", "include", "compression-level", "group"}
CHECKSUM_KEYS = {"sidecars"}


def _compression_level(level: Any) -> int:
    if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 22:
        raise ValueError("a whole number from 0 to 22 (gzip/xz use 0-9, zstd 1-22)")
    return level


_PACKAGE_CHECKS: dict[str, Callable[[Any], Any]] = {
    "format": c.choice(c.ARCHIVE_FORMATS), "windows-format": c.choice(c.ARCHIVE_FORMATS),
    "include": lambda v: tuple(str(x) for x in c.line_list(v)),
    "compression-level": _compression_level, "group": c.choice(GROUPS),
}


def parse_package(path: Path, raw: Any) -> PackageConfig:
    table = c.check_table(path, "package.", raw)
    c.reject_unknown(path, "package.", table, PACKAGE_KEYS)
    values: dict[str, Any] = {}
    for key, value in table.items():
        try:
            values[key.replace("-", "_")] = _PACKAGE_CHECKS[key](value)
        except ValueError as exc:
            raise ConfigError(f"{path}: package.{key}: expected {exc}, got {value!r}") from None
    for pattern in values.get("include", ()):
        parts = Path(pattern).parts
        if pattern.strip() and not parts:
            raise ConfigError(f"{path}: package.include: {pattern!r} is the crate directory itself",
                              hint="name the files to ship, e.g. \"LICENSE*\" or \"completions/*\"")
        if Path(pattern).is_absolute() or ".." in parts or not pattern.strip():
            raise ConfigError(
                f"{path}: package.include: {pattern!r} would reach outside the crate directory",
                hint="use a relative pattern inside the crate directory, e.g. \"LICENSE*\" or \"completions/*\"",
            )
    return PackageConfig(**values)


def _method_options(path: Path, method: str, value: Any, settings: Settings) -> tuple[tuple[str, Line | None], ...]:
    sub = c.check_table(path, f"sign.{method}.", value)
    for k, v in sub.items():
        if k not in SIGN_METHOD_KEYS[method]:
            if c.looks_secret(k):
                raise c.secret_refused(path, f"sign.{method}.", k)
            raise c.unknown_key(path, f"sign.{method}.", k, SIGN_METHOD_KEYS[method])
        if not isinstance(v, str) or not v or (k.endswith("-env") and not c.ENV_NAME.fullmatch(v)):
            # A *-env value is not echoed: it may be the passphrase pasted in place of its name.
            got = "" if k.endswith("-env") else f", got {v!r}"
            what = "the name of an environment variable" if k.endswith("-env") else "a non-empty string"
            raise ConfigError(f"{path}: sign.{method}.{k}: expected {what}{got}")
    # WAVRYBUILD_<METHOD>_<KEY> wins over the file: CI passes key paths that way.
    env = {k: v for (m, k), v in settings.sign.items() if m == method and k in SIGN_METHOD_KEYS[method]}
    merged = {**sub, **env}
    out: list[tuple[str, Line | None]] = []
    for k, v in sorted(merged.items()):
        # Key files, identities and URLs go into the signing tools' argv: one line each, never NUL.
        try:
            out.append((k, Line.parse(v)))
        except ValueError as exc:
            where = (f"WAVRYBUILD_{method.upper()}_{k.upper().replace('-', '_')}" if k in env
                     else f"{path}: sign.{method}.{k}")
            raise ConfigError(f"{where}: expected {exc}") from None
    return tuple(out)


def parse_sign(path: Path, raw: Any, settings: Settings) -> SignConfig:
    table = c.check_table(path, "sign.", raw)
    c.reject_unknown(path, "sign.", table, {"methods", "artifacts", *SIGN_METHODS})
    options = {m: _method_options(path, m, table.get(m, {}), settings) for m in SIGN_METHODS
               if m in table or any(k[0] == m for k in settings.sign)}
    methods_raw = settings.sign_methods
    where = "WAVRYBUILD_SIGN_METHODS" if methods_raw is not None else f"{path}: sign.methods"
    v = c.values(path, "sign.", {k: x for k, x in table.items() if k in ("methods", "artifacts")},
                 {"methods": (c.str_list, ()), "artifacts": (c.bool_value, False)})
    methods = tuple(methods_raw.replace(",", " ").split()) if methods_raw is not None else v["methods"]
    artifacts = v["artifacts"]
    for m in methods:
        if m not in SIGN_METHODS:
            near = suggest(m, list(SIGN_METHODS))
            raise ConfigError(f"{where}: unknown signing method {m!r}" + (f"; did you mean {near!r}?" if near else ""),
                              hint="methods: " + ", ".join(SIGN_METHODS))
    return SignConfig(methods=methods, artifacts=artifacts, options=tuple(sorted(o for o in options.items() if o[1])))


def parse_checksum(path: Path, raw: Any) -> ChecksumConfig:
    table = c.check_table(path, "checksum.", raw)
    c.reject_unknown(path, "checksum.", table, CHECKSUM_KEYS)
    try:
        return ChecksumConfig(sidecars=c.bool_value(table.get("sidecars", False)))
    except ValueError as exc:
        raise ConfigError(f"{path}: checksum.sidecars: expected {exc}, got {table['sidecars']!r}") from None
