"""The wheel stage ([channels.pypi]): Python wheels carrying each built target's binaries."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import ClassVar

from ...config import Config, TargetConfig
from ...config.channels import WheelConfig, parse_pypi
from ...dist import Transaction, ships_signed
from ...pipeline.stage import Planned, Run
from ...ui import human_size
from .format import wheel_files, write_wheel


class WheelStage:
    name: ClassVar[str] = "wheel"

    def __init__(self, *, chosen: bool = False) -> None:
        self.chosen = chosen  # --target given; otherwise every built target

    def applies(self, run: Run) -> bool:
        return run.cfg.channels.pypi is not None

    def _targets(self, run: Run) -> list[str]:
        built = run.state.built_ids()
        return [t.id for t in run.targets if self.chosen or t.id in built]

    def plan(self, run: Run) -> Sequence[Planned]:
        ids, built = self._targets(run), run.state.built_ids()
        if not ids or not all(t in built for t in ids):
            return [Planned("would write a Python wheel per target ([channels.pypi])")]
        chosen = [t for t in run.targets if t.id in ids]
        return [Planned(f"would write {run.state.dist / wheel_files(view, self._config(view), t, binaries)[0]}")
                for b in run.cfg.bundles for view in (run.cfg.view(b),)
                for t, _names, binaries in run.state.built(run.cfg, chosen, "a wheel", b)]

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return {}

    @staticmethod
    def _config(view: Config) -> WheelConfig:
        # `invoke wheel` works without [channels.pypi]: the defaults come from Cargo.toml.
        return view.channels.pypi or parse_pypi(view, {})

    @staticmethod
    def _sboms(run: Run, t: TargetConfig, packages: tuple[str, ...]) -> dict[str, bytes]:
        """This target's SBOM from the sbom stage, for the wheel's .dist-info/sboms/ (PEP 770)."""
        if run.cfg.sbom is None or not run.cfg.sbom.wheels or run.state.manifest is None:
            return {}
        return {a.path: (run.state.dist / a.path).read_bytes() for a in run.state.manifest.artifacts
                if a.kind == "sbom" and a.target == t.id and tuple(a.packages) == packages
                and (run.state.dist / a.path).is_file()}

    def run(self, run: Run, todo: Sequence[str] | None) -> bool:
        ids = self._targets(run)
        tx = Transaction(run.state, "wheel", run.state.require_manifest())
        rows = []
        for bundle in run.cfg.bundles:
            view = run.cfg.view(bundle)
            wc = self._config(view)
            for t, names, binaries in run.state.built(view, [t for t in run.targets if t.id in ids], "a wheel", bundle):
                filename, files = wheel_files(view, wc, t, binaries, self._sboms(run, t, bundle.packages))
                a = tx.add(filename, functools.partial(write_wheel, files=files), target=t.id, triple=str(t.triple),
                           fmt="whl", binaries=names, packages=bundle.packages, authenticode=ships_signed(view, t))
                rows.append((t.id, filename, human_size(a.size)))
        changed = tx.commit(lambda a: a.target in ids)
        run.ui.table("Python wheels", ["target", "wheel", "size"], rows)
        return changed

