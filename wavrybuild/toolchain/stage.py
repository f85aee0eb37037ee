"""The toolchain stage (can every target be built here?) and the toolchain/doctor report and install."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from .. import proc
from ..config import Config, TargetConfig
from ..errors import ToolMissing, WavryError
from ..pipeline.stage import Run, Step
from ..rustc import rustup_toolchains
from ..ui import Reporter
from . import pins, provision
from . import probe as tc
from .probe import TargetStatus, Tools, statuses
from .sccache import CacheStatus
from .versions import Chosen, mixed_warning


def _row(s: TargetStatus, away: str | None = None) -> tuple[str, ...]:
    std = (f"{s.std.mode} · {s.std.toolchain.label} {s.std.toolchain.version.split(' (')[0].removeprefix('rustc ')}"
           if s.std else "missing")
    runner = s.runner.kind if s.runner.available else f"{s.runner.kind}: {s.runner.reason}"
    state = "ready" if s.ready else "builds; see below" if s.buildable else "cannot build; see below"
    if away is not None and not s.ready:
        state = f"built on a {away} runner in CI (invoke plan)"
    name = s.target.id if s.target.id == s.target.rust_target else f"{s.target.id} → {s.target.rust_target}"
    return name, s.builder, std, s.linker if s.linker_ok else f"missing: {s.linker}", runner, state


def report_toolchain(ui: Reporter, tools: Tools, statuses: list[TargetStatus], as_json: bool,
                     cache: CacheStatus | None = None, elsewhere: Mapping[str, str] | None = None) -> None:
    """The doctor/toolchain report. `elsewhere`: target id → the CI runner (of another OS) its job
    runs on; such a target that this machine cannot build is said to be built there, not a problem."""
    away = {s.target.id: elsewhere[s.target.id] for s in statuses
            if elsewhere and s.target.id in elsewhere and not s.ready}
    if as_json:
        data = {"tools": tools.as_json(),
                "targets": [{**s.as_json(), "ci_runner": away.get(s.target.id)} for s in statuses]}
        if cache is not None:
            data["cache"] = cache.as_json()
        ui.json(data)
        return
    if cache is not None:
        ui.info(cache.line())
    ui.info(f"host {tools.host} · {tools.cargo or 'cargo: missing'} · zig {tools.zig or '-'} · "
            f"{tools.zigbuild or 'cargo-zigbuild: -'}")
    ui.table("Targets on this machine", ["target", "builder", "std", "linker", "runner", "status"],
             [_row(s, away.get(s.target.id)) for s in statuses])
    for s in statuses:
        for note in s.notes:
            ui.info(f"{s.target.id}: {note}")
    mixed = mixed_warning([Chosen(s.target.id, s.std.toolchain.label, s.std.toolchain.rustc_info)
                           for s in statuses if s.std is not None and s.buildable])
    if mixed:
        ui.warn(mixed.removeprefix("warning: "))
    for tid, label in away.items():
        ui.info(f"{tid}: built on a {label} runner in CI (`invoke plan` puts its job there), not on this machine")
    missing = [(s.target.id, p) for s in statuses if s.target.id not in away for p in (*s.problems, *s.missing)]
    for tid, problem in missing:
        ui.warn(f"{tid}: {problem}")
    if missing:
        ui.info("`invoke toolchain --install` gets all of them (`--dry` shows the commands first)")


def _try_optional(ui: Reporter, steps: list[provision.InstallStep], dry: bool) -> None:
    """rustup first: where its server answers, the distribution packages are not needed."""
    failed_chains: set[str] = set()
    for step in [s for s in steps if s.optional]:
        cmd = proc.Command(step.argv)
        ui.info(step.why, bold=True)
        ui.command(cmd.display(), dry=dry)
        if dry or (step.chain and step.chain in failed_chains):
            continue
        try:
            proc.run(cmd)
        except WavryError:
            failed_chains.add(step.chain)
            ui.warn(f"`{cmd.display()}` failed (offline?); trying the offline providers")


def install(ui: Reporter, cfg: Config, targets: tuple[TargetConfig, ...], dry: bool) -> None:
    tools = tc.probe_tools()
    steps = provision.install_plan(cfg, targets, tools)
    if not steps:
        ui.info("nothing to install: every target has a std, linker and runner")
        return
    _try_optional(ui, steps, dry)
    if not dry:
        tc.toolchains.cache_clear()
        rustup_toolchains.cache_clear()
        pins.active_pin.cache_clear()
        steps = provision.install_plan(cfg, targets, tc.probe_tools())  # rustup may have brought cargo
    rest = [s for s in steps if not s.optional]
    if not dry and not provision.is_root() and any(s.needs_root for s in rest):
        lines = "\n".join(("sudo " if s.needs_root else "") + proc.Command(s.argv).display() for s in rest)
        raise ToolMissing(
            "installing system packages needs root; run these commands, then `invoke toolchain` again:\n" + lines
        )
    for step in rest:
        cmd = proc.Command(step.argv, env={"DEBIAN_FRONTEND": "noninteractive"} if step.argv[0] == "apt-get" else {})
        ui.info(step.why, bold=True)
        ui.command(cmd.display(), dry=dry)
        if not dry:
            with ui.progress(step.why) as update:
                proc.run(cmd, on_stderr_line=update, on_stdout_line=update)


class ToolchainStage:
    """Refuses to start a release that cannot build every chosen target here."""

    name: ClassVar[str] = "toolchain"

    def applies(self, run: Run) -> bool:
        return True

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return {}

    def steps(self, run: Run, todo: Sequence[str] | None) -> Sequence[Step]:
        _tools, sts = statuses(run.cfg, run.targets)
        bad = [s for s in sts if not s.buildable]

        def check() -> bool:
            if bad:
                raise ToolMissing("cannot build here: " + "; ".join(f"{s.target.id}: {', '.join(s.problems)}" for s in bad),
                                  hint="run `invoke toolchain --install`, or release these targets on another runner")
            return True

        return [*(Step.write(f"{s.target.id}: cannot be built here: {', '.join(s.problems)}") for s in bad),
                Step.finish(check)]
