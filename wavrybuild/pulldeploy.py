#!/usr/bin/env python3
"""Pull-deploy: fetch a release asset onto a server that CI must not reach, verify it, switch to it.

    python3 pulldeploy.py --url https://example.com/releases/website-latest \\
        --asset website-build.tar.gz --dir /srv/website [--keep 3] [--minisign-key release.pub]

Needs only Python's standard library (and `minisign` when --minisign-key is given): copy this one
file to the server, or run `python -m wavrybuild.pulldeploy` where wavrybuild is installed.

1. `<url>/SHA256SUMS` is fetched, and with --minisign-key its signature `SHA256SUMS.minisig` is
   checked first; the asset's line in it gives the expected sha256.
2. If `<dir>/current` already serves that sha256: nothing to do (exit 0, "unchanged").
3. The asset is downloaded into `<dir>/.incoming-<pid>/`, hashed while it arrives, and refused if
   the hash differs. Unpacked (tar.gz, tar.xz, tar, zip; the archive's single top directory is
   stripped) into a new `<dir>/versions/<sha256[:16]>/`: only regular files and directories; an
   absolute name, `..`, a symlink, a hard link or a device in the archive refuses the whole asset.
4. `<dir>/current` (a symlink) is switched atomically (a new symlink renamed over it), then all but
   the newest --keep versions are removed.

Anything that does not verify leaves `current` — and so what is served — untouched; a run killed at
any point leaves only an `.incoming-*` directory, which the next run removes. Exit codes: 0 deployed
or unchanged, 1 refused or failed (the message says why), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO

MARKER = ".pulldeploy-sha256"
SUMS = "SHA256SUMS"
CHUNK = 1 << 20
MAX_SUMS = 4 << 20


class Refused(Exception):
    """The asset (or its checksums) did not verify, or cannot be unpacked safely."""


def fetch(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        data: bytes = resp.read(MAX_SUMS + 1)
    if len(data) > MAX_SUMS:
        raise Refused(f"{url}: larger than {MAX_SUMS} bytes: not a checksum file")
    return data


def expected_sha256(sums: bytes, asset: str) -> str:
    found = []
    for line in sums.decode("utf-8", "replace").splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) == 2 and parts[1].lstrip("*") == asset:
            found.append(parts[0].lower())
    if len(found) != 1 or len(found[0]) != 64 or any(c not in "0123456789abcdef" for c in found[0]):
        raise Refused(f"{SUMS}: {'no' if not found else 'no single valid'} line for {asset}")
    return found[0]


def verify_minisign(sums: bytes, signature: bytes, key: Path, work: Path) -> None:
    if shutil.which("minisign") is None:
        raise Refused("--minisign-key given but minisign is not installed")
    (work / SUMS).write_bytes(sums)
    (work / f"{SUMS}.minisig").write_bytes(signature)
    done = subprocess.run(["minisign", "-Vm", str(work / SUMS), "-p", str(key)], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise Refused(f"{SUMS}: the minisign signature does not verify: {(done.stderr or done.stdout).strip()}")


def download(url: str, dest: Path, sha256: str, timeout: float) -> None:
    h = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout) as resp, dest.open("wb") as out:
        while chunk := resp.read(CHUNK):
            h.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if h.hexdigest() != sha256:
        raise Refused(f"{dest.name}: sha256 {h.hexdigest()} does not match {SUMS} ({sha256})")


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


def unpack(archive: Path, dest: Path) -> None:
    """Into `dest` (new and empty), the archive's single top directory stripped."""
    with contextlib.ExitStack() as stack:
        members = _members(archive, stack)
        tops = {parts[0] for parts, _d, _m, _o in members}
        strip = len(tops) == 1 and any(len(parts) > 1 or is_dir for parts, is_dir, _m, _o in members)
        for parts, is_dir, mode, open_data in members:
            rel = parts[1:] if strip else parts
            if not rel:
                continue
            target = dest.joinpath(*rel)
            # Every parent is a real directory made here: nothing can redirect the write elsewhere.
            for parent in reversed(target.parents):
                if parent == dest or not parent.is_relative_to(dest):
                    continue
                if parent.is_symlink() or (parent.exists() and not parent.is_dir()):
                    raise Refused(f"archive member {'/'.join(parts)!r}: {parent} is not a directory")
                parent.mkdir(exist_ok=True)
            if is_dir:
                target.mkdir(exist_ok=True)
                continue
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o755 if mode & 0o111 else 0o644)
            with os.fdopen(fd, "wb") as out:
                src = open_data()
                if src is None:
                    raise Refused(f"archive member {'/'.join(parts)!r} has no data")
                with src:
                    shutil.copyfileobj(src, out, CHUNK)


