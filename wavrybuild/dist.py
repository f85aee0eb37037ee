"""dist/ as one run sees it, and the one way it is changed.

`DistState` loads the build record and manifest.json once per run and hands them to every stage.
`Transaction` is how package, every channel, checksum, sign and merge write: files are staged in
dist/.wavrybuild/tmp (fsynced), then committed together. Unchanged bytes leave the published file
(and its mtime) alone; a change first removes what would no longer hold — SHA256SUMS, its
signatures, the replaced file's sidecar and signatures — then swaps the files in and saves the
manifest last. A kill at any point leaves a dist/ that the next run repairs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .checksum import SIDECAR_SUFFIX, SIGNATURE_SUFFIXES, SUMS_NAME, sha256_file
from .config import Bundle, Config, TargetConfig
from .errors import WavryError
from .fsutil import disk_full_is_an_error, fsync_dir, tmp_dir
from .manifest import MANIFEST_NAME, Artifact, Manifest
from .record import BinaryRecord, BuildRecord

Writer = Callable[[BinaryIO], None]
# What a CI matrix part job leaves in dist/ for its artifact upload (archives, wheels, npm tarballs,
# .deb/.rpm, [desktop] images and installers, SBOMs, crates), besides its part manifest: the globs of
# `invoke plan`'s GitLab jobs and of the GitHub workflows init writes.
PART_FILES = ("dist/*.tar.*", "dist/*.zip", "dist/*.whl", "dist/*.tgz", "dist/*.deb", "dist/*.rpm", "dist/*.dmg",
              "dist/*.msi", "dist/*.exe", "dist/*.cdx.json", "dist/*.crate", "dist/*.crate.json")


class DistState:
    """The build record and manifest of one dist/, loaded on first use and shared by the stages."""

    def __init__(self, dist: Path) -> None:
        self.dist = dist
        self._record: BuildRecord | None = None
        self._manifest: Manifest | None = None
        self._manifest_loaded = False

    @property
    def record(self) -> BuildRecord:
        if self._record is None:
            self._record = BuildRecord.load(self.dist)
        return self._record

    @property
    def manifest(self) -> Manifest | None:
        if not self._manifest_loaded:
            self._manifest, self._manifest_loaded = Manifest.load(self.dist), True
        return self._manifest

    def require_manifest(self) -> Manifest:
        manifest = self.manifest
        if manifest is None:
            raise WavryError(f"{self.dist / MANIFEST_NAME}: missing", hint="run `invoke package` first")
        return manifest

    def saved(self, manifest: Manifest) -> None:
        """`manifest` was just written: later stages see it without reading the file again."""
        self._manifest, self._manifest_loaded = manifest, True

    def forget_record(self) -> None:
        """The build stage wrote a new record."""
        self._record = None

    def built_ids(self) -> set[str]:
        return {t for t, r in self.record.targets.items() if r.ok}

    def built(self, cfg: Config, targets: Iterable[TargetConfig], what: str,
              bundle: Bundle | None = None) -> list[tuple[TargetConfig, list[str], list[Path]]]:
        """Each target's binaries (names, staged paths), only `bundle`'s when given; a target that
        was not built is an error naming it."""
        out = []
        for t in targets:
            rec = self.record.targets.get(t.id)
            if rec is None or not rec.ok:
                raise WavryError(f"{t.id}: nothing to put in {what}: not built", hint=f"run `invoke build --target {t.id}`")
            mine = [b for b in rec.binaries if bundle is None or b.name in bundle.binaries]
            if bundle is not None and len(mine) != len(bundle.binaries):
                raise WavryError(f"{t.id}: its build lacks some of {', '.join(bundle.binaries)}",
                                 hint=f"run `invoke build --target {t.id}` again")
            out.append((t, [b.name for b in mine], self.shipped(cfg, t, mine)))
        return out

    def shipped(self, cfg: Config, t: TargetConfig, binaries: Iterable[BinaryRecord]) -> list[Path]:
        """The bytes every artifact of `t` carries: with [sign] authenticode, a Windows binary's signed
        copy (the codesign stage's), else the staged binary. One function, so no stage can take the
        unsigned one: a Windows binary not signed yet is an error."""
        if not ships_signed(cfg, t):
            return [self.dist / b.path for b in binaries]
        out = []
        for b in binaries:
            if not b.signed or not (self.dist / b.signed).is_file():
                raise WavryError(f"{t.id}: {b.name} is not Authenticode-signed yet ([sign] authenticode)",
                                 hint=f"run `invoke codesign --target {t.id}` (`invoke release` does)")
            out.append(self.dist / b.signed)
        return out


def ships_signed(cfg: Config, t: TargetConfig) -> bool:
    """Whether `t`'s binaries ship Authenticode-signed: a Windows target, with [sign] authenticode."""
    return t.triple.is_windows and "authenticode" in cfg.sign.methods


def described_by(name: str) -> list[str]:
    """The files that vouch for `name`: its sidecar and detached signatures."""
    return [name + suffix for suffix in (SIDECAR_SUFFIX, *SIGNATURE_SUFFIXES)]


# Staged files of this process not yet swapped in: Ctrl-C removes them (discard_staged).
_PENDING: set[Path] = set()


def discard_staged() -> None:
    """An interrupted or failed task: the files it staged and never committed go (a transaction
    not committed leaves dist/ as it was)."""
    for part in list(_PENDING):
        part.unlink(missing_ok=True)
    _PENDING.clear()


@contextlib.contextmanager
def _uninterrupted() -> Iterator[None]:
    """Ctrl-C during a commit takes effect once it is done: dist/ changes whole or not at all."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))
    try:
        yield
    finally:
        # None: a handler not set from Python (an embedding program's); the default then.
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
    if got:
        raise KeyboardInterrupt


@dataclass
class _Staged:
    part: Path
    dest: Path
    sha256: str
    size: int

    @property
    def changed(self) -> bool:
        return not (self.dest.is_file() and self.dest.stat().st_size == self.size and sha256_file(self.dest) == self.sha256)


@dataclass
class Transaction:
    """One change to dist/ (see the module docstring). `kind` is the artifact kind it replaces
    (archive, wheel, npm, deb, …), or None for a change of every kind (a merge)."""

    state: DistState
    kind: str | None
    manifest: Manifest
    staged: list[_Staged] = field(default_factory=list)
    new: list[Artifact] = field(default_factory=list)
    written: set[str] = field(default_factory=set)  # after commit: the files whose bytes changed

    @property
    def dist(self) -> Path:
        return self.state.dist

    def _stage(self, filename: str, write: Writer) -> _Staged:
        tmp = tmp_dir(self.dist)
        with disk_full_is_an_error(self.dist / filename):
            tmp.mkdir(parents=True, exist_ok=True)
        # Flat in tmp/ (a name may have directories: `sub/file`); the directories are made on commit.
        part = tmp / f"{filename.replace('/', '%2F')}.{os.getpid()}.part"
        try:
            with disk_full_is_an_error(self.dist / filename), part.open("wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            part.unlink(missing_ok=True)  # a failed write (a full disk) leaves no partial file behind
            raise
        _PENDING.add(part)
        staged = _Staged(part, self.dist / filename, sha256_file(part), part.stat().st_size)
        self.staged.append(staged)
        return staged

    def add(self, filename: str, write: Writer, *, target: str, triple: str, fmt: str, binaries: list[str],
            kind: str | None = None, authenticode: bool = False, packages: Iterable[str] = ()) -> Artifact:
        """Stage an artifact written by `write`; listed in the manifest on commit."""
        staged = self._stage(filename, write)
        a = Artifact(target=target, triple=triple, kind=kind or self.kind or "", format=fmt, path=filename,
                     size=staged.size, sha256=staged.sha256, binaries=binaries, authenticode=authenticode,
                     packages=list(packages))
        self.new.append(a)
        return a

    def add_copy(self, artifact: Artifact, src: Path, write: Writer | None = None) -> None:
        """Stage an artifact made elsewhere (a part of a CI matrix), as its own manifest describes it
        (`write`, when given, copies src's bytes: the merge reads parts without following links)."""
        staged = self._stage(artifact.path, write or (lambda f: _copy(src, f)))
        if staged.sha256 != artifact.sha256:
            raise WavryError(f"{src}: sha256 differs from its part manifest (changed while merging?)")
        self.new.append(artifact)

    def put(self, filename: str, write: Writer) -> None:
        """Stage a file that is not an artifact (SHA256SUMS, a sidecar, a signature)."""
        self._stage(filename, write)

    def commit(self, replaces: Callable[[Artifact], bool] = lambda a: False, *, prune_missing: bool = False) -> bool:
        """Swap in the staged files; `replaces(artifact)` says which listed entries of this kind the
        new ones replace. Returns whether the set of artifacts (names or bytes) changed."""
        # Renames need no space, but a new directory or the manifest may: a full disk stops here
        # like a kill would, in a state the next run repairs, with one message.
        with _uninterrupted(), disk_full_is_an_error(self.dist / MANIFEST_NAME):
            return self._commit(replaces, prune_missing)

    def _commit(self, replaces: Callable[[Artifact], bool], prune_missing: bool) -> bool:
        manifest = self.manifest
        before = {a.path: a.sha256 for a in manifest.artifacts}
        kept = [a for a in manifest.artifacts if not ((self.kind is None or a.kind == self.kind) and replaces(a))]
        if prune_missing:
            kept = [a for a in kept if (self.dist / a.path).is_file()]
        manifest.artifacts = kept + self.new
        changed = {a.path: a.sha256 for a in manifest.artifacts} != before
        moving = [s for s in self.staged if s.changed]
        moved_names = self.written = {s.dest.name for s in moving}
        # What vouched for the old bytes goes first (a file that is itself replaced is put back below).
        stale = [n for s in moving for n in described_by(s.dest.name)]
        if changed:
            stale += [SUMS_NAME, *described_by(SUMS_NAME)]
            manifest.checksums = None
        if stale or moving:
            (self.dist / MANIFEST_NAME).unlink(missing_ok=True)  # rewritten below, after the files
            for name in stale:
                (self.dist / name).unlink(missing_ok=True)
            manifest.signatures = [s for s in manifest.signatures if s.get("signs") not in moved_names
                                   and (not changed or s.get("signs") != SUMS_NAME)]
            fsync_dir(self.dist)
        for s in self.staged:
            if s in moving:
                os.chmod(s.part, 0o644)
                s.dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(s.part, s.dest)
            else:
                s.part.unlink()
            _PENDING.discard(s.part)
        fsync_dir(self.dist)
        manifest.save(self.dist)
        self.state.saved(manifest)
        return changed


def _copy(src: Path, f: BinaryIO) -> None:
    with src.open("rb") as s:
        shutil.copyfileobj(s, f, 1 << 20)


def writes(data: bytes) -> Writer:
    def write(f: BinaryIO) -> None:
        f.write(data)

    return write


def clean_tmp(dist: Path) -> None:
    """Leftovers of a killed run (the caller holds dist/'s lock: nobody else is writing there)."""
    shutil.rmtree(tmp_dir(dist), ignore_errors=True)
