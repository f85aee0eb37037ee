"""The build stage: every chosen target compiled (cargo-zigbuild or cargo), grouped into as few
cargo invocations as can share one, spread over `--parallel` lanes; skipped per target when its
cache key and freshness watch say cargo would do nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import ClassVar

from .. import proc
from ..config import Config
from ..env import Settings
from ..errors import ConfigError, ToolMissing, WavryError
from ..pipeline.stage import Planned, Run, Step
from ..toolchain.probe import Tools, ensure_objcopy_shim, statuses
from ..toolchain.sccache import CacheStats, save_last_build, server_stats, settled_stats
from ..toolchain.sccache import status as cache_status
from ..toolchain.versions import Chosen, mixed_warning, pin_stop
from ..ui import Reporter, duration, human_size
from . import plan as b
from .jobs import Jobserver

Finished = Callable[[list[b.Outcome]], None]


def parallel_builds(requested: int | None, settings: Settings) -> int:
    """How many cargo invocations run at once: --parallel, else $WAVRYBUILD_PARALLEL, else 2.

    Two even on two cores: one build of std from source keeps about 1.4 of them busy (its crates
    form long serial chains), so a second build fills the gaps."""
    raw = requested if requested is not None else (settings.parallel or "2")
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        where = "--parallel" if requested is not None else "WAVRYBUILD_PARALLEL"
        raise ConfigError(f"{where}: {raw!r} is not a whole number of builds at once (1 or more)")
    return n


@dataclass
class BuildPlan:
    """What a build would do: the steps, those cached, and the groups of the rest in their lanes."""

    tools: Tools
    steps: list[b.BuildStep]
    keys: dict[str, str]
    done: dict[str, b.Outcome]
    todo: list[b.BuildStep]
    groups: list[list[b.BuildStep]]
    lane_of: list[int]
    lanes: int
    notes: tuple[str, ...] = ()  # how builds adapt to this machine (TargetStatus.notes), for those that run
    mixed: str | None = None  # the targets resolve to more than one rustc (toolchain/versions.py)

    @property
    def at_once(self) -> str:
        buildable = sum(1 for g in self.groups if g[0].command is not None)
        return f"{buildable} cargo invocations, {self.lanes} at a time (--parallel)"


def make_plan(run: Run, fail_fast: bool, settings: Settings) -> BuildPlan:
    cfg = run.cfg
    tools, sts = statuses(cfg, run.targets)
    pinned = [(s.target.id, s.pin_problem) for s in sts if s.pin_problem]
    if pinned:
        # A pin is a promise about every binary of the release: none is built when one cannot keep it.
        raise ToolMissing(pin_stop(pinned), hint="`invoke doctor` shows which toolchain each target gets")
    steps = b.plan(cfg, sts, tools)
    mixed = mixed_warning([Chosen(s.target.id, s.std.toolchain.label, s.std.toolchain.rustc_info)
                           for s in steps if s.std is not None and s.command is not None])
    source = b.source_digest(cfg.project)
    keys = {s.target.id: b.cache_key(s, tools, source) for s in steps if s.command is not None}
    done: dict[str, b.Outcome] = {}
    todo: list[b.BuildStep] = []
    for step in steps:
        cached = (None if run.force or step.command is None
                  else b.cached_outcome(step, keys[step.target.id], run.state.record, run.state.dist))
        if cached:
            done[step.target.id] = cached  # same sources, lock file, toolchain, flags and config: no cargo
        else:
            todo.append(step)
    groups = b.group_steps(todo, tools.host)
    # --fail-fast means one invocation after the other: nothing else is running when one fails.
    # Groups sharing a build dir run one after the other anyway: at most one lane per dir.
    lanes = 1 if fail_fast else min(parallel_builds(run.parallel, settings), len(b.build_dirs(groups))) or 1
    lane_of = b.assign_lanes(groups, lanes)
    notes = tuple(f"{s.target.id}: {n}" for s in sts if s.target.id not in done for n in s.notes)
    return BuildPlan(tools, steps, keys, done, todo, groups, lane_of, lanes, notes, mixed)


def _prepare(ui: Reporter, cfg: Config, todo: list[b.BuildStep], tools: Tools) -> None:
    """What must hold before cargo starts: a working shared cache, rust-objcopy for Apple targets."""
    if todo and cfg.project.sccache:
        cache = cache_status(cfg.project)
        if cache.problem:
            raise ToolMissing(f"[cache] sccache: {cache.problem}",
                              hint="fix it, or build without the cache (WAVRYBUILD_SCCACHE=0)")
        ui.info(cache.line())
    for step in todo:
        if step.std is not None and step.target.triple.os == "macos":
            ensure_objcopy_shim(step.std.toolchain, tools.host)


def _how(group: list[b.BuildStep]) -> str:
    return f"{group[0].builder}, std {group[0].std_mode or '-'}"


def _serially(run: Run, plan: BuildPlan, finished: Finished, fail_fast: bool) -> None:
    ui, groups = run.ui, plan.groups
    for i, group in enumerate(groups, 1):
        title = f"build {', '.join(s.target.id for s in group)} [{i}/{len(groups)}] ({_how(group)})"
        with ui.group(title):
            if group[0].command is not None:
                ui.command(b.group_command(group).display())
            with ui.progress(title) as update:
                results = b.execute_group(group, run.cfg.project, run.state.dist, on_line=update,
                                           on_wait=ui.info)
            finished(results)
        if fail_fast and not all(o.ok for o in results):
            break


# Seconds between two progress lines of one build lane in a log (not a terminal): a long parallel
# build is never silent for longer, even while one crate takes minutes.
PROGRESS_EVERY = 30.0


@dataclass
class LaneProgress:
    """A running cargo invocation's progress, from its stderr ("Compiling <crate> v…" lines): said
    as a line per lane every PROGRESS_EVERY seconds in a log, or in the terminal's status line."""

    label: str  # the invocation's targets
    start: float
    crates: int = 0  # crates cargo has started compiling (the fresh ones are not said)
    current: str = ""
    said: float | None = None

    def see(self, line: str) -> None:
        words = line.split()
        if len(words) >= 2 and words[0] == "Compiling":
            self.crates += 1
            self.current = words[1]

    def text(self, now: float) -> str:
        doing = f"compiling crate {self.crates} ({self.current})" if self.crates else "cargo running"
        return f"{self.label}: {doing}, {duration(now - self.start)}"

    def due(self, now: float, every: float = PROGRESS_EVERY) -> bool:
        """Whether a log gets a line now: at the first crate, then once per `every` seconds."""
        return self.crates > 0 and (self.said is None or now - self.said >= every)


