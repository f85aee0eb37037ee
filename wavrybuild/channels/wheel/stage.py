"""The wheel stage ([channels.pypi]): Python wheels carrying each built target's binaries."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ...config import Config, TargetConfig
from ...config.channels import WheelConfig, parse_pypi
from ...dist import Transaction, ships_signed
from ...pipeline.stage import Run, Step
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

    def steps(self, run: Run, todo: Sequence[str] | None) -> Sequence[Step]:
        ids, built = self._targets(run), run.state.built_ids()
        if run.dry and (not ids or not all(t in built for t in ids)):
            return [Step.write("would write a Python wheel per target ([channels.pypi])")]
        # Opened by the first step: a dry run after `invoke build` alone has no manifest yet.
        tx = functools.cache(lambda: Transaction(run.state, "wheel", run.state.require_manifest()))
        rows: list[tuple[str, str, str]] = []
        out = []
        for bundle in run.cfg.bundles:
            view = run.cfg.view(bundle)
            wc = self._config(view)
            for t, names, binaries in run.state.built(view, [t for t in run.targets if t.id in ids], "a wheel", bundle):
                filename, files = wheel_files(view, wc, t, binaries, self._sboms(run, t, bundle.packages))

                def add(filename: str = filename, files: Any = files, t: TargetConfig = t, names: list[str] = names,
                        packages: tuple[str, ...] = bundle.packages, signed: bool = ships_signed(view, t)) -> None:
                    a = tx().add(filename, functools.partial(write_wheel, files=files), target=t.id, triple=str(t.triple),
                               fmt="whl", binaries=names, packages=packages, authenticode=signed)
                    rows.append((t.id, filename, human_size(a.size)))

                out.append(Step.write(f"would write {run.state.dist / filename}", add))

        def commit() -> bool:
            changed = tx().commit(lambda a: a.target in ids)
            run.ui.table("Python wheels", ["target", "wheel", "size"], rows)
            return changed

        return [Step.finish(lambda: tx() is None), *out, Step.finish(commit)]

