"""One set of bytes per binary: every copy of a binary inside every artifact of a release (the
.zip or .tar.*, the wheel, the npm tarball, the .deb and .rpm, the MSI, the NSIS setup.exe, the
.dmg) must be byte-identical to the others of its target. A Windows wheel that ships another .exe
than the signed .zip is exactly what this catches.

Reading the members is per format: zip, wheel and tar (npm's .tgz too) in Python; .deb through
`dpkg-deb --fsys-tarfile`, .rpm through `rpm2cpio` (its cpio read here); MSI with `msiextract`
(msitools), NSIS setup.exe and .dmg with `7z` (p7zip-full). A format whose tool is not installed is
reported as not compared, never as a pass. `compare` (pure) turns the digests found into checks."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .. import proc
from ..config.values import ArtifactPath

CHUNK = 1 << 20
TIMEOUT = 600  # seconds for one extraction (an installer of a few hundred MB)


@dataclass(frozen=True)
class Copy:
    """One copy of a binary: the artifact holding it, the member's path inside, its digest."""

    artifact: str
    member: str
    sha256: str


class Unreadable(Exception):
    """This artifact's members cannot be read here (a missing tool, a damaged file): why."""


Members = dict[str, str]  # member path -> sha256, for the members that are wanted


def _hash(f: IO[bytes]) -> str:
    h = hashlib.sha256()
    while chunk := f.read(CHUNK):
        h.update(chunk)
    return h.hexdigest()


def _zip(path: Path, wanted: Callable[[str], bool]) -> Members:
    with zipfile.ZipFile(path) as zf:
        out = {}
        for info in zf.infolist():
            if not info.is_dir() and wanted(info.filename):
                with zf.open(info) as f:
                    out[info.filename] = _hash(f)
        return out


def _tar_stream(f: IO[bytes], wanted: Callable[[str], bool]) -> Members:
    out = {}
    with tarfile.open(fileobj=f, mode="r|*") as tf:
        for m in tf:
            if m.isreg() and wanted(m.name):
                member = tf.extractfile(m)
                if member is not None:
                    out[m.name] = _hash(member)
    return out


def _tar(path: Path, wanted: Callable[[str], bool]) -> Members:
    if path.name.endswith(".zst"):
        try:
            import zstandard
        except ImportError:
            raise Unreadable("tar.zst needs the zstandard package (pip install zstandard)") from None
        with path.open("rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as stream:
            return _tar_stream(stream, wanted)
    with path.open("rb") as raw:
        return _tar_stream(raw, wanted)


def _tool_output(argv: list[str], package: str) -> bytes:
    if proc.which(argv[0]) is None:
        raise Unreadable(f"{argv[0]} is not installed (apt-get install {package})")
    done = proc.capture_all(argv, timeout=TIMEOUT)
    if done.returncode != 0:
        raise Unreadable(f"{argv[0]} could not read it: {(done.error or done.text()).strip()[-200:]}")
    return done.stdout


def _deb(path: Path, wanted: Callable[[str], bool]) -> Members:
    return _tar_stream(io.BytesIO(_tool_output(["dpkg-deb", "--fsys-tarfile", str(path)], "dpkg")), wanted)


def cpio_members(data: bytes, wanted: Callable[[str], bool]) -> Members:
    """The regular files of a cpio archive in the "newc" format (what rpm2cpio writes)."""
    out, pos = {}, 0
    while pos + 110 <= len(data):
        header = data[pos:pos + 110]
        if header[:6] not in (b"070701", b"070702"):
            raise Unreadable("not a newc cpio archive")
        mode, size, namesize = (int(header[i:i + 8], 16) for i in (14, 54, 94))
        name_at = pos + 110
        name = data[name_at:name_at + namesize - 1].decode(errors="replace")
        body = (name_at + namesize + 3) & ~3
        if name == "TRAILER!!!":
            break
        if (mode & 0o170000) == 0o100000 and wanted(name):
            out[name] = hashlib.sha256(data[body:body + size]).hexdigest()
        pos = (body + size + 3) & ~3
    return out


def _rpm(path: Path, wanted: Callable[[str], bool]) -> Members:
    return cpio_members(_tool_output(["rpm2cpio", str(path)], "rpm2cpio"), wanted)


def _extracted(argv: Callable[[Path], list[str]], package: str) -> Callable[[Path, Callable[[str], bool]], Members]:
    """Members of a format only a tool can unpack: into a private directory, then hashed (links skipped)."""

    def read(path: Path, wanted: Callable[[str], bool]) -> Members:
        with tempfile.TemporaryDirectory(prefix="wavrybuild-verify-") as tmp:
            _tool_output([*argv(Path(tmp)), str(path)], package)
            out = {}
            for root, _dirs, files in os.walk(tmp):
                for name in files:
                    p = Path(root) / name
                    rel = p.relative_to(tmp).as_posix()
                    if not p.is_symlink() and p.is_file() and wanted(rel):
                        with p.open("rb") as f:
                            out[rel] = _hash(f)
            return out

    return read


READERS: dict[str, Callable[[Path, Callable[[str], bool]], Members]] = {
    "zip": _zip, "whl": _zip,
    "tar.gz": _tar, "tar.xz": _tar, "tar.zst": _tar, "tgz": _tar,
    "deb": _deb, "rpm": _rpm,
    "msi": _extracted(lambda d: ["msiextract", "-C", str(d)], "msitools"),
    # 7-Zip unpacks NSIS installers (setup.exe) and ISO/HFS+ images (our .dmg) alike.
    "setup": _extracted(lambda d: ["7z", "x", "-y", "-bd", f"-o{d}"], "p7zip-full"),
    "dmg": _extracted(lambda d: ["7z", "x", "-y", "-bd", f"-o{d}"], "p7zip-full"),
}


def member_names(binaries: Iterable[str]) -> Callable[[str], bool]:
    """A member is a copy of a binary when its file name is the binary's (or with .exe)."""
    names = {n for b in binaries for n in (b, b + ".exe")}
    return lambda member: member.replace("\\", "/").rsplit("/", 1)[-1] in names


def binary_of(member: str) -> str:
    return member.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".exe")