def _await_lanes(lanes: int, work: Callable[[int], None], tick: Callable[[], None],
                 every: float = PROGRESS_EVERY) -> None:
    """Run `work(lane)` in `lanes` threads; `tick()` every `every` seconds until all are done."""
    with ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="wavrybuild-lane") as pool:
        futures = [pool.submit(work, lane) for lane in range(lanes)]
        try:
            while wait(futures, timeout=every, return_when=FIRST_EXCEPTION).not_done:
                if any(f.done() and f.exception() is not None for f in futures):
                    break
                tick()
            for future in futures:
                future.result()
        except KeyboardInterrupt:
            # Ctrl-C: the other lanes' cargo stops too (and starts no next group) before the pool
            # waits for its threads.
            proc.stop_children()
            raise


class _Board:
    """The running lanes' progress: the status line on a terminal; in a log, a line per lane at its
    first crate and then every PROGRESS_EVERY seconds. `lock` also keeps lanes' log blocks whole."""

    def __init__(self, ui: Reporter, update: Callable[[str], None]) -> None:
        self.ui, self.update, self.lock = ui, update, threading.Lock()
        self.running: dict[int, LaneProgress] = {}  # per lane, its invocation now running

    def start(self, lane: int, label: str) -> LaneProgress:
        with self.lock:
            progress = self.running[lane] = LaneProgress(label, time.monotonic())
            return progress

    def stop(self, lane: int) -> None:
        with self.lock:
            self.running.pop(lane, None)

    def tell(self) -> None:
        now = time.monotonic()
        with self.lock:
            if self.ui.live:
                self.update(" | ".join(p.text(now) for _, p in sorted(self.running.items())))
                return
            for p in self.running.values():
                if p.due(now):
                    p.said = now
                    self.ui.info(p.text(now))


