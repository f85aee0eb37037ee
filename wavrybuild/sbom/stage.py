"""The sbom stage ([sbom]): <name>-<version>-<target>.cdx.json per built target (and package),
from cargo's dependency graph for that triple; listed in the manifest, SHA256SUMS and the notes,
and put into the wheels (the wheel stage runs after this one)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from .. import cargo
from ..config import Config, TargetConfig
from ..dist import Transaction, writes
from ..pipeline.stage import Planned, Run, configured
from ..ui import human_size
from . import cyclonedx as sbom


def sbom_name(view: Config, t: TargetConfig) -> str:
    return f"{view.project.name}-{view.project.version}-{t.id}.cdx.json"


def _metadata(manifest: Path, triple: str) -> dict[str, Any]:
    return cargo.metadata(manifest, platform=triple)


class SbomStage:
    name: ClassVar[str] = "sbom"

    def __init__(self, *, chosen: bool = False, metadata: sbom.Metadata = _metadata) -> None:
        self.chosen = chosen
        self.metadata = metadata

    def applies(self, run: Run) -> bool:
        return run.cfg.sbom is not None

    def _targets(self, run: Run) -> list[TargetConfig]:
        built = run.state.built_ids()
        return [t for t in run.targets if self.chosen or t.id in built]

    def plan(self, run: Run) -> Sequence[Planned]:
        configured(run, run.cfg.sbom, "sbom", "add [sbom] (docs/sbom-provenance.md)")
        out = []
        for b in run.cfg.bundles:
            view = run.cfg.view(b)
            for t in self._targets(run):
                for triple in t.triple.slices:
                    out.append(Planned(f"cargo metadata --filter-platform {triple} --format-version 1 --offline "
                                       f"--manifest-path {run.cfg.project.manifest_path}", command=True))
                out.append(Planned(f"would write {run.state.dist / sbom_name(view, t)} (CycloneDX "
                                   f"{run.cfg.sbom.spec_version if run.cfg.sbom else ''})"))
        return out

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return {}

    def run(self, run: Run, todo: Sequence[str] | None) -> bool:
        sc = configured(run, run.cfg.sbom, "sbom", "add [sbom] (docs/sbom-provenance.md)")
        cfg = run.cfg
        manifest = run.state.require_manifest()
        targets = self._targets(run)
        tx = Transaction(run.state, "sbom", manifest)
        lock = cfg.project.workspace_root / "Cargo.lock"
        rows = []
        for bundle in cfg.bundles:
            view = cfg.view(bundle)
            for t, names, paths in run.state.built(view, targets, "an SBOM", bundle):
                crates, roots = sbom.for_target(cfg.project.manifest_path, lock, list(bundle.packages),
                                                t.triple.slices, self.metadata)
                text = sbom.document(view.project.name, view.project.version, t.id, t.triple.slices, crates, roots,
                                     # the shipped bytes: a Windows binary's signed copy (DistState.built)
                                     dict(zip(names, paths, strict=True)),
                                     manifest.source_date_epoch, sc.spec_version)
                name = sbom_name(view, t)
                a = tx.add(name, writes(text.encode()), target=t.id, triple=str(t.triple), fmt="cdx.json",
                           binaries=names, packages=bundle.packages)
                rows.append((t.id, name, str(len(crates)), human_size(a.size)))
        ids = {t.id for t in targets}
        changed = tx.commit(lambda a: a.target in ids)
        run.ui.table("SBOMs (CycloneDX)", ["target", "file", "components", "size"], rows)
        return changed