def current_sha(root: Path) -> str | None:
    marker = root / "current" / MARKER
    try:
        return marker.read_text().strip() if (root / "current").is_symlink() else None
    except OSError:
        return None


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


def prune(root: Path, keep: int) -> list[str]:
    versions = root / "versions"
    live = (root / "current").resolve()
    entries = sorted((p for p in versions.iterdir() if p.is_dir() and not p.is_symlink()),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    removed = []
    for p in entries[max(keep, 1):]:
        if p.resolve() != live:
            shutil.rmtree(p)
            removed.append(p.name)
    return removed


def clean_incoming(root: Path) -> None:
    """What killed runs left: their download directories (no other process may deploy here)."""
    for p in root.glob(".incoming-*"):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
    for p in root.glob(".current-*"):
        if p.is_symlink():
            p.unlink()


def deploy(url: str, asset: str, root: Path, keep: int = 3, minisign_key: Path | None = None,
           timeout: float = 60, log: Callable[[str], None] = print) -> str:
    """Returns "deployed" or "unchanged"; raises Refused (nothing switched) or OSError."""
    if "/" in asset or asset in ("", ".", ".."):
        raise Refused(f"--asset {asset!r}: a file name, not a path")
    base = url.rstrip("/")
    root.mkdir(parents=True, exist_ok=True)
    (root / "versions").mkdir(exist_ok=True)
    clean_incoming(root)
    work = Path(tempfile.mkdtemp(prefix=f".incoming-{os.getpid()}-", dir=root))
    try:
        sums = fetch(f"{base}/{SUMS}", timeout)
        if minisign_key is not None:
            verify_minisign(sums, fetch(f"{base}/{SUMS}.minisig", timeout), minisign_key, work)
        sha = expected_sha256(sums, asset)
        if current_sha(root) == sha:
            log(f"{asset}: unchanged ({sha[:16]})")
            return "unchanged"
        download(f"{base}/{asset}", work / asset, sha, timeout)
        staged = work / "unpacked"
        staged.mkdir()
        try:
            unpack(work / asset, staged)
        except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
            raise Refused(f"{asset}: not a readable archive: {exc}") from None
        (staged / MARKER).write_text(sha + "\n")
        version = root / "versions" / sha[:16]
        if version.exists():
            shutil.rmtree(version)  # an earlier, unfinished copy of the same version
        os.replace(staged, version)
        now = time.time()
        os.utime(version, (now, now))
        switch(root, version)
        removed = prune(root, keep)
        log(f"{asset}: deployed {sha[:16]} → {root / 'current'}" + (f"; removed {', '.join(removed)}" if removed else ""))
        return "deployed"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="pulldeploy", description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--url", required=True, help="where the release files are: <url>/SHA256SUMS, <url>/<asset>")
    ap.add_argument("--asset", required=True, help="the archive to deploy, e.g. website-build.tar.gz")
    ap.add_argument("--dir", required=True, type=Path, help="the deploy root: versions/ and the `current` symlink")
    ap.add_argument("--keep", type=int, default=3, help="versions to keep (default 3)")
    ap.add_argument("--minisign-key", type=Path, help="minisign public key: SHA256SUMS must be signed by it")
    ap.add_argument("--timeout", type=float, default=60, help="seconds per network operation (default 60)")
    args = ap.parse_args(argv)
    if not args.url.startswith(("https://", "http://")):
        ap.error("--url: expected an http(s) URL")
    try:
        deploy(args.url, args.asset, args.dir, args.keep, args.minisign_key, args.timeout)
    except Refused as exc:
        print(f"pulldeploy: refused: {exc}; {args.dir / 'current'} is unchanged", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:  # network, disk, HTTP errors (urllib's HTTPError is an OSError)
        print(f"pulldeploy: failed: {exc}; {args.dir / 'current'} is unchanged", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
