"""The strict reader of a CI matrix's parts: part manifests and their files are data from another
machine, never paths we trust.

A part manifest is read without following a link (nofollow), as strict JSON, through the one
manifest schema (manifest.parse_manifest: typed fields, unknown fields refused); then what only
the merge can know is checked: its targets are configured ones with their triples, its files are
regular files under the part's directory (no link on the way) whose size and sha256 are what it
says, no two parts disagree about a file, and no name collides with another (a directory of one,
the sidecar or signature of another, the same name in another case) or with something in dist/
that is not a plain file. Any refusal is one MergeError naming the part file; nothing is written
before everything has been read and checked.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..checksum import SIDECAR_SUFFIX, SIGNATURE_SUFFIXES
from ..config import Config
from ..errors import WavryError
from ..manifest import MANIFEST_NAME, MAX_MANIFEST_BYTES, Artifact, Manifest, SchemaError, git_state, parse_manifest, strict_json
from ..nofollow import Refused, close_root, kind_at, open_file, open_root, read_file
from .partsign import HINT as SIGN_HINT
from .partsign import is_signature, max_signature_bytes, trust, unbound, unbound_release, verify_part
from .partsign import suffix as sig_suffix

if TYPE_CHECKING:
    from ..config.ci import PartTrust

PART_PREFIX = "manifest-part-"
MAX_DEPTH = 8  # parts/<job>/<…>: a download directory is never deeper
HINT = "a part manifest is what `invoke release --part` wrote: rerun that matrix job and download its part again"


class MergeError(WavryError):
    exit_code = 1


@dataclass(frozen=True)
class Source:
    """One file a part brings: the part manifest that lists it and its name under the parts root."""

    part: Path
    rel: str
    artifact: Artifact


@dataclass
class Parts:
    """Every part of a merge, read and checked: the files by artifact path, and the release context."""

    files: dict[str, Source]
    context: Manifest
    rustc: dict[str, Any]


def is_part_name(name: str) -> bool:
    return (name.startswith(PART_PREFIX) and name.endswith(".json") and not is_signature(name)) or name == MANIFEST_NAME


def merge_commit(where: Path) -> str | None:
    """The commit the merge runs at (its checkout's HEAD): what a signed part must have been made for."""
    commit = git_state(where).get("commit")
    return commit if isinstance(commit, str) and commit else None


def find_parts(root: Path, skip: Path | None = None) -> list[str]:
    """The part manifests under root ('/'-separated, relative), found without entering a link (a
    part behind one is not found; a file a part lists behind one is refused with the part);
    hidden directories (.wavrybuild/) are not parts. A link named like a part manifest is refused."""
    out: list[str] = []

    def walk(d: Path, rel: str, depth: int) -> None:
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as exc:
            raise MergeError(f"{d}: cannot list ({exc.strerror or exc})") from None
        for e in entries:
            name = f"{rel}{e.name}"
            if e.name.startswith("."):
                continue
            if e.is_symlink() and is_part_name(e.name):
                raise MergeError(f"{root / name}: a symbolic link, not a part manifest (parts are never read through links)",
                                 hint=HINT)
            if e.is_dir(follow_symlinks=False) and depth < MAX_DEPTH:  # a linked directory is never entered
                walk(Path(e.path), name + "/", depth + 1)
            elif is_part_name(e.name) and not (skip is not None and Path(e.path).resolve() == skip.resolve()):
                out.append(name)

    walk(root, "", 0)
    return out


def _fail(part: Path, why: str) -> MergeError:
    return MergeError(f"{part}: {why}", hint=HINT)


def read_part(root: int | Path, root_path: Path, rel: str, cfg: Config,
              commit: str | None = None) -> tuple[Path, Manifest]:
    """The part manifest root/rel, its signature checked ([ci] part-key) and bound to `commit` and
    this release, parsed whole, its targets checked against targets.toml."""
    key = trust(cfg)
    part, manifest = parse_part(root, root_path, rel, key, commit)
    if key is not None and (why := unbound_release(manifest, cfg.project.package, cfg.project.version)):
        raise MergeError(f"{part}: {why}", hint=SIGN_HINT)
    triples = {t.id: str(t.triple) for t in cfg.targets}
    for i, a in enumerate(manifest.artifacts):
        where = f"artifacts[{i}]"
        if a.target and a.target not in triples:
            raise _fail(part, f"{where}.target: {a.target!r} is not a target of {cfg.project.config_path.name}")
        if a.triple != triples.get(a.target, ""):
            raise _fail(part, f"{where}.triple: {a.triple!r} is not the triple of target {a.target!r}")
        if a.kind == "archive" and not a.target:
            raise _fail(part, f"{where}.target: an archive belongs to a target")
    return part, manifest


def parse_part(root: int | Path, root_path: Path, rel: str, key: PartTrust | None = None,
               commit: str | None = None) -> tuple[Path, Manifest]:
    """The part manifest root/rel, read without following a link and parsed whole (not yet
    checked against targets.toml: the release job reads the crate's record from it first). With
    a key, its signature is checked over the bytes read before any of them is parsed, and the
    part must have been made at `commit` (the merge's)."""
    part = root_path / rel
    try:
        data = read_file(root, rel, MAX_MANIFEST_BYTES)
        if key is not None:
            sig_rel = rel + sig_suffix(key)
            signature = read_file(root, sig_rel, max_signature_bytes(key)) if kind_at(root, sig_rel) is not None else None
            why = verify_part(rel.rpartition("/")[2], data, signature, key)
            if why is not None:
                raise MergeError(f"{part}: {why}", hint=SIGN_HINT)
        manifest = parse_manifest(strict_json(data))
    except Refused as exc:
        raise _fail(part, f"not read: {exc}") from None
    except SchemaError as exc:
        raise _fail(part, f"not a part manifest: {exc}") from None
    except ValueError as exc:  # strict_json: not UTF-8, not JSON, NaN, a key twice, too deep or too big
        raise _fail(part, f"not a part manifest (not valid JSON: {exc})") from None
    if key is not None and (why := unbound(manifest, commit)):
        raise MergeError(f"{part}: {why}", hint=SIGN_HINT)
    return part, manifest


def _agree(part: Path, manifest: Manifest, context: Manifest) -> None:
    # packages: the crate as cargo described it, which the release job reads instead of cargo.
    for key in ("crate", "name", "version", "git", "source_date_epoch", "packages"):
        if getattr(manifest, key) != getattr(context, key):
            raise MergeError(f"{part}: {key} {getattr(manifest, key)!r} differs from the other parts' "
                             f"{getattr(context, key)!r}", hint="every part must come from the same commit")


def read_parts(root_path: Path, dist: Path, cfg: Config) -> Parts | None:
    """Every part under root_path, checked one by one and together; its files checked too (size
    and sha256, read without following a link). None when there is no part."""
    try:
        root = open_root(root_path, follow=True)
    except Refused as exc:
        raise MergeError(f"{exc}", hint="download the matrix jobs' parts into it first") from None
    try:
        return _read_all(root, root_path, dist, cfg)
    finally:
        close_root(root)


def _read_all(root: int | Path, root_path: Path, dist: Path, cfg: Config) -> Parts | None:
    files: dict[str, Source] = {}
    context: Manifest | None = None
    rustc: dict[str, Any] = {}
    signed = trust(cfg) is not None
    commit = merge_commit(cfg.project.manifest_path.parent) if signed else None
    for rel in find_parts(root_path, skip=dist / MANIFEST_NAME):
        if signed and rel.rpartition("/")[2] == MANIFEST_NAME:
            continue  # a part job's dist/manifest.json: what it signed is its manifest-part-*.json
        part, manifest = read_part(root, root_path, rel, cfg, commit)
        context = context or manifest
        _agree(part, manifest, context)
        part_rustc = manifest.tools.get("rustc", {})
        rustc.update(part_rustc if isinstance(part_rustc, dict) else {})
        base = rel.rpartition("/")[0]
        for a in manifest.artifacts:
            # Keyed by file: a target may bring an archive and a wheel; the same file from two parts must agree.
            there = files.get(a.path)
            if there is not None and there.artifact != a:
                raise MergeError(f"{part}: {a.path} also comes from {there.part} "
                                 + ("with other bytes" if there.artifact.sha256 != a.sha256 else "described otherwise"),
                                 hint=HINT)
            files[a.path] = Source(part, f"{base}/{a.path}" if base else a.path, a)
    if context is None:
        return None
    _no_collisions(files)
    _fits_dist(files, dist)
    for src in files.values():
        _check_file(root, src)
    return Parts(files, context, rustc)


def _no_collisions(files: dict[str, Source]) -> None:
    """No name is a directory of another, the sidecar or signature of another, or another in other case."""
    folded: dict[str, str] = {}
    dirs = {"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}
    for path, src in sorted(files.items()):
        other = folded.setdefault(path.casefold(), path)
        if other != path:
            raise _fail(src.part, f"{path} and {other} differ only in case (one file on macOS and Windows)")
        if path in dirs:
            raise _fail(src.part, f"{path} is also a directory of another file")
        for suffix in (SIDECAR_SUFFIX, *SIGNATURE_SUFFIXES):
            if path.endswith(suffix) and path.removesuffix(suffix) in files:
                raise _fail(src.part, f"{path} is the name of {path.removesuffix(suffix)}'s checksum or signature")


def _fits_dist(files: dict[str, Source], dist: Path) -> None:
    """Each file can take its place in dist/: nothing there but a plain file or directories on the way."""
    if not dist.is_dir():
        return
    try:
        root = open_root(dist, follow=True)
    except Refused:
        return  # the transaction reports it
    try:
        for path, src in sorted(files.items()):
            kind = kind_at(root, path)
            if kind not in (None, "file"):
                raise _fail(src.part, f"{path}: dist/ holds a {'symbolic link' if kind == 'link' else kind} "
                                      "there (or on the way); remove it")
    finally:
        close_root(root)


def _check_file(root: int | Path, src: Source) -> None:
    a = src.artifact
    try:
        fd, st = open_file(root, src.rel)
    except Refused as exc:
        raise _fail(src.part, f"{a.path}: not read: {exc}") from None
    with os.fdopen(fd, "rb") as f:
        if st.st_size != a.size:
            raise _fail(src.part, f"{a.path}: {st.st_size} bytes, its part manifest says {a.size}")
        if _sha256(f) != a.sha256:
            raise MergeError(f"{src.part}: {a.path}: sha256 differs from its part manifest (corrupted upload?)")


def _sha256(f: BinaryIO) -> str:
    h = hashlib.sha256()
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
    return h.hexdigest()


def writer(root_path: Path, src: Source) -> Callable[[BinaryIO], None]:
    """Writes the bytes of src, read again without following a link (the transaction checks their sha256)."""
    def write(out: BinaryIO) -> None:
        try:
            root = open_root(root_path, follow=True)
            try:
                fd, _st = open_file(root, src.rel)
            finally:
                close_root(root)
        except Refused as exc:
            raise _fail(src.part, f"{src.artifact.path}: {exc}") from None
        with os.fdopen(fd, "rb") as f:
            shutil.copyfileobj(f, out, 1 << 20)
    return write
