"""The smoke stage: each built binary run (natively or under qemu-user) and its output checked.
Resumable per target: a target whose binaries passed with the same build key, arguments and
expectation is not run again."""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Mapping, Sequence
from functools import partial
from typing import ClassVar

from ..config import Config, TargetConfig
from ..config.snapshots import base_version
from ..errors import SmokeFailed
from ..pipeline.stage import Planned, Run, Step
from ..triple import host_triple
from . import plan as s


def smoke_key(cfg: Config, t: TargetConfig, build_key: str) -> str:
    data = [build_key, t.smoke_args, t.smoke_expect, t.runner, base_version(cfg.project.version)]
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _shown(c: s.SmokeCheck) -> Planned | None:
    """The command a check runs; a check skipped or lacking its runner runs nothing (it is in the table)."""
    return None if c.skip or c.missing else Planned(shlex.join(c.argv), command=True)


class SmokeStage:
    name: ClassVar[str] = "smoke"

    def __init__(self, *, chosen: bool = False) -> None:
        # chosen: the targets were named (--target): check them even if not built (and fail).
        self.chosen = chosen

    def applies(self, run: Run) -> bool:
        return True

    def _targets(self, run: Run) -> tuple[TargetConfig, ...]:
        if self.chosen:
            return run.targets
        record = run.state.record
        targets = tuple(t for t in run.targets if t.id in record.targets)
        if not targets:
            raise SmokeFailed("nothing to smoke-run: no target has been built", hint="run `invoke build` first")
        return targets

    def _checks(self, run: Run, ids: Sequence[str] | None) -> list[s.SmokeCheck]:
        targets = tuple(t for t in self._targets(run) if ids is None or t.id in ids)
        return s.plan(run.cfg, targets, run.state.record, run.state.dist, host_triple())

    def keys(self, run: Run) -> Mapping[str, str | None]:
        record = run.state.record
        keys: dict[str, str | None] = {}
        for t in self._targets(run):
            rec = record.targets.get(t.id)
            keys[t.id] = smoke_key(run.cfg, t, rec.key) if rec is not None and rec.ok and rec.key else None
        return keys

    def steps(self, run: Run, todo: Sequence[str] | None) -> Sequence[Step]:
        results: list[s.SmokeResult] = []
        checks = self._checks(run, todo)

        def check(c: s.SmokeCheck) -> None:
            result = s.run_check(c)
            results.append(result)
            if result.status == "failed":
                run.ui.error(f"{c.target.id} {c.binary}: {result.detail}\n{result.output}".rstrip())

        # Not echoed when run: each check's outcome is a row of the table.
        return [*(Step(_shown(c), partial(check, c), quiet=True) for c in checks),
                Step.finish(lambda: self._report(run, results))]

    def _report(self, run: Run, results: list[s.SmokeResult]) -> bool:
        rows = [(r.check.target.id, r.check.binary, r.status, r.detail, r.output.splitlines()[0] if r.output else "")
                for r in results]
        run.ui.table("Smoke run", ["target", "binary", "result", "how / why", "output"], rows)
        failed = [r for r in results if r.status == "failed"]
        if failed:
            raise SmokeFailed(f"{len(failed)} smoke check(s) failed: "
                              + ", ".join(f"{r.check.target.id}/{r.check.binary}" for r in failed))
        return True
