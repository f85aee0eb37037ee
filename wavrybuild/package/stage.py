"""The package stage: each built target archived reproducibly into dist/, and dist/manifest.json
written. Unchanged archives are left alone (see dist.Transaction)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import BinaryIO, ClassVar

from ..config import TargetConfig
from ..dist import Transaction, clean_tmp
from ..manifest import MANIFEST_NAME, Manifest, git_state, release_packages
from ..pipeline.stage import Run, Step
from ..ui import human_size
from . import plan as pk
from .archive import HashingWriter, extension, source_date_epoch, write_archive


def _writer(p: pk.PackagePlan, mtime: int, level: int | None) -> Callable[[BinaryIO], None]:
    def write(f: BinaryIO) -> None:
        # Streamed through a non-seekable writer: the bytes do not depend on the file being seekable.
        write_archive(HashingWriter(f), p.fmt, p.top, list(p.entries), mtime, level)  # type: ignore[arg-type]

    return write


class PackageStage:
    name: ClassVar[str] = "package"

    def __init__(self, *, chosen: bool = False) -> None:
        self.chosen = chosen  # --target given: only these targets' archives are (re)written

    def applies(self, run: Run) -> bool:
        return True

    def _targets(self, run: Run) -> tuple[TargetConfig, ...]:
        cfg, dist = run.cfg, run.state.dist
        targets = run.targets
        if self.chosen and run.state.manifest is None and any(next(dist.glob(f"{b.name}-*"), None)
                                                               for b in cfg.bundles):
            # A run killed after replacing archives and before writing manifest.json leaves archives
            # nothing lists: package every built target again (same bytes: "unchanged"), so that none
            # of them drops out of the release.
            built = run.state.built_ids()
            targets = tuple(t for t in cfg.targets if t in targets or t.id in built)
            run.ui.info(f"{dist / MANIFEST_NAME} is missing (an interrupted run?): packaging every built target")
        return targets

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return {}  # unchanged archives are detected by their bytes

    def steps(self, run: Run, todo: Sequence[str] | None) -> Sequence[Step]:
        cfg, dist = run.cfg, run.state.dist
        built = run.state.built_ids()
        if run.dry and not all(t.id in built for t in run.targets):
            # Not built yet (a dry release from scratch): say what would be written.
            return [Step.write(f"would write {dist / (pk.archive_top(b, t) + extension(cfg.package.format_for(t)))}"
                               f" and {dist / MANIFEST_NAME}") for t in run.targets for b in cfg.bundles]
        mtime, mtime_from = source_date_epoch(cfg.project.manifest_path.parent)
        # Windows binaries go in as the codesign stage signed them (DistState.shipped): the bytes
        # every other artifact of the release carries too.
        plans = pk.plan(cfg, self._targets(run), run.state.record, dist, functools.partial(run.state.shipped, cfg))
        rows: list[tuple[str, str, str, str]] = []
        tx = functools.cache(lambda: self._transaction(run, plans, mtime, mtime_from))

        def add(p: pk.PackagePlan) -> None:
            with run.ui.progress(f"packaging {p.dest.name}"):
                a = tx().add(p.dest.name, _writer(p, mtime, cfg.package.compression_level), target=p.target.id,
                             triple=str(p.target.triple), fmt=p.fmt, binaries=sorted(p.binaries),
                             authenticode=p.codesigned, packages=list(p.packages))
            rows.append((p.target.id, p.dest.name, human_size(a.size), a.sha256[:16] + "…"))

        def commit() -> bool:
            chosen = {p.target.id for p in plans}
            changed = tx().commit(lambda a: a.target in chosen, prune_missing=True)
            run.ui.table(f"Packages in {dist}", ["target", "archive", "size", "sha256", "state"],
                         [(*r, "written" if r[1] in tx().written else "unchanged") for r in rows])
            return changed or bool(tx().written)

        return [Step.finish(lambda: tx() is None),  # False: starting the transaction changes nothing
                *(Step.write(f"would write {p.dest} ({p.fmt}, mtime {mtime} from {mtime_from}): "
                             + ", ".join(e.arcname for e in p.entries), functools.partial(add, p)) for p in plans),
                Step.finish(commit)]

    def _transaction(self, run: Run, plans: list[pk.PackagePlan], mtime: int, mtime_from: str) -> Transaction:
        """The new manifest (every other artifact kept) in a transaction, dist/'s leftovers cleaned first."""
        cfg, dist, record = run.cfg, run.state.dist, run.state.record
        clean_tmp(dist)
        old = run.state.manifest
        chosen = {p.target.id for p in plans}
        kept = [a for a in (old.artifacts if old else []) if a.target not in chosen or a.kind != "archive"]
        recs = [record.targets[t] for t in sorted({a.target for a in kept} | chosen) if t in record.targets]
        manifest = Manifest(
            crate=cfg.project.package, name=cfg.project.name, version=cfg.project.version,
            git=git_state(cfg.project.manifest_path.parent), source_date_epoch=mtime, source_date_epoch_from=mtime_from,
            tools={**record.tools, "rustc": {r.toolchain or "?": r.rustc for r in recs}},
            artifacts=list(old.artifacts) if old else [], checksums=old.checksums if old else None,
            signatures=list(old.signatures) if old else [],
            packages=release_packages(cfg), published=old.published if old else None,  # until checksum says
        )
        return Transaction(run.state, "archive", manifest)
