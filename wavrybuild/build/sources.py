"""One directory source that also holds std's crates.

-Zbuild-std needs std's dependencies from somewhere; offline that is the vendored copy next to
rust-src, given to cargo as the crates.io replacement. A crate that replaces crates.io itself
(`cargo vendor` output, Debian's /usr/share/cargo/registry) would lose its own replacement to
ours (found by `cargo.crates_io_directory`), so the two directories are merged into one: a
directory of links, one per crate.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .. import env as env_
from ..errors import ConfigError


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