@dataclass(frozen=True)
class Found:
    """What the artifacts held: the copies per (target, binary), and the artifacts not read (why)."""

    copies: dict[tuple[str, str], list[Copy]]
    unread: dict[str, str]
    refused: dict[str, str] = field(default_factory=dict)  # manifest paths that may not be opened: why


def collect(directory: Path, artifacts: Iterable[Mapping[str, Any]]) -> Found:
    """Every copy of every binary the manifest says an artifact holds."""
    copies: dict[tuple[str, str], list[Copy]] = {}
    unread: dict[str, str] = {}
    refused: dict[str, str] = {}
    for a in artifacts:
        path, fmt, target, binaries = a.get("path"), a.get("format"), a.get("target"), a.get("binaries")
        # The manifest is input (it may come from a part or a downloaded release): a path is opened
        # only as a confined artifact path, never through a symlink (which could lead out of dist/).
        if isinstance(path, str) and (not ArtifactPath.valid(path) or _through_link(directory, path)):
            refused[repr(path)[1:-1][:200]] = (f"the manifest names this artifact, but it is not {ArtifactPath.expected}"
                                               " (or is reached through a symlink): not opened")
            continue
        if not (isinstance(path, str) and isinstance(target, str) and target and isinstance(binaries, list)
                and binaries and fmt in READERS and (directory / path).is_file()):
            continue  # an SBOM, the notes, a main npm package: no binary inside
        try:
            members = READERS[str(fmt)](directory / path, member_names(str(b) for b in binaries))
        except (Unreadable, OSError, zipfile.BadZipFile, tarfile.TarError, ValueError) as exc:
            unread[path] = str(exc) or type(exc).__name__
            continue
        for member, digest in sorted(members.items()):
            copies.setdefault((target, binary_of(member)), []).append(Copy(path, member, digest))
    return Found(copies, unread, refused)



def _through_link(directory: Path, path: str) -> bool:
    here = directory
    for part in path.split("/"):
        here = here / part
        if here.is_symlink():
            return True
    return False


@dataclass(frozen=True)
class Verdict:
    name: str  # <target>/<binary>, or the artifact not read
    ok: bool
    detail: str
    compared: bool = True


def compare(found: Found) -> list[Verdict]:
    """One verdict per binary of a target held by two artifacts or more: all its copies equal, or
    each copy that differs named beside the first copy (the artifact and the member path of both);
    and one per artifact not read. A binary with a single copy has nothing to agree with."""
    out = []
    for (target, binary), copies in sorted(found.copies.items()):
        if len(copies) < 2:
            continue
        first = copies[0]
        differ = [c for c in copies[1:] if c.sha256 != first.sha256]
        if differ:
            out.append(Verdict(f"{target}/{binary}", False, "; ".join(
                f"{c.artifact}:{c.member} (sha256 {c.sha256[:16]}…) differs from {first.artifact}:{first.member} "
                f"(sha256 {first.sha256[:16]}…)" for c in differ)))
        else:
            out.append(Verdict(f"{target}/{binary}", True, f"{len(copies)} identical copies in "
                               + ", ".join(sorted({c.artifact for c in copies}))))
    out += [Verdict(path, True, f"copies inside not compared: {why}", compared=False)
            for path, why in sorted(found.unread.items())]
    out += [Verdict(path, False, why) for path, why in sorted(found.refused.items())]
    return out
