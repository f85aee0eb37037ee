"""SHA-256 digests and the SHA256SUMS file in the format `sha256sum -c` reads."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .fsutil import unsafe_name

SUMS_NAME = "SHA256SUMS"
SIDECAR_SUFFIX = ".sha256"
SIGNATURE_SUFFIXES = (".asc", ".minisig", ".sig", ".sigstore.json")  # gpg, minisign, ssh, sigstore


def sha256_file(path: Path) -> str:
    # file_digest hands the file to OpenSSL in large reads, without holding the GIL.
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def sha256_many(paths: Iterable[Path]) -> dict[Path, str]:
    """Digests of several files, hashed in parallel (hashing releases the GIL)."""
    paths = list(paths)
    if len(paths) <= 1:
        return {p: sha256_file(p) for p in paths}
    with ThreadPoolExecutor(max_workers=min(len(paths), os.cpu_count() or 2)) as pool:
        return dict(zip(paths, pool.map(sha256_file, paths), strict=True))


def format_line(digest: str, name: str) -> str:
    # Two spaces: text mode, the form `sha256sum` writes and every `sha256sum -c` reads.
    return f"{digest}  {name}\n"


def format_sums(digests: dict[str, str]) -> str:
    return "".join(format_line(d, n) for n, d in sorted(digests.items()))


@dataclass(frozen=True)
class SumsError(Exception):
    line: int
    text: str
    why: str = "not a checksum line"

    def __str__(self) -> str:
        return f"line {self.line}: {self.why}: {self.text!r}"


def parse_sums(text: str) -> dict[str, str]:
    """name -> digest. Accepts text (`  `) and binary (` *`) mode lines, as sha256sum does; refuses
    what `sha256sum -c` and install.sh would read differently (a name twice: they take the first)
    and names that are not plain relative paths."""
    out: dict[str, str] = {}
    first: dict[str, int] = {}
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, name = line.partition(" ")
        name = name[1:] if name[:1] in (" ", "*") else ""
        if len(digest) != 64 or not sep or not name or any(c not in "0123456789abcdefABCDEF" for c in digest):
            raise SumsError(i, line)
        why = unsafe_name(name)
        if why:
            raise SumsError(i, line, f"the file name {why}")
        if name in first:
            raise SumsError(i, line, f"a second entry for {name} (the first is on line {first[name]})")
        first[name] = i
        out[name] = digest.lower()
    return out
