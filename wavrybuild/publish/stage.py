"""The publish stage: dist/ uploaded to the [publish] destinations, npm packages to their registry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from ..manifest import MANIFEST_NAME
from ..pipeline.requirements import Requirement
from ..pipeline.stage import Run, Step
from .upload import PublishResult, credentials, publish


class PublishStage:
    name: ClassVar[str] = "publish"

    def __init__(self, *, only: tuple[str, ...] = ()) -> None:
        self.only = only
        self.results: list[PublishResult] = []

    def applies(self, run: Run) -> bool:
        return run.cfg.publishes

    def requires(self, run: Run) -> Sequence[Requirement]:
        """Every destination's credentials (their variables), as publish() will read them."""
        return credentials(run.cfg, self.only)

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return {}

    def steps(self, run: Run, todo: Sequence[str] | None) -> Sequence[Step]:
        # Publishing is one step: its plan is publish()'s own dry run over the same files and
        # destinations (every file and where it would go; no credential read, nothing contacted).
        # Everything is uploaded or nothing starts: credentials are all read before the first byte.
        cfg = run.cfg
        if run.dry and not (run.state.dist / MANIFEST_NAME).is_file():
            return [Step.write(line) for line in self._from_scratch(run)]
        self.results = publish(cfg, run.state.dist, only=self.only, dry=True, log=lambda _line: None)
        planned = [Step.write(r.line()) for r in self.results]

        def upload() -> bool:
            self.results = publish(cfg, run.state.dist, only=self.only, dry=False, log=run.ui.info)
            return not all(r.action == "skipped" for r in self.results)

        return [*planned, Step.finish(upload)]

    def _from_scratch(self, run: Run) -> list[str]:
        """Nothing is built in a dry run from scratch: where it would go instead of the files."""
        cfg = run.cfg
        lines = [f"would publish dist/ to [publish.{d.kind}]" for d in cfg.publish.files
                 if not self.only or d.kind in self.only]
        crates = cfg.publish.crates
        if crates and (not self.only or "crates" in self.only):
            lines += [f"would publish the crates {', '.join(crates.packages)} (packaged into dist/ first) to "
                      f"{crates.registry or 'crates.io'}"]
        npm = cfg.channels.npm
        if npm and npm.publish and (not self.only or "npm" in self.only):
            lines.append(f"would publish the npm packages to {npm.registry}")
        oci = cfg.channels.container
        if oci and (not self.only or "container" in self.only):
            lines += [f"would push the container image {oci.reference(t)}" for t in oci.tags]
        return lines