def _in_lanes(run: Run, plan: BuildPlan, finished: Finished) -> None:
    """Run the groups in `lanes` threads, each lane's groups one after the other in its own target
    dir. Each invocation's log is shown as one block (a log group in CI) when it ends, not
    interleaved with the other lane's; meanwhile each lane's progress is said (_Board);
    outcomes are reported in plan order once all are done."""
    ui = run.ui
    results: dict[int, list[b.Outcome]] = {}
    ui.info(f"build: {plan.at_once}")
    jobserver = Jobserver(b.machine_cores()) if Jobserver.available() else None
    jobs = jobserver.jobs() if jobserver else None
    with ui.progress(f"build: {plan.at_once}") as update:
        board = _Board(ui, update)

        def one(i: int, group: list[b.BuildStep], lane: int) -> None:
            ids, log = ", ".join(s.target.id for s in group), []
            progress = board.start(lane, ids)

            def on_line(line: str) -> None:
                log.append(line)
                progress.see(line)
                board.tell()

            def on_wait(message: str) -> None:
                with board.lock:
                    ui.info(message)

            try:
                out = results[i] = b.execute_group(group, run.cfg.project, run.state.dist, on_line=on_line,
                                                   on_wait=on_wait, jobs=jobs)
            finally:
                board.stop(lane)
            with board.lock, ui.group(f"build {ids} (lane {lane + 1}, {_how(group)}, "
                                      f"{max((o.seconds for o in out), default=0.0):.1f} s)"):
                if group[0].command is not None:
                    ui.command(b.group_command(group).display())
                for line in [] if ui.live else log:
                    ui.raw(line)

        def lane_work(lane: int) -> None:
            for i, group in enumerate(plan.groups):
                if plan.lane_of[i] == lane:
                    one(i, group, lane)

        try:
            _await_lanes(plan.lanes, lane_work, board.tell)
        finally:
            if jobserver is not None:
                jobserver.close()
    for i in sorted(results):
        finished(results[i])


def summary_rows(outcomes: list[b.Outcome], not_run: list[str], several: bool,
                 cores: int) -> tuple[list[str], list[tuple[str, ...]]]:
    """The build table: per target and binary its size, how long its cargo invocation took and how
    busy it kept the cores (its CPU seconds over those wall seconds, "1.6/2"; the targets of one
    invocation share both), and the result."""
    pkg = ("-",) if several else ()
    rows: list[tuple[str, ...]] = []
    for o in outcomes:
        took = "-" if o.cached else f"{o.seconds:.1f} s"
        busy = "-" if o.cached else b.cores_busy(o.cpu, o.seconds, cores)
        if o.ok:
            rows += [(o.step.target.id, *((x.package or "-",) if several else ()), x.name, human_size(x.size),
                      took, busy, "up to date" if o.cached else "ok") for x in o.binaries]
        else:
            rows.append((o.step.target.id, *pkg, "-", "-", took, busy, "failed"))
    rows += [(tid, *pkg, "-", "-", "-", "-", "not run (--fail-fast)") for tid in not_run]
    return ["target", *(("package",) if several else ()), "binary", "size", "time", "cores busy", "result"], rows


def busy_line(wall: float, cpu: float | None, invocations: int, cores: int) -> str:
    """The whole build in one line: its wall time, its cargo invocations' CPU seconds, and so how
    many of the cores were busy on average (what scheduling can still win: docs/performance.md)."""
    if cpu is None:
        return f"build: {invocations} cargo invocation{'' if invocations == 1 else 's'} in {wall:.1f} s"
    return (f"build: {invocations} cargo invocation{'' if invocations == 1 else 's'} in {wall:.1f} s, "
            f"{cpu:.1f} CPU s: cores busy {b.cores_busy(cpu, wall, cores)}")


def _summary(ui: Reporter, cfg: Config, outcomes: list[b.Outcome], not_run: list[str]) -> None:
    p = cfg.project
    several = len(p.packages) > 1
    if not not_run and not several and not p.all_packages_by_default and all(o.ok and o.cached for o in outcomes):
        # A no-op says so in one plain line per binary: drawing a table would cost more (importing
        # rich) than deciding that nothing needs building (docs/performance.md, "No-op build").
        ui.result("".join(f"{o.step.target.id}: {x.name} ({human_size(x.size)}) up to date\n"
                          for o in outcomes for x in o.binaries))
        return
    columns, rows = summary_rows(outcomes, not_run, several, b.machine_cores())
    ui.table(f"Build of {p.title}", columns, rows)
    if p.all_packages_by_default:
        ui.info(f"note: the workspace has several packages with binaries and targets.toml names none: releasing "
                f"all of them ({', '.join(x.name for x in p.packages)}); choose with [project] packages = [...]")


