"""SHA-256 digests and the SHA256SUMS file in the format `sha256sum -c` reads."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .fsutil import read_regular, unsafe_name

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


SUMS_LIMIT = 64 << 20  # a SHA256SUMS of a million files is 80 MiB; a bigger one is not a release's


def read_sums(path: Path) -> str:
    """SHA256SUMS' text, byte for byte: no newline translation (text mode would read a lone CR as a
    line break, which `sha256sum` does not). Raises Refused (not a regular file, too large),
    UnicodeDecodeError."""
    return read_regular(path, SUMS_LIMIT).decode("utf-8")


def sums_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) as `sha256sum -c` splits the file: on LF only — not on the VT, FF, FS,
    NEL, U+2028 … that str.splitlines also breaks at, which would make two entries of one line that
    sha256sum reads as one name —, one CR before the LF dropped (CRLF files)."""
    out = []
    for i, line in enumerate(text.split("\n"), 1):
        out.append((i, line[:-1] if line.endswith("\r") else line))
    return out


HEX = frozenset("0123456789abcdefABCDEF")


def _entry(line: str) -> tuple[str, str] | None:
    """(digest, name) of a line in `sha256sum`'s own form: optional blanks, an optional `\\`
    (escaped name), 64 hex digits, a blank, ` ` (text) or `*` (binary), the name. None for anything
    else — the BSD `SHA256 (name) = digest` form and the one-blank form are never what wavrybuild
    writes, and install.sh does not read them."""
    body = line.lstrip(" \t")
    body = body[1:] if body.startswith("\\") else body
    digest, sep, mode, name = body[:64], body[64:65], body[65:66], body[66:]
    if len(digest) != 64 or any(c not in HEX for c in digest) or sep not in (" ", "\t") or mode not in (" ", "*"):
        return None
    # An escaped name may hold `\\n` (a newline) or `\\\\` (a backslash): no plain relative path does,
    # so a backslash left in it is refused below like any other.
    return digest, name


def parse_sums(text: str) -> dict[str, str]:
    """name -> digest, reading every line as `sha256sum -c --strict` does (empty lines and `#`
    comments skipped, anything else must be a checksum line). Refuses, besides, what `sha256sum -c`
    and install.sh would read differently (a name twice: they take the first) and names that are
    not plain relative paths."""
    out: dict[str, str] = {}
    first: dict[str, int] = {}
    for i, line in sums_lines(text):
        if not line or line.startswith("#"):
            continue
        entry = _entry(line)
        if entry is None:
            raise SumsError(i, line)
        digest, name = entry
        why = unsafe_name(name)
        if why:
            raise SumsError(i, line, f"the file name {why}")
        if name in first:
            raise SumsError(i, line, f"a second entry for {name} (the first is on line {first[name]})")
        first[name] = i
        out[name] = digest.lower()
    return out
