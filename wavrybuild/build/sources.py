"""The crate's own crates.io replacement, and one directory source that also holds std's crates.

-Zbuild-std needs std's dependencies from somewhere; offline that is the vendored copy next to
rust-src, given to cargo as the crates.io replacement. A crate that replaces crates.io itself
(`cargo vendor` output, Debian's /usr/share/cargo/registry) would lose its own replacement to
ours, so the two directories are merged into one: a directory of links, one per crate.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from pathlib import Path

from .. import env as env_
from ..errors import ConfigError


def config_files(start: Path) -> list[Path]:
    """Cargo config files in the order cargo reads them: nearest directory first, CARGO_HOME last."""
    found: list[Path] = []
    for d in (start, *start.parents):
        for name in ("config.toml", "config"):
            f = d / ".cargo" / name
            if f.is_file():
                found.append(f)
                break
    home = env_.cargo_home()
    for name in ("config.toml", "config"):
        f = home / name
        if f.is_file() and f not in found:
            found.append(f)
            break
    return found


def crates_io_directory(start: Path) -> Path | None:
    """The directory source that replaces crates.io for a crate in `start`, if its cargo config says so."""
    replace_with: tuple[str, Path] | None = None
    directories: dict[str, Path] = {}
    for f in config_files(start):
        try:
            data = tomllib.loads(f.read_text())
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{f}: cargo cannot read this config either: {exc}") from None
        source = data.get("source")
        if not isinstance(source, dict):
            continue
        crates_io = source.get("crates-io")
        if replace_with is None and isinstance(crates_io, dict) and isinstance(crates_io.get("replace-with"), str):
            replace_with = (crates_io["replace-with"], f)
        for name, table in source.items():
            if isinstance(table, dict) and isinstance(table.get("directory"), str) and name not in directories:
                # Relative paths are relative to the directory holding `.cargo/` (cargo's rule).
                directories[name] = (f.parent.parent / table["directory"]).resolve()
    if replace_with is None:
        return None
    name, _ = replace_with
    if name not in directories:
        return None  # a registry mirror or local-registry: cargo's own replacement is kept out of reach
    return directories[name]


def merged_directory(std_vendor: Path, own: Path) -> Path:
    """One directory source with std's crates and the crate's: links, rebuilt when either changes.

    It lives under CARGO_HOME (remapped to /cargo in the binaries) and is named by the crate
    directories it holds, not by where they are, so clones of one commit get the same paths."""
    entries: dict[str, Path] = {}
    # For a crate both hold, std's copy wins: std's Cargo.lock pins its checksum and cannot be
    # changed, while the same version from crates.io is the same code for the crate.
    for src in (own, std_vendor):
        try:
            for d in sorted(src.iterdir()):
                if (d / "Cargo.toml").is_file():
                    entries[d.name] = d
        except OSError as exc:
            raise ConfigError(f"{src}: cannot read this directory source: {exc}") from None
    digest = hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()[:16]
    home = env_.cargo_home()
    merged = home / "wavrybuild-sources" / digest
    want = {n: str(p) for n, p in entries.items()}
    if merged.is_dir() and {n: os.readlink(merged / n) for n in os.listdir(merged)} == want:
        return merged
    tmp = merged.with_name(f".{digest}.{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    for name, path in entries.items():
        link = tmp / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(path)
    if merged.exists():
        # Replace the old link farm: a rename cannot replace a non-empty directory.
        old = merged.with_name(f".{digest}.old.{os.getpid()}")
        merged.rename(old)
        tmp.rename(merged)
        for link in old.iterdir():
            link.unlink()
        old.rmdir()
    else:
        tmp.rename(merged)
    return merged
