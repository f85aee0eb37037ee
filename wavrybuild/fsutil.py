"""Files appear whole or not at all: write to a temp name in the same directory, fsync, rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_writer(dest: Path, mode: int | None = None, tmp_dir: Path | None = None) -> Iterator[IO[bytes]]:
    """Yields a binary file; on success it replaces `dest` atomically, on any error it vanishes.

    `tmp_dir` (same filesystem) keeps the temp file out of dest's directory, so a process killed
    mid-write leaves nothing there.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    where = tmp_dir or dest.parent
    where.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=where)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes 0600 files; give the usual 0666 & ~umask unless told otherwise.
        os.chmod(tmp, mode if mode is not None else 0o666 & ~_umask())
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_atomic(dest: Path, data: bytes | str, mode: int | None = None, tmp_dir: Path | None = None) -> None:
    with atomic_writer(dest, mode, tmp_dir) as f:
        f.write(data.encode() if isinstance(data, str) else data)


def copy_atomic(src: Path, dest: Path) -> None:
    """Copy keeping the executable bit."""
    with atomic_writer(dest, mode=src.stat().st_mode & 0o777) as f, src.open("rb") as s:
        shutil.copyfileobj(s, f, 1 << 20)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def fsync_dir(path: Path) -> None:
    _fsync_dir(path)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def unsafe_name(name: object) -> str | None:
    """Why a name from a manifest, SHA256SUMS or a server cannot be a path under dist/ (None: it can).

    Only plain relative paths: no absolute path, no `..` or `.` segment, no empty segment, no
    backslash (a separator on Windows), no NUL or other control character."""
    if not isinstance(name, str) or not name:
        return "not a non-empty string"
    if any(ord(c) < 32 or c == "\x7f" for c in name):
        return "contains a control character"
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "is an absolute path"
    if any(seg in ("", ".", "..") for seg in name.split("/")):
        return "has an empty, '.' or '..' segment"
    return None


_HELD: dict[Path, int] = {}


def lock_dir(directory: Path, on_wait: Callable[[str], None], *, wait: bool = True) -> None:
    """Hold an exclusive lock for `directory` (dist/) until this process ends. Two tasks on one
    dist/ run one after the other; with wait=False the second fails at once. Taken once per
    process (`invoke build smoke` is one).

    The lock is a flock on the directory that holds dist/: it exists before dist/ does (a dry run
    creates nothing) and no lock file appears anywhere."""
    import fcntl

    from .errors import WavryError

    key = directory.resolve()
    if key in _HELD:
        return
    holder = key.parent
    holder.mkdir(parents=True, exist_ok=True)
    fd = os.open(holder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        if not wait:
            os.close(fd)
            raise WavryError(f"{directory}: another wavrybuild task is using it",
                             hint="wait for it to finish (unset WAVRYBUILD_NO_WAIT to wait for it)") from None
        on_wait(f"{directory}: another wavrybuild task is using it; waiting for it to finish")
        fcntl.flock(fd, fcntl.LOCK_EX)
    _HELD[key] = fd

