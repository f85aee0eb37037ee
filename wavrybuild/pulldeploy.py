#!/usr/bin/env python3
"""Pull-deploy: fetch a release asset onto a server that CI must not reach, verify it, switch to it.

    python3 pulldeploy.py --url https://example.com/releases/website-latest \\
        --asset website-build.tar.gz --dir /srv/website [--keep 3] [--minisign-key release.pub]

Needs only Python's standard library (and `minisign` when --minisign-key is given): copy this one
file to the server, or run `python -m wavrybuild.pulldeploy` where wavrybuild is installed.

1. `<url>/SHA256SUMS` is fetched, and with --minisign-key its signature `SHA256SUMS.minisig` is
   checked first; the asset's line in it gives the expected sha256. A plain http:// URL is refused
   unless --minisign-key (the signature vouches for what came over the wire) or --insecure is
   given; a redirect from https to http is always refused.
2. If `<dir>/current` already serves that sha256: nothing to do (exit 0, "unchanged"; --force
   deploys it again, e.g. to repair files changed by hand).
3. The asset is downloaded into `<dir>/.incoming-<pid>-…/`, hashed while it arrives, and refused if
   the hash differs. Unpacked (tar.gz, tar.xz, tar, zip; the archive's single top directory is
   stripped) into a new directory: only regular files and directories; an absolute name, `..`, a
   symlink, a hard link or a device in the archive refuses the whole asset.
4. The unpacked tree is moved to a new `<dir>/versions/<sha256[:16]>/` (`…-2`, `-3`, … when that
   name is taken: a directory is never replaced, as it may be the one being served), `<dir>/current`
   (a symlink) is switched atomically (a new symlink renamed over it), and only then are old
   versions pruned: all but the newest --keep, never the live one nor the one it replaced (a reader
   that resolved `current` a moment before the switch can finish; it goes on the next run).

The whole run — connecting, TLS, every header and body read, the signature check and unpacking —
has one deadline (--deadline seconds): a server that trickles its answer cannot hold it forever.
Anything that does not verify leaves `current` — and so what is served — untouched; a run killed at
any point leaves only an `.incoming-*` directory, which the next run removes. Exit codes: 0 deployed
or unchanged, 1 refused or failed (one line on stderr says why), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import http.client
import io
import os
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any

MARKER = ".pulldeploy-sha256"
LOCK = ".pulldeploy.lock"
SUMS = "SHA256SUMS"
CHUNK = 1 << 20
MAX_SUMS = 4 << 20
MAX_REDIRECTS = 5
USER_AGENT = "wavrybuild-pulldeploy"


class Refused(Exception):
    """The asset (or its checksums, or where they come from) did not verify, or cannot be unpacked safely."""


class Failed(Exception):
    """The network, the server or the deadline failed the run: nothing was refused, nothing switched."""


class Deadline:
    """One deadline for the whole run: every blocking step waits at most what is left of it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def left(self) -> float:
        return self._end - time.monotonic()

    def passed(self) -> bool:
        return self.left() <= 0

    def bound(self, timeout: float) -> float:
        """`timeout`, cut to what is left; TimeoutError (an OSError, as a socket's) once nothing is."""
        left = self.left()
        if left <= 0:
            raise TimeoutError(f"the --deadline of {self.seconds:g} s passed")
        return min(timeout, left)

    def check(self, doing: str) -> None:
        if self.passed():
            raise Failed(f"the --deadline of {self.seconds:g} s passed while {doing}")


# ---------------------------------------------------------------------------------------------
# Messages: one line, no control characters from a server, no signed query strings from a redirect.

