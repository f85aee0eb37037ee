"""The publish stage: dist/ uploaded to the [publish] destinations, npm packages to their registry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from ..manifest import MANIFEST_NAME
from ..pipeline.stage import Planned, Run
from .crates import publish_crates
from .upload import PublishResult, publish


class PublishStage:
    name: ClassVar[str] = "publish"

    def __init__(self, *, only: tuple[str, ...] = ()) -> None:
        self.only = only
        self.results: list[PublishResult] = []

    def applies(self, run: Run) -> bool:
        return run.cfg.publishes

    def plan(self, run: Run) -> Sequence[Planned]:
        cfg = run.cfg
        if not (run.state.dist / MANIFEST_NAME).is_file():
            # Nothing is built in a dry run from scratch: say where it would go instead of listing files.
            lines = [Planned(f"would publish dist/ to [publish.{d.kind}]") for d in cfg.publish.files
                     if not self.only or d.kind in self.only]
            crates = cfg.publish.crates
            if crates and (not self.only or "crates" in self.only):
                lines += [Planned(r.line()) for r in publish_crates(cfg, crates, dry=True, log=lambda _line: None)]
            npm = cfg.channels.npm
            if npm and npm.publish and (not self.only or "npm" in self.only):
                lines.append(Planned(f"would publish the npm packages to {npm.registry}"))
            return lines
        # Lists every file and where it would go; reads no credential and contacts nothing.
        self.results = publish(cfg, run.state.dist, only=self.only, dry=True, log=lambda _line: None)
        return [Planned(r.line()) for r in self.results]

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return {}

    def run(self, run: Run, todo: Sequence[str] | None) -> bool:
        self.results = publish(run.cfg, run.state.dist, only=self.only, dry=False, log=run.ui.info)
        return not all(r.action == "skipped" for r in self.results)