def _report_cache(run: Run, before: CacheStats, failed: bool) -> None:
    """How much the shared cache served this build: a cache that silently stops hitting is a
    slowdown nobody would notice otherwise."""
    # A failed compile is a miss with nothing to store: after a failure, do not wait long.
    got, pending = settled_stats(run.cfg.project, before, timeout=5 if failed else 120)
    if got is None:
        run.ui.warn("compile cache: sccache did not report its statistics")
        return
    save_last_build(run.state.dist, got)
    run.ui.info(f"compile cache: {got.summary()}")
    if pending:
        run.ui.warn(f"compile cache: {pending} results were not stored (yet): the next build may miss them")
    if got.write_errors:
        run.ui.warn(f"compile cache: {got.write_errors} results could not be stored: the next build will miss them")


class BuildStage:
    name: ClassVar[str] = "build"

    def __init__(self, *, fail_fast: bool = False, settings: Settings | None = None) -> None:
        self.fail_fast = fail_fast
        self.settings = settings or Settings.read()

    def applies(self, run: Run) -> bool:
        return True

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return {}  # the build record is the build's resume state: it also checks the binaries' bytes

    def steps(self, run: Run, todo: Sequence[str] | None) -> Sequence[Step]:
        """One plan: the cached targets, and a cargo invocation per group. The groups run together
        in the last step (in lanes, at once), which echoes each command in its log group."""
        plan = make_plan(run, self.fail_fast, self.settings)
        out = [Step.note(plan.mixed)] if plan.mixed else []
        out += [Step.note(f"{tid}: up to date (--force rebuilds)") for tid in plan.done]
        out += [Step.note(note) for note in plan.notes]
        if plan.lanes > 1:
            out.append(Step.write(plan.at_once))
        for group in plan.groups:
            out.append(Step(Planned(b.group_command(group).display(), command=True)) if group[0].command is not None
                       else Step.write(f"{group[0].target.id}: cannot be built here: {group[0].problem}"))
        return [*out, Step.finish(lambda: self._build(run, plan))]

    def _build(self, run: Run, plan: BuildPlan) -> bool:
        ui, cfg = run.ui, run.cfg
        _prepare(ui, cfg, plan.todo, plan.tools)
        done = dict(plan.done)
        cpu: list[float | None] = []  # per cargo invocation (one `finished` call per group)

        def finished(results: list[b.Outcome]) -> None:
            if results and results[0].step.command is not None:
                cpu.append(results[0].cpu)
            for outcome in results:
                outcome.key = plan.keys.get(outcome.step.target.id, "")
                done[outcome.step.target.id] = outcome
                if outcome.compiled is not None:
                    # What a change cost, in cargo's own terms (docs/performance.md, "What a change rebuilds").
                    ui.info(f"{outcome.step.target.id}: cargo compiled {outcome.compiled} "
                            f"crate{'' if outcome.compiled == 1 else 's'}")
                if not outcome.ok:
                    ui.error(f"{outcome.step.target.id}: build failed: {outcome.error}")

        before = server_stats(cfg.project) if cfg.project.sccache and plan.todo else None
        start = time.monotonic()
        if plan.lanes == 1:
            _serially(run, plan, finished, self.fail_fast)
        else:
            _in_lanes(run, plan, finished)
        wall = time.monotonic() - start
        if cpu:
            measured = None if None in cpu else sum(c for c in cpu if c is not None)
            ui.info(busy_line(wall, measured, len(cpu), b.machine_cores()))
        if before is not None:
            _report_cache(run, before, failed=any(not o.ok for o in done.values()))
        outcomes = [done[s.target.id] for s in plan.steps if s.target.id in done]
        b.record_outcomes(run.state.dist, cfg, outcomes, plan.tools)
        run.state.forget_record()
        not_run = [s.target.id for s in plan.steps if s.target.id not in done]
        _summary(ui, cfg, outcomes, not_run)
        failed = [o.step.target.id for o in outcomes if not o.ok] + not_run
        if failed:
            raise WavryError(f"{len(failed)} of {len(plan.steps)} targets did not build: {', '.join(failed)}")
        return bool(plan.todo)
