"""Smoke-run: execute each built binary through its target's runner and check what it prints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import proc
from ..config import Config, TargetConfig
from ..config.snapshots import base_version
from ..record import BuildRecord
from ..toolchain.probe import Runner, choose_runner


@dataclass(frozen=True)
class SmokeCheck:
    target: TargetConfig
    binary: str
    argv: tuple[str, ...]
    expect: str | None
    runner: Runner
    skip: str | None = None  # why it cannot run here
    missing: str | None = None  # why there is nothing to run


@dataclass(frozen=True)
class SmokeResult:
    check: SmokeCheck
    status: str  # passed | failed | skipped
    detail: str = ""
    output: str = ""


def plan(config: Config, targets: tuple[TargetConfig, ...], record: BuildRecord, dist: Path, host: str) -> list[SmokeCheck]:
    checks: list[SmokeCheck] = []
    for t in targets:
        runner = choose_runner(t, host)
        rec = record.targets.get(t.id)
        if rec is None or not rec.ok:
            why = "not built: run `invoke build` first" if rec is None else "its build failed"
            checks.append(SmokeCheck(t, "-", (), None, runner, missing=why))
            continue
        for b in rec.binaries:
            path = dist / b.path
            expect = None
            if t.smoke_expect:
                # {version} and {package}: the package the binary belongs to (each may have its own).
                try:
                    pkg = config.project.package_of(b.name)
                    package, version = pkg.name, pkg.version
                except KeyError:
                    package, version = config.project.package, config.project.version
                expect = t.smoke_expect.format(  # the binary prints its crate's version, not a snapshot's
                    name=config.project.name, version=base_version(version), package=package,
                    triple=t.triple, target=t.id, binary=b.name,
                )
            skip = None if runner.available else runner.reason
            checks.append(SmokeCheck(t, b.name, (*runner.argv, str(path), *t.smoke_args), expect, runner, skip=skip))
    return checks


def run_check(check: SmokeCheck, timeout: float = 120) -> SmokeResult:
    if check.missing:
        return SmokeResult(check, "failed", check.missing)
    if check.skip:
        return SmokeResult(check, "skipped", check.skip)
    # The binary inherits no credential: proc gives every child env.SecretPolicy's environment.
    done = proc.capture_all(check.argv, timeout=timeout)
    if done.returncode is None:
        return SmokeResult(check, "failed", done.error or "did not run")
    output = done.text().strip()
    if done.returncode != 0:
        return SmokeResult(check, "failed", f"exit code {done.returncode}", output)
    if check.expect is not None and check.expect not in output:
        return SmokeResult(check, "failed", f"output lacks {check.expect!r}", output)
    return SmokeResult(check, "passed", check.runner.kind, output)
