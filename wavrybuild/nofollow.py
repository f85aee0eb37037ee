"""Files under a directory, reached without ever following a symbolic link.

Parts of a CI matrix and objects from storage come from other machines: a name they give is
opened one component at a time from a directory descriptor (`dir_fd`), each with O_NOFOLLOW, so
a link anywhere on the way — the file itself or a directory above it — is refused rather than
followed, and a link swapped in between a check and an open cannot redirect it either. Only
regular files are opened for reading (O_NONBLOCK: a FIFO never blocks the open), and files are
created with O_EXCL (never through something already there).

Where the platform has no `dir_fd` (Windows), each component is checked with lstat first.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC
_READ = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | _CLOEXEC | getattr(os, "O_BINARY", 0)
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC | getattr(os, "O_BINARY", 0)
_AT = os.open in os.supports_dir_fd and os.mkdir in os.supports_dir_fd


class Refused(Exception):
    """A name that cannot be opened as asked; the message says why, without a traceback."""


def _why(exc: OSError, name: str, parent: int | Path) -> str:
    """The reason in words: a link is named as such (O_NOFOLLOW reports it as ELOOP or ENOTDIR)."""
    with contextlib.suppress(OSError):
        st = (os.stat(name, dir_fd=parent, follow_symlinks=False) if isinstance(parent, int)
              else os.lstat(parent / name))
        if stat.S_ISLNK(st.st_mode):
            return "is a symbolic link (never followed)"
        if exc.errno in (errno.ENOTDIR, errno.EISDIR):
            return "is not a directory" if exc.errno == errno.ENOTDIR else "is a directory"
    if exc.errno == errno.ENOENT:
        return "does not exist"
    return exc.strerror or str(exc)


def _open_at(parent: int | Path, name: str, flags: int, mode: int = 0o644) -> int:
    if isinstance(parent, int):
        return os.open(name, flags, mode, dir_fd=parent)
    if os.path.islink(parent / name):  # no dir_fd here: check, then open
        raise OSError(errno.ELOOP, "symbolic link")
    return os.open(parent / name, flags, mode)


def open_root(path: Path, *, follow: bool = False) -> int | Path:
    """The directory `path` to open names under (itself not a link unless `follow`: the user named it)."""
    if not _AT:
        if not follow and path.is_symlink():
            raise Refused(f"{path} is a symbolic link (never followed)")
        if not path.is_dir():
            raise Refused(f"{path} is not a directory")
        return path
    try:
        return os.open(path, (_DIR & ~_NOFOLLOW) if follow else _DIR)
    except OSError as exc:
        raise Refused(f"{path} {_why(exc, path.name, path.parent)}") from None


def close_root(root: int | Path) -> None:
    if isinstance(root, int):
        os.close(root)


def _check_dir(parent: Path, name: str, where: str) -> None:
    try:
        st = os.lstat(parent / name)
    except OSError as exc:
        raise Refused(f"{where} {_why(exc, name, parent)}") from None
    if stat.S_ISLNK(st.st_mode):
        raise Refused(f"{where} is a symbolic link (never followed)")
    if not stat.S_ISDIR(st.st_mode):
        raise Refused(f"{where} is not a directory")


@contextlib.contextmanager
def _descend(root: int | Path, dirs: Sequence[str], *, make: bool) -> Iterator[int | Path]:
    """The directory root/dirs…, every step opened without following a link (made when `make`)."""
    fds: list[int] = []
    parent = root
    try:
        for i, d in enumerate(dirs):
            if make:
                with contextlib.suppress(FileExistsError):
                    if isinstance(parent, int):
                        os.mkdir(d, 0o755, dir_fd=parent)
                    else:
                        os.mkdir(parent / d, 0o755)
            if isinstance(parent, Path):  # no dir_fd (Windows): look, then go on by path
                _check_dir(parent, d, "/".join(dirs[: i + 1]))
                parent = parent / d
                continue
            try:
                fd = _open_at(parent, d, _DIR)
            except OSError as exc:
                raise Refused(f"{'/'.join(dirs[: i + 1])} {_why(exc, d, parent)}") from None
            fds.append(fd)
            parent = fd
        yield parent
    finally:
        for fd in fds:
            os.close(fd)


def open_file(root: int | Path, rel: str, *, max_size: int | None = None) -> tuple[int, os.stat_result]:
    """A descriptor to read root/rel (a '/'-separated relative name) and its stat: a regular file,
    reached without a link anywhere, at most `max_size` bytes. Refused says why."""
    *dirs, name = rel.split("/")
    with _descend(root, dirs, make=False) as parent:
        try:
            fd = _open_at(parent, name, _READ)
        except OSError as exc:
            raise Refused(f"{rel} {_why(exc, name, parent)}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise Refused(f"{rel} is not a regular file")
    if max_size is not None and st.st_size > max_size:
        os.close(fd)
        raise Refused(f"{rel} is larger than {max_size} bytes")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return fd, st


def read_file(root: int | Path, rel: str, max_size: int) -> bytes:
    fd, _st = open_file(root, rel, max_size=max_size)
    with os.fdopen(fd, "rb") as f:
        data = f.read(max_size + 1)
    if len(data) > max_size:
        raise Refused(f"{rel} is larger than {max_size} bytes")
    return data


def create_file(root: int | Path, rel: str) -> int:
    """A descriptor to write the new file root/rel: its directories made as needed, nothing on the
    way a link, and the file itself not there before (O_EXCL)."""
    *dirs, name = rel.split("/")
    with _descend(root, dirs, make=True) as parent:
        try:
            return _open_at(parent, name, _CREATE)
        except OSError as exc:
            raise Refused(f"{rel} {'already exists' if exc.errno == errno.EEXIST else _why(exc, name, parent)}") from None


def kind_at(root: int | Path, rel: str) -> str | None:
    """What root/rel is, looked at without following links: None (nothing), "file", "dir",
    "link" or "other"; a link or a non-directory on the way is reported as "link"/"other"."""
    *dirs, name = rel.split("/")
    try:
        with _descend(root, dirs, make=False) as parent:
            st = (os.stat(name, dir_fd=parent, follow_symlinks=False) if isinstance(parent, int)
                  else os.lstat(parent / name))
    except Refused as exc:
        return None if str(exc).endswith("does not exist") else "link" if "symbolic link" in str(exc) else "other"
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return "link"
    return "file" if stat.S_ISREG(st.st_mode) else "dir" if stat.S_ISDIR(st.st_mode) else "other"
