"""The npm stage ([channels.npm]): a platform package per built target, and the main package whose
launchers run the right one. A CI matrix part writes only its platform packages; the merge
writes the main one."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ...config import Config, TargetConfig
from ...config.npm import NpmConfig, platforms, tarball_name
from ...dist import Transaction, ships_signed
from ...pipeline.stage import Run, Step, configured
from ...ui import human_size
from .format import main_files, platform_files, write_tarball


class NpmStage:
    name: ClassVar[str] = "npm"

    def __init__(self, *, main: bool = True, platform_packages: bool = True, chosen: bool = False) -> None:
        self.main, self.platform_packages, self.chosen = main, platform_packages, chosen

    def applies(self, run: Run) -> bool:
        return run.cfg.channels.npm is not None

    def _targets(self, run: Run) -> tuple[TargetConfig, ...]:
        nc = run.cfg.channels.npm
        assert nc is not None
        plats = {p.target.id for p in platforms(run.cfg, nc)}
        if not self.platform_packages:
            return ()
        built = run.state.built_ids()
        return tuple(t for t in run.targets if t.id in plats and (self.chosen or t.id in built))

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return {}

    def _config(self, run: Run) -> NpmConfig:
        return configured(run, run.cfg.channels.npm, "channels.npm", "add a [channels.npm] table (docs/channels-npm.md)")

    def steps(self, run: Run, todo: Sequence[str] | None) -> Sequence[Step]:
        self._config(run)
        built = run.state.built_ids()
        if run.dry and not self.platform_packages:  # a merge's: its manifest is made by the merge before it
            return [Step.write("would write the main npm package ([channels.npm])")]
        if run.dry and not all(t.id in built for t in run.targets):
            return [Step.write("would write an npm package per target and the main package ([channels.npm])")]
        targets = self._targets(run)
        jobs: list[tuple[TargetConfig | None, list[str], str, Any, str, tuple[str, ...]]] = []
        for bundle in run.cfg.bundles:
            view = run.cfg.view(bundle)
            nc = _npm(view)
            plats = {p.target.id: p for p in platforms(view, nc)}
            jobs += [(t, names, *platform_files(view, nc, plats[t.id], binaries), view.project.version, bundle.packages)
                     for t, names, binaries in run.state.built(view, targets, "an npm package", bundle)]
            if self.main:
                jobs.append((None, [], *main_files(view, nc), view.project.version, bundle.packages))
        # Opened by the first step: a dry run after `invoke build` alone has no manifest yet.
        tx = functools.cache(lambda: Transaction(run.state, "npm", run.state.require_manifest()))
        rows: list[tuple[str, str, str]] = []

        def add(t: TargetConfig | None, names: list[str], filename: str, files: Any, packages: tuple[str, ...]) -> None:
            a = tx().add(filename, functools.partial(write_tarball, files=files), target=t.id if t else "",
                       triple=str(t.triple) if t else "", fmt="tgz", binaries=names, packages=packages,
                       authenticode=t is not None and ships_signed(run.cfg, t))
            rows.append((t.id if t else "(all)", filename, human_size(a.size)))

        def commit() -> bool:
            chosen = {t.id for t in targets}
            changed = tx().commit(lambda a: a.target in chosen or (self.main and a.target == ""))
            run.ui.table("npm packages", ["target", "tarball", "size"], rows)
            return changed

        return [Step.finish(lambda: tx() is None),
                *(Step.write(f"would write the npm package {name}@{version} into {run.state.dist / tarball_name(name, version)}",
                             functools.partial(add, t, names, tarball_name(name, version), files, packages))
                  for t, names, name, files, version, packages in jobs),
                Step.finish(commit)]


def _npm(view: Config) -> NpmConfig:
    """A bundle's [channels.npm] (its own package names); the stage checked that there is one."""
    assert view.channels.npm is not None
    return view.channels.npm
