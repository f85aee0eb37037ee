"""The pipeline runner: runs stages in order, each in a log group, timed; keeps every stage's
resume keys in dist/.wavrybuild/steps.json; stops at the first failure; ends with a summary.

The same runner runs a whole `invoke release` and a single-stage task (`invoke smoke`,
`invoke package`, …), so both skip and resume alike.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import WavryError
from ..fsutil import state_dir, write_atomic
from .stage import Run, Stage, Status, execute, show


@dataclass
class StageResult:
    stage: str
    status: Status
    seconds: float = 0.0
    detail: str = ""


class Steps:
    """dist/.wavrybuild/steps.json: per stage, the resume key of each unit last done successfully."""

    def __init__(self, dist: Path) -> None:
        self.file = state_dir(dist) / "steps.json"
        try:
            data = json.loads(self.file.read_text())
            self.keys: dict[str, dict[str, str]] = {
                str(stage): {str(u): str(k) for u, k in units.items()}
                for stage, units in data.items() if isinstance(units, dict)} if isinstance(data, dict) else {}
        except (OSError, ValueError):
            self.keys = {}

    def todo(self, stage: str, keys: Mapping[str, str | None]) -> list[str]:
        done = self.keys.get(stage, {})
        return [unit for unit, key in keys.items() if key is None or done.get(unit) != key]

    def record(self, stage: str, keys: Mapping[str, str | None], units: Sequence[str]) -> None:
        entry = self.keys.setdefault(stage, {})
        for unit in units:
            key = keys.get(unit)
            if key is not None:
                entry[unit] = key
        self.file.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.file, json.dumps(self.keys, indent=2, sort_keys=True))


class Pipeline:
    def __init__(self, run: Run, *, note: str | None = None) -> None:
        self.run = run
        self.results: list[StageResult] = []
        self.note = note  # said in the summary's title: "snapshot: not published (why: …)"

    def stage(self, stage: Stage, *, always: bool = False) -> Status:
        """Run one stage. `always`: a task that names the stage runs it even when not configured
        (the stage then says what is missing)."""
        run, start = self.run, time.monotonic()
        try:
            status = self._status(stage, always)
        except WavryError as exc:
            self.results.append(StageResult(stage.name, Status.FAILED, time.monotonic() - start,
                                            str(exc).splitlines()[0]))
            raise
        self.results.append(StageResult(stage.name, status, time.monotonic() - start))
        if status is Status.UP_TO_DATE and not run.dry:
            run.ui.info(f"{stage.name}: up to date")
        return status

    def _status(self, stage: Stage, always: bool) -> Status:
        run = self.run
        if not always and not stage.applies(run):
            return Status.SKIPPED
        if run.dry:
            show(run, stage.steps(run, None))
            return Status.DRY
        keys = stage.keys(run)
        steps = Steps(run.state.dist)
        todo = list(keys) if run.force else steps.todo(stage.name, keys)
        if keys and not todo:
            return Status.UP_TO_DATE
        units = todo if keys else None
        changed = execute(run, stage.steps(run, units))
        if keys:
            # Asked again: a key may only exist once the outputs do (sign: the signature files).
            steps.record(stage.name, stage.keys(run), todo)
        return Status.DONE if changed else Status.UP_TO_DATE

    def pipeline(self, stages: Sequence[Stage], title: str) -> None:
        """Every stage in order, each in a log group; the summary table even after a failure."""
        try:
            for stage in stages:
                with self.run.ui.group(f"{title}: {stage.name}"):
                    self.stage(stage)
        finally:
            self.summary()

    def summary(self) -> None:
        if isinstance(sys.exc_info()[1], KeyboardInterrupt):
            return  # Ctrl-C (from a `finally`): the task says "interrupted", no table of half-run stages
        title = f"Release of {self.run.cfg.project.title}" + (f" ({self.note})" if self.note else "")
        rows = [(r.stage, r.status.value, f"{r.seconds:.1f} s", r.detail) for r in self.results]
        self.run.ui.table(title, ["stage", "result", "time", "detail"], rows)
        self.run.ui.step_summary(title, ["stage", "result", "time", "detail"], rows)
