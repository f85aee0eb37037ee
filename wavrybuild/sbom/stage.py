"""The sbom stage ([sbom]): <name>-<version>-<target>.cdx.json per built target (and package),
from cargo's dependency graph for that triple; listed in the manifest, SHA256SUMS and the notes,
and put into the wheels (the wheel stage runs after this one)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache, partial
from pathlib import Path
from typing import Any, ClassVar

from .. import cargo
from ..config import Bundle, Config, TargetConfig
from ..dist import Transaction, writes
from ..pipeline.stage import Planned, Run, Step, configured
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

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return {}

    def steps(self, run: Run, todo: Sequence[str] | None) -> Sequence[Step]:
        """Per bundle and target: the `cargo metadata` runs (one per slice, made by the step after
        them, not echoed: a query) and the SBOM written from them."""
        sc = configured(run, run.cfg.sbom, "sbom", "add [sbom] (docs/sbom-provenance.md)")
        cfg, targets = run.cfg, self._targets(run)
        tx = cache(lambda: Transaction(run.state, "sbom", run.state.require_manifest()))
        rows: list[tuple[str, str, str, str]] = []
        warned: set[tuple[str, str]] = set()

        def add(bundle: Bundle, t: TargetConfig) -> None:
            view = cfg.view(bundle)
            ((_t, names, paths),) = run.state.built(view, [t], "an SBOM", bundle)
            crates, roots = sbom.for_target(cfg.project.manifest_path, cfg.project.workspace_root / "Cargo.lock",
                                            list(bundle.packages), t.triple.slices, self.metadata)
            for c in sbom.unnormalised(crates.values()):
                if (c.name, c.version) not in warned and c.license:
                    warned.add((c.name, c.version))
                    run.ui.warn(f"crate {c.name} {c.version}: license {c.license.text!r} is not an SPDX expression "
                                f"({c.license.problem}); the SBOM lists it as a license name")
            text = sbom.document(view.project.name, view.project.version, t.id, t.triple.slices, crates, roots,
                                 # the shipped bytes: a Windows binary's signed copy (DistState.built)
                                 dict(zip(names, paths, strict=True)),
                                 tx().manifest.source_date_epoch, sc.spec_version)
            a = tx().add(sbom_name(view, t), writes(text.encode()), target=t.id, triple=str(t.triple), fmt="cdx.json",
                         binaries=names, packages=bundle.packages)
            rows.append((t.id, sbom_name(view, t), str(len(crates)), human_size(a.size)))

        def commit() -> bool:
            ids = {t.id for t in targets}
            changed = tx().commit(lambda a: a.target in ids)
            run.ui.table("SBOMs (CycloneDX)", ["target", "file", "components", "size"], rows)
            return changed

        out = [Step.finish(lambda: tx() is None)]  # the manifest first (False: nothing changed yet)
        for b in cfg.bundles:
            for t in targets:
                out += [Step(Planned(f"cargo metadata --filter-platform {triple} --format-version 1 --offline "
                                     f"--manifest-path {cfg.project.manifest_path}", command=True))
                        for triple in t.triple.slices]
                out.append(Step.write(f"would write {run.state.dist / sbom_name(cfg.view(b), t)} (CycloneDX "
                                      f"{sc.spec_version})", partial(add, b, t)))
        return [*out, Step.finish(commit)]
