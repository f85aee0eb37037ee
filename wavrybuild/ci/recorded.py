"""The crate as the part job recorded it: what the release job reads instead of asking cargo.

The release job (merge, checksum, sign, verify, notes, publish) builds nothing, so it needs no Rust
(docs/ci.md, "The release job needs no Rust"). What it needs of the crate — the released packages,
their versions, binaries and the Cargo.toml fields the channels read — cargo said when the parts
were packaged, and every manifest holds it (`packages`, manifest.release_packages). Here that
record becomes again the answer of `cargo metadata --no-deps`, so the config the release job loads
is the one the parts were made with, on a machine with no cargo, and no cargo is started where
there is one. Without a record (no manifest yet, or one from before it was kept), Cargo.toml is read
itself, as `invoke doctor` does on a machine without Rust; cargo is never asked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import cargo, env
from ..config import Config
from ..config.load import load, read_toml
from ..config.project import Metadata, dist_dir
from ..env import Settings
from ..errors import ConfigError, ToolMissing
from ..manifest import MANIFEST_NAME, Manifest
from ..nofollow import Refused, close_root, open_root
from .parts import find_parts, merge_commit, parse_part

if TYPE_CHECKING:
    from ..config.ci import PartTrust
    from ..config.storage import StorageConfig

HINT = "run the part jobs (or `invoke package`) again: the release job reads the crate from what they recorded"


@dataclass(frozen=True)
class Record:
    """A manifest that records the crate, and where it was read (for messages)."""

    manifest: Manifest
    where: Path


def part_trust_of(config_path: Path, data: Mapping[str, Any], settings: Settings | None = None) -> PartTrust | None:
    """[ci]'s part key (or Sigstore identity), read from targets.toml before the config is loaded
    (the load needs the crate the parts record): a part is never read before its signature is checked."""
    if "ci" not in data:
        return None
    from ..config.ci import parse_ci, part_trust
    from ..config.sign import parse_sign

    ci = parse_ci(config_path, data["ci"])
    if ci.part_key != "sigstore":
        return ci.part_public_key if ci.part_key else None
    return part_trust(config_path, ci, parse_sign(config_path, data.get("sign", {}), settings or Settings.read()))


def find_record(config_path: Path, data: Mapping[str, Any], parts_dir: Path | None,
                settings: Settings | None = None) -> Record | None:
    """The manifest that records the crate: a merge's first part (all parts agree on it, ci/parts.py),
    else dist/manifest.json. None when there is none; a part that cannot be read — or, with [ci]
    part-key, whose signature does not verify or that was made at another commit — is the merge's
    error, named here as the merge would name it, and nothing of it is parsed."""
    dist = dist_dir(config_path, data.get("project"))
    if parts_dir is not None and parts_dir.is_dir():
        try:
            root = open_root(parts_dir, follow=True)
        except Refused:
            root = None  # the merge says why
        if root is not None:
            try:
                key = part_trust_of(config_path, data, settings)
                commit = merge_commit(config_path.parent) if key is not None else None
                rels = find_parts(parts_dir, skip=dist / MANIFEST_NAME)
                # A part manifest before a job's dist/manifest.json (the merge's first part, which all
                # must agree with); with [ci] part-key only the signed part manifests are parts.
                rels = [r for r in rels if key is None or r.rpartition("/")[2] != MANIFEST_NAME]
                for rel in sorted(rels, key=lambda r: r.rpartition("/")[2] == MANIFEST_NAME)[:1]:
                    part, manifest = parse_part(root, parts_dir, rel, key, commit)
                    return Record(manifest, part)
            finally:
                close_root(root)
    try:
        found = Manifest.load(dist)
    except ConfigError:
        return None  # unreadable: the stage (or verify) that reads it reports it
    return Record(found, Manifest.path(dist)) if found is not None else None


def recorded(record: Record | None) -> bool:
    """Whether the record holds what cargo said (manifests written before it was kept do not)."""
    return record is not None and bool(record.manifest.packages) and all(
        p.get("manifest") is not None for p in record.manifest.packages.values())


def metadata(config_path: Path, record: Record | None) -> Metadata:
    """What stands for `cargo metadata --no-deps` in the release job: the record, else Cargo.toml.
    (Crates too are published from what the package phase left, package/cratefiles.py.)"""
    root = config_path.parent

    def read(crate: Path) -> dict[str, Any]:
        if record is None or not recorded(record):
            try:
                return cargo.manifest_metadata(crate)
            except ToolMissing:  # a workspace: its members are cargo's to find, and cargo is not asked
                raise ConfigError(f"{crate}: a workspace, and no part manifest or dist/manifest.json records "
                                  "its packages", hint=HINT) from None
        m = record.manifest
        # The release's own package first, as cargo's answer put it for parse_project.
        names = sorted(m.packages, key=lambda n: (n != m.crate, n))
        return {"packages": [_package(root, record, n, m.packages[n]) for n in names],
                "workspace_root": str(crate.parent),
                "target_directory": env.var("CARGO_TARGET_DIR") or str(crate.parent / "target")}

    return read


def _package(root: Path, record: Record, name: str, p: Mapping[str, Any]) -> dict[str, Any]:
    manifest = root / str(p["manifest"])
    # The record comes from another machine: its path must name this checkout's Cargo.toml.
    if manifest.name != "Cargo.toml" or not manifest.is_file():
        raise ConfigError(f"{record.where}: packages.{name}.manifest: {p['manifest']} is not a Cargo.toml "
                          f"beside {root / 'targets.toml'}", hint="the parts come from another commit? " + HINT)
    fields = {k: p[k] for k in ("description", "authors", "license", "homepage", "repository", "readme")
              if p.get(k) is not None}
    return {**fields, "name": name, "version": p["version"], "manifest_path": os.path.normpath(manifest),
            "targets": [{"name": b, "kind": ["bin"]} for b in p["binaries"]]}


def load_release_job(path: str | os.PathLike[str], parts_dir: Path | None = None,
                     settings: Settings | None = None, *, publish: tuple[str, ...] | None = None) -> Config:
    """targets.toml for a release-job task, the crate taken from the record: never asks cargo, for
    any destination (`publish`: the destinations a publish task was given, () all; kept for callers)."""
    path = Path(path).absolute()
    data = read_toml(path)
    record = find_record(path, data, parts_dir, settings)
    cfg = load(path, settings=settings, metadata=metadata(path, record))
    if record is not None and recorded(record):
        _same_release(cfg, record)
    return cfg


def _same_release(cfg: Config, record: Record) -> None:
    """targets.toml still chooses the release the record was made for."""
    m, p = record.manifest, cfg.project
    if (p.package, p.name, p.version) != (m.crate, m.name, m.version) or {x.name for x in p.packages} != set(m.packages):
        what = p.title if len(p.packages) > 1 else f"{p.package} {p.version}"
        raise ConfigError(f"{cfg.project.config_path}: [project] releases {what} as {p.name}, but {record.where} "
                          f"was made for {m.crate} {m.version} as {m.name}",
                          hint="targets.toml changed since the parts were made: " + HINT)


def storage_and_dist(path: str | os.PathLike[str],
                     settings: Settings | None = None) -> tuple[Path, Path, StorageConfig | None]:
    """What a merge needs before it has the parts (and so the crate): targets.toml's path, its
    dist/ (checked as the full load checks it) and its [storage]."""
    from ..config.storage import parse_storage

    settings = settings or Settings.read()
    path = Path(path).absolute()
    data = read_toml(path)
    storage = parse_storage(path, data.get("storage"), settings) if "storage" in data or settings.storage else None
    return path, dist_dir(path, data.get("project")), storage
