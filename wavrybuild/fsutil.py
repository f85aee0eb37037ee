"""Files appear whole or not at all: write to a temp name in the same directory, fsync, rename;
a full disk is one error naming the file. Files from outside are read without hanging or
exhausting memory (read_regular). `state_dir` and `tmp_dir` name wavrybuild's own corner of dist/
(here, below dist.py, record.py and manifest.py, which all write there)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from .errors import WavryError

if TYPE_CHECKING:
    from filelock import BaseFileLock


@contextlib.contextmanager
def atomic_writer(dest: Path, mode: int | None = None, tmp_dir: Path | None = None) -> Iterator[IO[bytes]]:
    """Yields a binary file; on success it replaces `dest` atomically, on any error it vanishes.

    `tmp_dir` (same filesystem) keeps the temp file out of dest's directory, so a process killed
    mid-write leaves nothing there.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    where = tmp_dir or dest.parent
    where.mkdir(parents=True, exist_ok=True)
    with disk_full_is_an_error(dest):
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=where)
    try:
        with disk_full_is_an_error(dest):
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


# A full disk or quota is the machine's state, not a bug of ours: one message naming the file.
FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def disk_full(exc: BaseException, dest: Path | None = None) -> WavryError | None:
    """The error to show for a full disk (None: `exc` is something else), naming `dest` or else
    the file the OSError names."""
    if not isinstance(exc, OSError) or exc.errno not in FULL:
        return None
    where = dest if dest is not None else exc.filename if exc.filename is not None else "a file"
    return WavryError(f"{where}: cannot be written: {os.strerror(exc.errno)}",
                      hint="free space on the disk holding it (nothing was half-written), then run the task again")


@contextlib.contextmanager
def disk_full_is_an_error(dest: Path) -> Iterator[None]:
    """An OSError saying the disk (or quota) is full becomes a WavryError naming `dest`; the
    caller's cleanup (removing its partial file) still runs, as the error passes through it."""
    try:
        yield
    except OSError as exc:
        full = disk_full(exc, dest)
        if full is None:
            raise
        raise full from None


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
    backslash (a separator on Windows), no NUL, other control character or line separator."""
    if not isinstance(name, str) or not name:
        return "not a non-empty string"
    if any(ord(c) < 32 or 0x7f <= ord(c) <= 0x9f or c in "\u2028\u2029" for c in name):
        # C0, DEL, C1 (NEL is a line break to some readers) and the Unicode line separators.
        return "contains a control character"
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "is an absolute path"
    if any(seg in ("", ".", "..") for seg in name.split("/")):
        return "has an empty, '.' or '..' segment"
    return None


class Refused(Exception):
    """A file given from outside that wavrybuild will not read; `why` says what it is instead."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path = path
        self.why = why


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def file_kind(mode: int) -> str:
    """What a non-regular file is, for a message: "a FIFO (named pipe)", "a character device" …"""
    return next((what for test, what in _KINDS if test(mode)), "not a regular file")


def _not_readable(st: os.stat_result, limit: int) -> str | None:
    if not stat.S_ISREG(st.st_mode):
        return f"is {file_kind(st.st_mode)}, not a regular file"
    if st.st_size > limit:
        return f"is {st.st_size} bytes, more than the {limit} allowed"
    return None


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, or Refused. Opened without blocking
    and checked on the open descriptor: a FIFO would hang the open or the read, /dev/zero never
    ends, and a check of the path before opening it could see another file than the one read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise Refused(path, "no such file") from None
    except OSError as exc:
        raise Refused(path, f"cannot be read: {exc.strerror}") from None
    why = _not_readable(os.fstat(fd), limit)
    if why:
        os.close(fd)
        raise Refused(path, why)
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(limit + 1)  # a file still growing stops here too
        except OSError as exc:
            raise Refused(path, f"cannot be read: {exc.strerror}") from None
    if len(data) > limit:
        raise Refused(path, f"is more than the {limit} bytes allowed")
    return data


_HELD: dict[Path, BaseFileLock] = {}


def lock_file(directory: Path) -> Path:
    """The file whose lock stands for `directory`: in the user's cache (never in the project, so a
    dry run creates nothing there and a checkout stays clean), named by the directory's resolved
    path, so every spelling of one dist/ takes the same lock."""
    from .env import cache_home

    key = hashlib.sha256(str(directory.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return cache_home() / "wavrybuild" / "locks" / f"{key}.lock"


def lock_dir(directory: Path, on_wait: Callable[[str], None], *, wait: bool = True) -> None:
    """Hold an exclusive lock for `directory` (dist/) until this process ends. Two tasks on one
    dist/ run one after the other; with wait=False the second fails at once. Taken once per
    process (`invoke build smoke` is one).

    The lock is the `filelock` package's (flock on POSIX, msvcrt's locking on Windows) on
    `lock_file(directory)`: the operating system lets it go with the process, however it ends."""
    from filelock import FileLock, Timeout

    key = directory.resolve()
    if key in _HELD:
        return
    path = lock_file(directory)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # No soft (file-exists) fallback: a killed task would leave it behind and every later task wait.
        lock = FileLock(path, mode=0o600, thread_local=False, fallback_to_soft=False)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if not wait:
                raise WavryError(f"{directory}: another wavrybuild task is using it",
                                 hint="wait for it to finish (unset WAVRYBUILD_NO_WAIT to wait for it)") from None
            on_wait(f"{directory}: another wavrybuild task is using it; waiting for it to finish")
            lock.acquire()
    except OSError as exc:
        raise WavryError(f"{directory}: cannot take its lock ({path}): {exc.strerror or exc}",
                         hint="the lock lives in $XDG_CACHE_HOME/wavrybuild/locks (~/.cache by default): "
                              "make it writable, or point XDG_CACHE_HOME at a writable directory") from None
    _HELD[key] = lock


# --- dist/'s own corner --------------------------------------------------------------------------

def state_dir(dist: Path) -> Path:
    """dist/.wavrybuild: what wavrybuild keeps between tasks (the build record, resume keys, staged
    and signed binaries, fetched parts); never an artifact (values.RESERVED_TOP)."""
    return dist / ".wavrybuild"


def tmp_dir(dist: Path) -> Path:
    """Where files for dist/ are written before their rename: never a half-written file in dist/."""
    return state_dir(dist) / "tmp"
