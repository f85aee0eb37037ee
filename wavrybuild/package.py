"""The package stage: plan archives from the build record, write them beside dist/, then commit.

Crash safety: archives are written in dist/.wavrybuild/tmp and renamed into dist/. Before any
archive whose bytes change is renamed into place, SHA256SUMS, that archive's sidecar and
manifest.json are removed, so a run killed at any moment leaves either the old consistent set or
files that no checksum file contradicts; the next run completes it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .archive import Entry, HashingWriter, extension, write_archive
from .build import build_key
from .checksum import SIDECAR_SUFFIX, SIGNATURE_SUFFIXES, SUMS_NAME, sha256_file
from .config import Config, TargetConfig
from .errors import ConfigError, WavryError
from .fsutil import fsync_dir
from .manifest import MANIFEST_NAME, Artifact
from .record import BuildRecord, tmp_dir


@dataclass(frozen=True)
class PackagePlan:
    target: TargetConfig
    fmt: str
    dest: Path
    top: str
    entries: tuple[Entry, ...]
    binaries: tuple[str, ...]
    codesigned: bool = False


def extra_files(config: Config) -> list[Entry]:
    """The [package] include patterns, resolved inside the crate directory. Errors name the pattern."""
    crate_dir = config.project.manifest_path.parent.resolve()
    where = config.project.config_path
    entries: dict[str, Entry] = {}
    for pattern in config.package.include:
        matches = sorted(crate_dir.glob(pattern))
        if not matches:
            raise ConfigError(
                f"{where}: package.include: {pattern!r} matches no file in {crate_dir}",
                hint="fix the pattern or remove it; a missing extra file is not skipped silently",
            )
        for match in matches:
            files = sorted(p for p in match.rglob("*") if p.is_file()) if match.is_dir() else [match]
            for f in files:
                real = f.resolve()
                if not real.is_relative_to(crate_dir):
                    raise ConfigError(
                        f"{where}: package.include: {f} resolves to {real}, outside the crate directory",
                        hint="copy the file into the crate instead of linking to it",
                    )
                arcname = f.relative_to(crate_dir).as_posix()
                entries[arcname] = Entry(arcname, real, os.access(real, os.X_OK))
    return list(entries.values())


def plan(config: Config, targets: tuple[TargetConfig, ...], record: BuildRecord, dist: Path,
         replace: dict[Path, Path] | None = None) -> list[PackagePlan]:
    """`replace` swaps staged binaries for their signed copies (Authenticode)."""
    replace = replace or {}
    extras = extra_files(config)
    plans = []
    for t in targets:
        rec = record.targets.get(t.id)
        if rec is None or not rec.ok:
            raise WavryError(
                f"{t.id}: nothing to package: " + ("not built" if rec is None else "its last build failed"),
                hint=f"run `invoke build --target {t.id}` first",
            )
        if rec.fingerprint != build_key(config.project, t):
            raise WavryError(
                f"{t.id}: its binaries were built from another crate version or target config",
                hint=f"run `invoke build --target {t.id}` again",
            )
        fmt = config.package.format_for(t)
        top = f"{config.project.name}-{config.project.version}-{t.id}"
        dest = dist / (top + extension(fmt))
        if dest.parent.resolve() != dist.resolve():
            raise ConfigError(f"{dest}: would be written outside {dist}")
        bins = [Entry(Path(b.path).name, replace.get(dist / b.path, dist / b.path), True) for b in rec.binaries]
        names = {e.arcname for e in bins}
        clash = [e.arcname for e in extras if e.arcname in names]
        if clash:
            raise ConfigError(f"{config.project.config_path}: package.include: {clash[0]!r} has the name of a binary")
        for b in bins:
            if not b.source.is_file():
                raise WavryError(f"{t.id}: {b.source} is missing", hint=f"run `invoke build --target {t.id}` again")
        signed = any(dist / b.path in replace for b in rec.binaries)
        plans.append(PackagePlan(t, fmt, dest, top, tuple(bins + extras), tuple(b.name for b in rec.binaries), signed))
    return plans


@dataclass
class Written:
    plan: PackagePlan
    tmp: Path
    sha256: str
    size: int
    changed: bool


def write(p: PackagePlan, dist: Path, mtime: int, level: int | None) -> Written:
    """Write one archive to a temp file under dist/.wavrybuild/tmp (fsynced), hashing it as it goes."""
    tmp = tmp_dir(dist) / f"{p.dest.name}.{os.getpid()}.part"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("wb") as raw:
        hw = HashingWriter(raw)
        write_archive(hw, p.fmt, p.top, list(p.entries), mtime, level)  # type: ignore[arg-type]
        raw.flush()
        os.fsync(raw.fileno())
    digest = hw.sha256.hexdigest()
    changed = not (p.dest.exists() and p.dest.stat().st_size == hw.size and sha256_file(p.dest) == digest)
    return Written(p, tmp, digest, hw.size, changed)


def commit(written: list[Written], dist: Path) -> None:
    """Move new archives into dist/, invalidating whatever would disagree with them first."""
    changed = [w for w in written if w.changed]
    if changed:
        names = [SUMS_NAME, MANIFEST_NAME]
        for described in [SUMS_NAME, *(w.plan.dest.name for w in changed)]:
            names += [described + suffix for suffix in (SIDECAR_SUFFIX, *SIGNATURE_SUFFIXES)]
        for name in names:
            (dist / name).unlink(missing_ok=True)
        fsync_dir(dist)
    for w in written:
        if w.changed:
            os.chmod(w.tmp, 0o644)
            os.replace(w.tmp, w.plan.dest)
        else:
            w.tmp.unlink()
    fsync_dir(dist)


def artifact(w: Written) -> Artifact:
    return Artifact(
        target=w.plan.target.id,
        triple=str(w.plan.target.triple),
        kind="archive",
        format=w.plan.fmt,
        path=w.plan.dest.name,
        size=w.size,
        sha256=w.sha256,
        binaries=sorted(w.plan.binaries),
        authenticode=w.plan.codesigned,
    )


def clean_tmp(dist: Path) -> None:
    """Leftovers of a killed run."""
    shutil.rmtree(tmp_dir(dist), ignore_errors=True)