def one_line(text: str, limit: int = 400) -> str:
    """A message as one printable line: a server's bytes may hold newlines or terminal escapes."""
    flat = " ".join(text.split())
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in flat)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def shown_url(url: str) -> str:
    """A URL for a message: without user info, and without its query (a redirect's may be a signed token)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host  # an IPv6 address, as it was written
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return one_line(url.split("?", 1)[0].split("@")[-1], 200)
    return one_line(f"{parts.scheme}://{host}{port}{parts.path}" + ("?…" if parts.query else ""), 200)


def _describe(exc: BaseException) -> str:
    """What went wrong on the wire, in words (not urllib's or http.client's class names)."""
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        return _describe(exc.reason)
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the server closed the connection without an answer"
    if isinstance(exc, http.client.IncompleteRead):
        return f"the connection closed after {len(exc.partial)} bytes of the body, more were announced"
    if isinstance(exc, http.client.LineTooLong):
        return "the answer has a line longer than 64 KiB: not an HTTP server"
    if isinstance(exc, http.client.BadStatusLine):
        line = str(exc.args[0]) if exc.args else ""
        return f"not an HTTP answer (status line {line[:60]!r})"
    if isinstance(exc, http.client.InvalidURL):
        return f"not a usable URL ({exc})"
    if isinstance(exc, http.client.HTTPException):
        return f"not a valid HTTP answer ({type(exc).__name__}: {exc})"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the TLS certificate is not trusted ({exc.verify_message})"
    if isinstance(exc, TimeoutError):
        return str(exc) if "--deadline" in str(exc) else "no answer within --timeout"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


# ---------------------------------------------------------------------------------------------
# HTTP: urllib (so https_proxy / no_proxy keep working), with the deadline inside every socket read.

class _DeadlineReader(io.RawIOBase):
    """A socket's reads, each bounded by what is left of the deadline: a trickle of one byte a
    second gets through a per-read timeout, not through this."""

    def __init__(self, sock: socket.socket, deadline: Deadline, timeout: float) -> None:
        super().__init__()
        self._sock, self._raw, self._deadline, self._timeout = sock, sock.makefile("rb", buffering=0), deadline, timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        self._sock.settimeout(self._deadline.bound(self._timeout))
        return self._raw.readinto(buffer)

    def close(self) -> None:
        self._raw.close()  # drops this reader's reference; the socket closes with its last one
        super().close()


class _DeadlineSocket:
    """What http.client sees as its socket: the real one, with reads and writes under the deadline."""

    def __init__(self, sock: socket.socket, deadline: Deadline, timeout: float) -> None:
        self._sock, self._deadline, self._timeout = sock, deadline, timeout

    def makefile(self, mode: str = "rb", *_args: Any, **_kwargs: Any) -> IO[bytes]:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline, self._timeout))

    def sendall(self, data: bytes) -> None:
        self._sock.settimeout(self._deadline.bound(self._timeout))
        self._sock.sendall(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _connection(base: type[http.client.HTTPConnection], deadline: Deadline,
                timeout: float) -> type[http.client.HTTPConnection]:
    class Connection(base):  # type: ignore[valid-type,misc]
        sock: Any  # http.client's socket; after connect(), the real one behind _DeadlineSocket

        def connect(self) -> None:
            self.timeout = deadline.bound(timeout)  # connect and the TLS handshake: at most what is left
            super().connect()
            self.sock = _DeadlineSocket(self.sock, deadline, timeout)

    return Connection


class _HTTP(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline, timeout: float) -> None:
        super().__init__()
        self._conn = _connection(http.client.HTTPConnection, deadline, timeout)

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._conn, req)


class _HTTPS(urllib.request.HTTPSHandler):
    def __init__(self, deadline: Deadline, timeout: float) -> None:
        super().__init__(context=ssl.create_default_context())
        self._conn = _connection(http.client.HTTPSConnection, deadline, timeout)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._conn, req, context=self._context)  # type: ignore[attr-defined]


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows a release host's redirect (GitHub sends downloads to another host), but never from
    https down to http, never to another scheme, and at most MAX_REDIRECTS times."""

    max_redirections = MAX_REDIRECTS

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        old = urllib.parse.urlsplit(req.full_url)
        why = _redirect_problem(old.scheme, newurl)
        if why:
            fp.close()
            raise Refused(f"{shown_url(req.full_url)} redirects to {shown_url(newurl)}: {why}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _redirect_problem(old_scheme: str, newurl: str) -> str | None:
    try:
        new = urllib.parse.urlsplit(newurl)
        _ = new.port  # raises ValueError for a port that is not a number in range
    except ValueError as exc:
        return f"not a usable URL ({exc})"
    if new.scheme not in ("http", "https"):
        return "only http(s) is followed"
    if old_scheme == "https" and new.scheme == "http":
        return "a redirect from https to plain http is refused (anyone on the path could swap the files)"
    if new.username is not None or new.password is not None:
        return "a redirect carrying credentials is refused"
    return None


class Client:
    """GET with the run's deadline; every failure a Failed (or Refused) whose message is one line."""

    def __init__(self, deadline: Deadline, timeout: float) -> None:
        self.deadline, self.timeout = deadline, timeout
        self._opener = urllib.request.OpenerDirector()
        for handler in (urllib.request.ProxyHandler(), urllib.request.UnknownHandler(), _HTTP(deadline, timeout),
                        _HTTPS(deadline, timeout), urllib.request.HTTPDefaultErrorHandler(), _Redirects(),
                        urllib.request.HTTPErrorProcessor()):
            self._opener.add_handler(handler)

    @contextlib.contextmanager
    def _network(self, url: str) -> Iterator[None]:
        """Turns what the wire and the server can do wrong into one Failed naming the URL (only
        around network calls: a full disk is not the server's fault)."""
        try:
            yield
        except (Refused, Failed):
            raise
        except urllib.error.HTTPError as exc:
            exc.close()
            raise Failed(f"{shown_url(url)}: HTTP {exc.code} {one_line(str(exc.reason), 100)}") from None
        except (http.client.HTTPException, OSError, ValueError) as exc:
            if self.deadline.passed():
                raise Failed(f"{shown_url(url)}: the --deadline of {self.deadline.seconds:g} s passed") from None
            raise Failed(f"{shown_url(url)}: {_describe(exc)}") from None

    def _open(self, url: str) -> http.client.HTTPResponse:
        with self._network(url):
            req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
            resp: http.client.HTTPResponse = self._opener.open(req, timeout=self.deadline.bound(self.timeout))
            return resp

    def _chunks(self, url: str, resp: http.client.HTTPResponse) -> Iterator[bytes]:
        got = 0
        while True:
            with self._network(url):
                chunk = resp.read(CHUNK)
            if not chunk:
                break
            got += len(chunk)
            yield chunk
        # http.client returns a short body as if it were whole when Content-Length says more.
        if resp.length:
            raise Failed(f"{shown_url(url)}: the connection closed after {got} bytes, {resp.length} more were announced")

    def fetch(self, url: str) -> bytes:
        """A small file (SHA256SUMS, its signature) into memory, refused past MAX_SUMS bytes."""
        data = bytearray()
        with self._open(url) as resp:
            if (resp.length or 0) > MAX_SUMS:
                raise Refused(f"{shown_url(url)}: larger than {MAX_SUMS} bytes: not a checksum file")
            for chunk in self._chunks(url, resp):
                data += chunk
                if len(data) > MAX_SUMS:
                    raise Refused(f"{shown_url(url)}: larger than {MAX_SUMS} bytes: not a checksum file")
        return bytes(data)

    def download(self, url: str, dest: Path, sha256: str, name: str) -> None:
        h = hashlib.sha256()
        with self._open(url) as resp, _disk(f"writing {dest}"), dest.open("wb") as out:
            for chunk in self._chunks(url, resp):
                h.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != sha256:
            raise Refused(f"{name}: sha256 {h.hexdigest()} does not match {SUMS} ({sha256})")


@contextlib.contextmanager
def _disk(doing: str) -> Iterator[None]:
    """A disk error (full, quota, read-only) as one Failed saying what was being written."""
    try:
        yield
    except OSError as exc:
        raise Failed(f"{doing}: {exc.strerror or exc}") from None


# ---------------------------------------------------------------------------------------------
# What the run is given: checked before anything is fetched.

def check_url(url: str, minisign_key: Path | None, insecure: bool) -> str:
    """The base URL without a trailing slash; Refused when it is not one we may fetch from."""
    if any(not c.isprintable() or c.isspace() for c in url):
        raise Refused("--url holds a space or a control character")
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # a port that is not a number in range: ValueError
    except ValueError as exc:
        raise Refused(f"--url {shown_url(url)}: not a usable URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(f"--url {shown_url(url)}: expected https://host/path")
    if parts.username is not None or parts.password is not None:
        # Not echoed: it is a credential, and this line goes to the journal.
        raise Refused("--url holds user:password@: credentials in a URL are not supported")
    if parts.query or parts.fragment:
        raise Refused(f"--url {shown_url(url)}: a query or #fragment cannot be extended by /SHA256SUMS")
    if parts.scheme == "http" and minisign_key is None and not insecure:
        raise Refused(f"--url {shown_url(url)} is plain http: anyone on the path could swap the release; "
                      "use https, or give --minisign-key (a signed SHA256SUMS), or --insecure to accept it")
    return url.rstrip("/")


def check_asset(asset: str) -> None:
    if asset in ("", ".", "..") or "/" in asset or any(not c.isprintable() for c in asset) or len(asset.encode()) > 255:
        raise Refused(f"--asset {one_line(repr(asset), 100)}: a file name, not a path")


# ---------------------------------------------------------------------------------------------
# Verification and unpacking.

def expected_sha256(sums: bytes, asset: str) -> str:
    """The asset's sha256 from `sha256sum` output: `<64 hex><space><space or *><name>`, lines split
    on \\n only (as `sha256sum -c` reads them)."""
    want = asset.encode()
    found = set()
    for raw in sums.split(b"\n"):
        line = raw.removesuffix(b"\r")
        digest = line[:64]
        if (line[66:] == want and line[64:65] == b" " and line[65:66] in (b" ", b"*")
                and all(c in b"0123456789abcdefABCDEF" for c in digest) and len(digest) == 64):
            found.add(digest.decode().lower())
    if len(found) != 1:
        raise Refused(f"{SUMS}: {'no' if not found else 'no single'} line for {asset}")
    return found.pop()


def verify_minisign(sums: bytes, signature: bytes, key: Path, work: Path, deadline: Deadline) -> None:
    if shutil.which("minisign") is None:
        raise Refused("--minisign-key given but minisign is not installed")
    (work / SUMS).write_bytes(sums)
    (work / f"{SUMS}.minisig").write_bytes(signature)
    try:
        done = subprocess.run(["minisign", "-Vm", str(work / SUMS), "-p", str(key)], capture_output=True, text=True,
                              check=False, timeout=deadline.bound(deadline.seconds))
    except (subprocess.TimeoutExpired, TimeoutError):
        raise Failed(f"the --deadline of {deadline.seconds:g} s passed while checking the signature") from None
    if done.returncode != 0:
        raise Refused(f"{SUMS}: the minisign signature does not verify: {(done.stderr or done.stdout).strip()}")


def _safe_parts(name: str) -> tuple[str, ...]:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or any(part in ("..", "") for part in p.parts) or name.startswith("/"):
        raise Refused(f"archive member {name!r} would land outside the directory")
    return tuple(x for x in p.parts if x != ".")


Member = tuple[tuple[str, ...], bool, int, Callable[[], IO[bytes] | None]]


def _members(archive: Path, stack: contextlib.ExitStack) -> list[Member]:
    """(path parts, is_dir, mode, open its data) of every member, refusing anything but files and dirs."""
    out: list[Member] = []
    if zipfile.is_zipfile(archive):
        zf = stack.enter_context(zipfile.ZipFile(archive))
        for info in zf.infolist():
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise Refused(f"archive member {info.filename!r} is a symlink")
            parts = _safe_parts(info.filename)
            if parts:
                out.append((parts, info.is_dir(), mode & 0o777, lambda info=info: zf.open(info)))  # type: ignore[misc]
        return out
    tar = stack.enter_context(tarfile.open(archive))  # noqa: SIM115 - closed by the ExitStack
    for m in tar.getmembers():
        if not (m.isfile() or m.isdir()):
            raise Refused(f"archive member {m.name!r} is a {'link' if m.issym() or m.islnk() else 'special file'}")
        parts = _safe_parts(m.name)
        if parts:
            out.append((parts, m.isdir(), m.mode & 0o777, lambda m=m: tar.extractfile(m)))  # type: ignore[misc]
    return out


def _make_parents(dest: Path, target: Path, shown: str) -> None:
    # Every parent is a real directory made here: nothing can redirect the write elsewhere.
    for parent in reversed(target.parents):
        if parent == dest or not parent.is_relative_to(dest):
            continue
        if parent.is_symlink() or (parent.exists() and not parent.is_dir()):
            raise Refused(f"archive member {shown!r}: {parent} is not a directory")
        parent.mkdir(exist_ok=True)


def _write_member(target: Path, mode: int, open_data: Callable[[], IO[bytes] | None], shown: str,
                  deadline: Deadline | None) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o755 if mode & 0o111 else 0o644)
    with os.fdopen(fd, "wb") as out:
        src = open_data()
        if src is None:
            raise Refused(f"archive member {shown!r} has no data")
        with src:
            while chunk := src.read(CHUNK):
                if deadline is not None:
                    deadline.check("unpacking")
                out.write(chunk)


def unpack(archive: Path, dest: Path, deadline: Deadline | None = None) -> None:
    """Into `dest` (new and empty), the archive's single top directory stripped."""
    with contextlib.ExitStack() as stack:
        members = _members(archive, stack)
        tops = {parts[0] for parts, _d, _m, _o in members}
        strip = len(tops) == 1 and any(len(parts) > 1 or is_dir for parts, is_dir, _m, _o in members)
        for parts, is_dir, mode, open_data in members:
            rel = parts[1:] if strip else parts
            if not rel:
                continue
            shown = "/".join(parts)
            if rel == (MARKER,):
                raise Refused(f"archive member {shown!r}: {MARKER} is the name pulldeploy keeps for itself")
            target = dest.joinpath(*rel)
            _make_parents(dest, target, shown)
            if is_dir:
                target.mkdir(exist_ok=True)
            else:
                _write_member(target, mode, open_data, shown, deadline)


# ---------------------------------------------------------------------------------------------
# The deploy root: versions/, the `current` symlink, and the lock that keeps runs apart.

def _marker(version: Path) -> str | None:
    try:
        return (version / MARKER).read_text().strip()
    except OSError:
        return None


def current_sha(root: Path) -> str | None:
    return _marker(root / "current") if (root / "current").is_symlink() else None


def live_version(root: Path) -> Path | None:
    link = root / "current"
    return link.resolve() if link.is_symlink() else None


def free_version(versions: Path, stem: str) -> Path:
    """A name under versions/ that nothing has: an existing directory may be the one being served."""
    name, n = stem, 1
    while os.path.lexists(versions / name):
        n += 1
        name = f"{stem}-{n}"
    return versions / name


def switch(root: Path, version: Path) -> None:
    link = root / f".current-{os.getpid()}"
    link.unlink(missing_ok=True)
    os.symlink(os.path.relpath(version, root), link)
    os.replace(link, root / "current")  # atomic: a reader sees the old or the new version, never neither
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def prune(root: Path, keep: int, replaced: Path | None = None) -> list[str]:
    """Removes all but the newest `keep` versions (the live one counts; other copies of the live
    version go). Never the live version, nor `replaced` — the one served until this run's switch."""
    live = (root / "current").resolve()
    kept = {_marker(live) or live.name}
    others = sorted((p for p in (root / "versions").iterdir()
                     if p.is_dir() and not p.is_symlink() and p.resolve() != live),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    removed = []
    for p in others:
        sha = _marker(p) or p.name
        if sha not in kept and len(kept) < max(keep, 1):
            kept.add(sha)
        elif replaced is None or p.resolve() != replaced:
            shutil.rmtree(p)
            removed.append(p.name)
    return removed


def clean_incoming(root: Path) -> None:
    """What killed runs left: their download directories (the lock keeps live runs out)."""
    for p in root.glob(".incoming-*"):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
    for p in root.glob(".current-*"):
        if p.is_symlink():
            p.unlink()


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """One run at a time per deploy root: a second would remove the first's download or prune under it."""
    fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Failed(f"another pulldeploy run is deploying into {root}") from None
        yield
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------

def _install(root: Path, work: Path, asset: str, sha: str, deadline: Deadline) -> Path:
    """Unpack the downloaded asset and move it into versions/ (under a new name): nothing served changes."""
    staged = work / "unpacked"
    staged.mkdir()
    try:
        unpack(work / "asset", staged, deadline)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise Refused(f"{asset}: not a readable archive: {one_line(str(exc), 200)}") from None
    except OSError as exc:  # a full disk, a quota: say where (a write's error has no file name)
        raise Failed(f"unpacking {asset} into {staged}: {exc.strerror or exc}") from None
    (staged / MARKER).write_text(sha + "\n")
    version = free_version(root / "versions", sha[:16])
    os.rename(staged, version)
    now = time.time()
    os.utime(version, (now, now))
    return version


def _run(client: Client, base: str, asset: str, root: Path, work: Path, keep: int, minisign_key: Path | None,
         force: bool, log: Callable[[str], None]) -> str:
    sums = client.fetch(f"{base}/{SUMS}")
    if minisign_key is not None:
        verify_minisign(sums, client.fetch(f"{base}/{SUMS}.minisig"), minisign_key, work, client.deadline)
    sha = expected_sha256(sums, asset)
    if not force and current_sha(root) == sha:
        log(f"{asset}: unchanged ({sha[:16]})")
        return "unchanged"
    client.download(f"{base}/{urllib.parse.quote(asset, safe='')}", work / "asset", sha, asset)
    version = _install(root, work, asset, sha, client.deadline)
    # Stage, switch, then prune: the directory served until now is never touched by this run.
    replaced = live_version(root)
    switch(root, version)
    try:
        removed = prune(root, keep, replaced)
    except OSError as exc:  # deployed all the same: the next run prunes again
        print(f"pulldeploy: warning: could not remove old versions: {one_line(str(exc))}", file=sys.stderr)
        removed = []
    log(f"{asset}: deployed {sha[:16]} → {root / 'current'} ({version.name})"
        + (f"; removed {', '.join(removed)}" if removed else ""))
    return "deployed"


def deploy(url: str, asset: str, root: Path, keep: int = 3, minisign_key: Path | None = None,
           timeout: float = 60, log: Callable[[str], None] = print, *, deadline: float = 600,
           insecure: bool = False, force: bool = False) -> str:
    """Returns "deployed" or "unchanged"; raises Refused or Failed (nothing switched), or OSError (disk)."""
    run_deadline = Deadline(deadline)
    base = check_url(url, minisign_key, insecure)
    check_asset(asset)
    root.mkdir(parents=True, exist_ok=True)
    (root / "versions").mkdir(exist_ok=True)
    with locked(root):
        clean_incoming(root)
        work = Path(tempfile.mkdtemp(prefix=f".incoming-{os.getpid()}-", dir=root))
        try:
            return _run(Client(run_deadline, timeout), base, asset, root, work, keep, minisign_key, force, log)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text}: must be more than 0")
        return value
    parse.__name__ = kind.__name__  # argparse names the type in its message
    return parse


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="pulldeploy", description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--url", required=True, help="where the release files are: <url>/SHA256SUMS, <url>/<asset>")
    ap.add_argument("--asset", required=True, help="the archive to deploy, e.g. website-build.tar.gz")
    ap.add_argument("--dir", required=True, type=Path, help="the deploy root: versions/ and the `current` symlink")
    ap.add_argument("--keep", type=_positive(int), default=3,
                    help="versions to keep (default 3; the one a run replaces stays until the next run)")
    ap.add_argument("--minisign-key", type=Path, help="minisign public key: SHA256SUMS must be signed by it")
    ap.add_argument("--timeout", type=_positive(float), default=60,
                    help="seconds one connect or read may wait (default 60)")
    ap.add_argument("--deadline", type=_positive(float), default=600,
                    help="seconds the whole run may take, however the server trickles (default 600)")
    ap.add_argument("--insecure", action="store_true",
                    help="accept a plain http --url without --minisign-key (nothing vouches for the files)")
    ap.add_argument("--force", action="store_true", help="deploy even if `current` already serves this version")
    args = ap.parse_args(argv)
    try:
        deploy(args.url, args.asset, args.dir, int(args.keep), args.minisign_key, args.timeout,
               deadline=args.deadline, insecure=args.insecure, force=args.force)
    except Refused as exc:
        return _fail("refused", str(exc), args.dir)
    except Failed as exc:
        return _fail("failed", str(exc), args.dir)
    except OSError as exc:  # the disk: full, read-only, permissions
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail("failed", f"{where}{exc.strerror or exc}", args.dir)
    except Exception as exc:  # unattended: one line in the journal, never a traceback
        return _fail("failed", f"unexpected {type(exc).__name__}: {exc}", args.dir)
    return 0


def _fail(what: str, message: str, root: Path) -> int:
    print(f"pulldeploy: {what}: {one_line(message, 1000)}; {root / 'current'} is unchanged", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
