"""Deterministic archives: the same inputs give the same bytes, whoever builds them and whenever.

Sorted entries, owner/group 0 with no names, modes normalised to 0755/0644, every mtime the release
epoch, and no timestamp or file name in the gzip header. Written through a hashing writer so the
SHA-256 comes for free while the archive is written.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import stat
import tarfile
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from .. import env as env_
from .. import proc
from ..errors import ConfigError, ToolMissing

DEFAULT_LEVELS = {"tar.gz": 6, "tar.xz": 6, "tar.zst": 3, "zip": 6}  # gzip's, xz's and zstd's own defaults
ZIP_EPOCH_MIN = 315532800  # 1980-01-01: zip cannot say earlier


@dataclass(frozen=True)
class Entry:
    """A file in the archive: where it goes (posix, below the top dir) and where it comes from."""

    arcname: str
    source: Path
    executable: bool


def extension(fmt: str) -> str:
    return "." + fmt


class HashingWriter(io.RawIOBase):
    """Pass-through writer that hashes and counts what goes through it."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.sha256.update(b)
        self.size += len(b)
        self.raw.write(b)
        return len(b)


def _dirs_of(entries: Iterable[Entry]) -> list[str]:
    dirs: set[str] = set()
    for e in entries:
        parts = e.arcname.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    return sorted(dirs)


def _tar_info(name: str, *, mode: int, size: int, mtime: int, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _write_tar(out: IO[bytes], top: str, entries: list[Entry], mtime: int) -> None:
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_tar_info(top, mode=0o755, size=0, mtime=mtime, kind=tarfile.DIRTYPE))
        for d in _dirs_of(entries):
            tar.addfile(_tar_info(f"{top}/{d}", mode=0o755, size=0, mtime=mtime, kind=tarfile.DIRTYPE))
        for e in sorted(entries, key=lambda e: e.arcname):
            size = e.source.stat().st_size
            info = _tar_info(f"{top}/{e.arcname}", mode=0o755 if e.executable else 0o644,
                             size=size, mtime=mtime, kind=tarfile.REGTYPE)
            with e.source.open("rb") as f:
                tar.addfile(info, f)


def _write_zip(out: IO[bytes], top: str, entries: list[Entry], mtime: int, level: int) -> None:
    stamp = time.gmtime(max(mtime, ZIP_EPOCH_MIN))[:6]

    def info(name: str, mode: int) -> zipfile.ZipInfo:
        zi = zipfile.ZipInfo(name, date_time=stamp)
        zi.create_system = 3  # unix: external_attr carries the mode
        zi.external_attr = mode << 16
        return zi

    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        zf.writestr(info(f"{top}/", stat.S_IFDIR | 0o755), b"")
        for d in _dirs_of(entries):
            zf.writestr(info(f"{top}/{d}/", stat.S_IFDIR | 0o755), b"")
        for e in sorted(entries, key=lambda e: e.arcname):
            zi = info(f"{top}/{e.arcname}", stat.S_IFREG | (0o755 if e.executable else 0o644))
            zi.compress_type = zipfile.ZIP_DEFLATED
            with e.source.open("rb") as src, zf.open(zi, "w") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)


def write_archive(out: BinaryIO, fmt: str, top: str, entries: list[Entry], mtime: int, level: int | None = None) -> None:
    """Write the archive to `out` (a binary file). Deterministic for the same arguments."""
    level = DEFAULT_LEVELS[fmt] if level is None else level
    if fmt == "zip":
        # zipfile seeks back to patch sizes; give it a seekable buffer-free path only if `out` is.
        _write_zip(out, top, entries, mtime, min(level, 9))
        return
    if fmt == "tar.gz":
        # filename="" and mtime=0: no name and no time in the gzip header.
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=min(level, 9), mtime=0) as gz:
            _write_tar(gz, top, entries, mtime)  # type: ignore[arg-type]
    elif fmt == "tar.xz":
        with lzma.LZMAFile(out, "wb", preset=min(level, 9)) as xz:
            _write_tar(xz, top, entries, mtime)
    elif fmt == "tar.zst":
        try:
            import zstandard
        except ImportError:
            raise ToolMissing("tar.zst archives need the zstandard package", hint="pip install zstandard") from None
        # Single-threaded and with the content size left out: the frame is the same for the same input.
        cctx = zstandard.ZstdCompressor(level=level, write_content_size=False, threads=0)
        with cctx.stream_writer(out, closefd=False) as zst:
            _write_tar(zst, top, entries, mtime)
    else:
        raise ValueError(f"unknown archive format {fmt!r}")


def source_date_epoch(repo: Path) -> tuple[int, str]:
    """(epoch, where it came from): SOURCE_DATE_EPOCH, else the commit time, else 1980-01-01."""
    env = env_.var("SOURCE_DATE_EPOCH")
    if env:
        try:
            return int(env), "SOURCE_DATE_EPOCH"
        except ValueError:

            raise ConfigError(f"SOURCE_DATE_EPOCH={env!r} is not a whole number of seconds") from None

    out = proc.capture(["git", "-C", str(repo), "log", "-1", "--format=%ct"])
    if out and out.strip().isdigit():
        return int(out.strip()), "git commit time"
    return ZIP_EPOCH_MIN, "fixed (no SOURCE_DATE_EPOCH, not a git checkout)"


def member_digests(path: Path, fmt: str) -> dict[str, str]:
    """SHA-256 of every regular file in an archive written here, by its base name (to check an
    SBOM's binaries against the archive that ships them)."""
    import hashlib
    import zipfile

    out: dict[str, str] = {}
    if fmt == "zip":
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.is_dir():
                    out[Path(info.filename).name] = hashlib.sha256(zf.read(info)).hexdigest()
        return out
    if fmt == "tar.zst":
        try:
            import zstandard
        except ImportError:
            raise ToolMissing("tar.zst archives need the zstandard package", hint="pip install zstandard") from None
        with path.open("rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as stream, \
                tarfile.open(fileobj=stream, mode="r|") as tf:
            for m in tf:
                f = tf.extractfile(m) if m.isreg() else None
                if f is not None:
                    out[Path(m.name).name] = hashlib.sha256(f.read()).hexdigest()
        return out
    with tarfile.open(path) as tf:
        for m in tf.getmembers():
            f = tf.extractfile(m) if m.isreg() else None
            if f is not None:
                out[Path(m.name).name] = hashlib.sha256(f.read()).hexdigest()
    return out
