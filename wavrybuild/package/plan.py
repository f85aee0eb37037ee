"""Archive plans: which files go into each target's archive, checked before anything is written.
The package stage (package/stage.py) writes them through one dist/ transaction."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..build.plan import build_key
from ..config import Bundle, Config, TargetConfig
from ..cratedocs import crate_docs
from ..errors import ConfigError, WavryError
from ..fsutil import file_kind
from ..record import BinaryRecord, BuildRecord
from .archive import Entry, extension


@dataclass(frozen=True)
class PackagePlan:
    target: TargetConfig
    fmt: str
    dest: Path
    top: str
    entries: tuple[Entry, ...]
    binaries: tuple[str, ...]
    codesigned: bool = False
    packages: tuple[str, ...] = ()  # the cargo packages whose binaries it holds


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
                if not real.is_file():  # a FIFO or a device would hang or never end the packing
                    mode = real.stat().st_mode
                    raise ConfigError(f"{where}: package.include: {f} is {file_kind(mode)}, not a regular file",
                                      hint="include regular files only")
                arcname = f.relative_to(crate_dir).as_posix()
                entries[arcname] = Entry(arcname, real, os.access(real, os.X_OK))
    return list(entries.values())


def doc_files(config: Config, bundle: Bundle) -> list[Entry]:
    """The bundle's crate documents (LICENSE*, README*…: cratedocs.py) at the archive's top, unless
    [package] crate-docs = false; a bundle of several packages takes the lead package's."""
    if not config.package.crate_docs:
        return []
    docs = crate_docs(config.view(bundle).project.metadata, config.project.workspace_root)
    return [Entry(d.name, d.path, False) for d in docs]


def _with_docs(extras: list[Entry], docs: list[Entry]) -> list[Entry]:
    """The include entries, then the documents they do not already hold (by name)."""
    names = {e.arcname for e in extras}
    return extras + [d for d in docs if d.arcname not in names]


Shipped = Callable[[TargetConfig, list[BinaryRecord]], list[Path]]


def plan(config: Config, targets: tuple[TargetConfig, ...], record: BuildRecord, dist: Path,
         shipped: Shipped | None = None) -> list[PackagePlan]:
    """`shipped` gives the bytes each binary is archived as (`DistState.shipped`: a Windows
    binary's Authenticode-signed copy); without it, the staged binaries."""
    included = extra_files(config)
    docs = {b: doc_files(config, b) for b in config.bundles}
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
        for bundle in config.bundles:
            top = archive_top(bundle, t)
            extras = _with_docs(included, docs[bundle])
            dest = dist / (top + extension(fmt))
            if dest.parent.resolve() != dist.resolve():
                raise ConfigError(f"{dest}: would be written outside {dist}")
            mine = [b for b in rec.binaries if b.name in bundle.binaries]
            lacking = sorted(set(bundle.binaries) - {b.name for b in mine})
            if lacking:
                raise WavryError(f"{t.id}: its build has no {', '.join(lacking)}",
                                 hint=f"run `invoke build --target {t.id}` again")
            paths = shipped(t, mine) if shipped else [dist / b.path for b in mine]
            bins = [Entry(Path(b.path).name, p, True) for b, p in zip(mine, paths, strict=True)]
            names = {e.arcname for e in bins}
            clash = [e.arcname for e in extras if e.arcname in names]
            if clash:
                key = "include" if any(e.arcname == clash[0] for e in included) else "crate-docs"
                raise ConfigError(f"{config.project.config_path}: package.{key}: {clash[0]!r} has the name of a binary",
                                  hint="rename the file, or set [package] crate-docs = false and list what to ship "
                                       "in include")
            for b in bins:
                if not b.source.is_file():
                    raise WavryError(f"{t.id}: {b.source} is missing", hint=f"run `invoke build --target {t.id}` again")
            signed = any(p != dist / b.path for b, p in zip(mine, paths, strict=True))
            plans.append(PackagePlan(t, fmt, dest, top, tuple(bins + extras), tuple(b.name for b in mine), signed,
                                     bundle.packages))
    return plans


def archive_top(bundle: Bundle, t: TargetConfig) -> str:
    """The archive's name without its extension, and its top directory: <name>-<version>-<target>."""
    return f"{bundle.name}-{bundle.version}-{t.id}"
