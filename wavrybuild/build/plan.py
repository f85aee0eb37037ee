"""Build steps: planned (pure), then executed; binaries found from cargo's JSON messages.

Each built binary is copied into the state directory (dist/.wavrybuild/bin/<target>/) so later
stages read one stable place, whatever CARGO_TARGET_DIR, workspace layout or glibc suffix was used,
and two targets sharing a cargo output dir cannot overwrite each other's result.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import __version__, proc
from ..config import Config, Project, TargetConfig
from ..config.snapshots import base_version
from ..config.values import Component
from ..errors import CommandFailed, WavryError
from ..fsutil import copy_atomic, state_dir, write_atomic
from ..proc import Command
from ..record import BinaryRecord, BuildRecord, TargetRecord
from ..toolchain.probe import StdSource, TargetStatus, Tools
from . import macho
from .builders import BUILDERS
from .freshness import cargo_config_digest, environment_digest, still_fresh, watched
from .jobs import Jobs


@dataclass(frozen=True)
class BuildStep:
    target: TargetConfig
    builder: str
    command: Command | None  # None: cannot be built here (see `problem`)
    problem: str | None = None
    std_mode: str | None = None
    toolchain: str | None = None
    rustc: str | None = None
    std: StdSource | None = field(default=None, compare=False)
    dir_name: Component | None = None  # its build dir inside cargo's target dir (build_dir_name)


VCS_DIRS = {".git", ".hg", ".svn", ".jj", ".pijul"}


def source_digest(project: Project) -> str:
    """Digest of the workspace's files by path, size and mtime (as cargo judges freshness), without
    build output, dist/ or version-control data (hidden directories such as .cargo/ and .sqlx/
    count); plus Cargo.lock's content, the cargo config files outside the workspace and the
    variables cargo, rustc and C toolchains read (see freshness)."""


    h = hashlib.sha256()
    skip = {project.target_directory.resolve(), project.dist_dir.resolve()}
    root = project.workspace_root
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in VCS_DIRS and d != "target"
                             and Path(dirpath, d).resolve() not in skip)
        for name in sorted(filenames):
            st = os.stat(os.path.join(dirpath, name))
            h.update(f"{os.path.relpath(os.path.join(dirpath, name), root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    lock = root / "Cargo.lock"
    if lock.exists():
        h.update(lock.read_bytes())
    h.update(cargo_config_digest(project.manifest_path.parent, root).encode())
    h.update(environment_digest(project.secrets).encode())
    return h.hexdigest()


def cache_key(step: BuildStep, tools: Tools, source: str) -> str:
    """Everything a target's binaries depend on: if it is unchanged, cargo has nothing to do."""


    assert step.command is not None
    parts = {
        "argv": step.command.argv, "env": sorted(step.command.env.items()), "rustc": step.rustc,
        "zig": (tools.zig, tools.zigbuild) if step.builder == "zigbuild" else None,
        "source": source, "wavrybuild": __version__,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def cached_outcome(step: BuildStep, key: str, record: BuildRecord, dist: Path) -> Outcome | None:
    """The recorded result, if it was built from exactly this key and its binaries are still there."""

    rec = record.targets.get(step.target.id)
    if rec is None or not rec.ok or rec.key != key or not rec.binaries or not still_fresh(rec.watch):
        return None
    for b in rec.binaries:
        path = dist / b.path
        if not path.is_file() or path.stat().st_size != b.size:
            return None
    return Outcome(step, True, 0.0, list(rec.binaries), cached=True, key=key)


def build_dir_name(target: TargetConfig, builder: str, std: StdSource, host: str) -> Component:
    """The directory inside cargo's target dir a target builds in: its builder, std source,
    toolchain, and whether it is of the host's triple, and nothing else. Which other targets a run
    builds must not move it (`build --target X` and then `release` would compile everything again
    in another dir), and neither may --parallel. Targets that can share a cargo invocation
    (group_steps) always share these, so a group has one dir; groups with the same dir run one
    after the other (assign_lanes), as cargo locks a target dir for a whole build. The host's
    triple gets dirs of its own because it never shares an invocation: beside the foreign targets'
    dir it can build at the same time."""
    # A toolchain label is config (targets.toml's toolchain): only safe characters, never a path.
    chain = re.sub(r"[^A-Za-z0-9._-]+", "-", std.toolchain.label).strip("-")[:64] or "rustc"
    return Component.parse(f"{builder}-{std.mode}-{chain}" + ("-host" if host in target.triple.slices else ""))


def plan(config: Config, statuses: list[TargetStatus], tools: Tools) -> list[BuildStep]:
    steps = []
    for st in statuses:
        if not st.buildable or st.std is None:
            steps.append(BuildStep(st.target, st.builder, None, problem="; ".join(st.problems)))
            continue
        name = build_dir_name(st.target, st.builder, st.std, tools.host)
        cmd = BUILDERS[st.builder].command(replace(config.project, build_dir_name=name), st.target, st.std, tools.host)
        steps.append(BuildStep(st.target, st.builder, cmd, std_mode=st.std.mode, toolchain=st.std.toolchain.label,
                               rustc=st.std.toolchain.version, std=st.std, dir_name=name))
    return steps


def _split_target_args(argv: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(the argv without this target's own arguments, those arguments): `--target T` and the
    `--config target."<triple>".…` entries, which apply to that target only."""
    shared: list[str] = []
    own: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--target" or (a == "--config" and i + 1 < len(argv) and argv[i + 1].startswith('target."')):
            own += argv[i:i + 2]
            i += 2
            continue
        shared.append(a)
        i += 1
    return shared, own


def group_steps(steps: list[BuildStep], host: str) -> list[list[BuildStep]]:
    """Targets that differ only in their own arguments (--target, per-target rustflags) share one
    cargo invocation: cargo's jobserver then schedules all of them on the machine's cores, and host
    build scripts and proc-macros are compiled once. Targets that write to the same output
    directory (a triple with and without a glibc floor) stay apart, and so does a target of the
    host's own triple: beside it, cargo gives the other targets' build-script units other
    metadata (another OUT_DIR name in their bytes), so a foreign target would not come out the
    same as when built alone, as a CI matrix runner builds it."""
    groups: list[list[BuildStep]] = []
    index: dict[tuple[Any, ...], int] = {}
    for step in steps:
        if step.command is None:
            groups.append([step])
            continue
        if host in step.target.triple.slices:
            groups.append([step])
            continue
        shared, _ = _split_target_args(step.command.argv)
        cmd = step.command
        shape = (tuple(shared), tuple(sorted(cmd.env.items())), cmd.unset_env, cmd.secret_env, step.builder)
        g = index.get(shape)
        if g is not None and all(not set(s.target.triple.slices) & set(step.target.triple.slices) for s in groups[g]):
            groups[g].append(step)
        else:
            index[shape] = len(groups)
            groups.append([step])
    return groups


def group_command(group: list[BuildStep]) -> Command:
    first = group[0].command
    assert first is not None
    if len(group) == 1:
        return first
    shared, _ = _split_target_args(first.argv)
    own = [x for s in group if s.command is not None for x in _split_target_args(s.command.argv)[1]]
    # After the program and its subcommand; --keep-going: one target's compile error must not stop
    # the others.
    argv = shared[:2] + own + shared[2:] + ["--keep-going"]
    return Command(tuple(argv), first.env, first.cwd, secret_env=first.secret_env, unset_env=first.unset_env)


def group_weight(group: list[BuildStep]) -> int:
    """A rough cost, to balance lanes: a std built from source takes tens of seconds per target,
    far more than most crates against an installed std."""
    return sum(10 if s.std_mode == "build-std" else 1 for s in group if s.command is not None)


def step_dir(step: BuildStep, project: Project) -> Path:
    """The target dir cargo is given for this step."""
    return replace(project, build_dir_name=step.dir_name).build_dir


def build_dirs(groups: list[list[BuildStep]]) -> list[Component | None]:
    """The distinct build dirs of the groups that run cargo, in plan order."""
    return list(dict.fromkeys(g[0].dir_name for g in groups if g[0].command is not None))


def assign_lanes(groups: list[list[BuildStep]], lanes: int) -> list[int]:
    """The lane (thread) of each group: the groups of one build dir on one lane, one after the
    other (cargo locks a target dir for a whole build); the heaviest dir first, each onto the least
    loaded lane. A lane is only when a group runs, never where: its dir is build_dir_name's."""
    load = [0] * max(1, lanes)
    weight: dict[Component | None, int] = {}
    for g in groups:
        if g[0].command is not None:
            weight[g[0].dir_name] = weight.get(g[0].dir_name, 0) + group_weight(g)
    lane_of_dir: dict[Component | None, int] = {}
    order = build_dirs(groups)
    for name in sorted(order, key=lambda n: (-weight[n], order.index(n))):
        lane = min(range(len(load)), key=lambda k: (load[k], k))
        lane_of_dir[name] = lane
        load[lane] += weight[name]
    return [lane_of_dir[g[0].dir_name] if g[0].command is not None else 0 for g in groups]


LOCK_NAME = ".wavrybuild.lock"


@contextmanager
def build_dir_lock(build_dir: Path, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold `<build dir>/.wavrybuild.lock` while cargo builds there and its binaries are staged.

    Cargo's own lock ends when cargo exits; another run's cargo in the same dir (two checkouts or
    two test processes sharing CARGO_TARGET_DIR) could then overwrite `<triple>/<profile>/<bin>`
    before this run copies it out. A second run waits here, saying so once. filelock: flock where
    there is one, the Windows API on Windows."""
    from filelock import FileLock, Timeout

    try:
        build_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WavryError(f"{build_dir}: cannot create the build dir: {exc.strerror}") from None
    lock = FileLock(str(build_dir / LOCK_NAME))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if on_wait is not None:
            on_wait(f"waiting for another build in {build_dir}")
        while True:  # in short waits: a lane thread must notice Ctrl-C (proc.stop_children)
            if proc.stopping():
                raise KeyboardInterrupt from None
            try:
                lock.acquire(timeout=0.5)
                break
            except Timeout:
                continue
    try:
        yield
    finally:
        lock.release()


def execute_group(
    group: list[BuildStep],
    project: Project,
    dist: Path,
    on_line: Callable[[str], None] | None = None,
    on_wait: Callable[[str], None] | None = None,
    jobs: Jobs | None = None,
) -> list[Outcome]:
    """Build a group with one cargo invocation; each target's outcome from its own artifacts. The
    group's build dir is locked from before cargo starts until its binaries are staged. `jobs`: the
    shared jobserver (Jobserver.jobs), added when cargo starts, never echoed."""
    if len(group) == 1:
        return [execute_step(group[0], project, dist, on_line, on_wait, jobs)]
    start = time.monotonic()
    try:
        with build_dir_lock(step_dir(group[0], project), on_wait):
            return _execute_group(group, project, dist, on_line, time.monotonic(), jobs)
    except WavryError as exc:
        return [Outcome(s, False, time.monotonic() - start, error=str(exc)) for s in group]


def _with_jobs(cmd: Command, jobs: Jobs | None) -> Command:
    return replace(cmd, env={**cmd.env, **jobs.env}, pass_fds=jobs.fds) if jobs else cmd


def _execute_group(group: list[BuildStep], project: Project, dist: Path, on_line: Callable[[str], None] | None,
                   start: float, jobs: Jobs | None) -> list[Outcome]:
    cmd = group_command(group)
    error = None
    try:
        result = proc.run(_with_jobs(cmd, jobs), on_stderr_line=on_line, tail_lines=60, check=False)
        if result.returncode != 0:
            error = _build_error(CommandFailed(list(cmd.argv), result.returncode, result.stderr_tail))
        stdout = result.stdout
    except WavryError as exc:
        return [Outcome(s, False, time.monotonic() - start, error=str(exc)) for s in group]
    seconds, cpu = time.monotonic() - start, result.cpu_seconds
    outcomes = []
    every = tuple(t for s in group for t in s.target.triple.slices)
    for step in group:
        compiled = compiled_units(stdout, step_dir(step, project), step.target.triple.slices, every)
        try:
            produced, built = _produced(stdout, project, step.target, filtered=True)
        except BuildProblem as exc:
            outcomes.append(Outcome(step, False, seconds, error=error or str(exc), compiled=compiled, cpu=cpu))
            continue
        outcomes.append(Outcome(step, True, seconds, _stage(step, project, dist, produced),
                                watch=_watch(built, stdout, step.target, project), compiled=compiled, cpu=cpu))
    return outcomes


class BuildProblem(Exception):
    pass


def compiled_units(stdout: str, build_dir: Path, slices: tuple[str, ...], others: tuple[str, ...] = ()) -> int:
    """How many crates cargo compiled (not `fresh`) for these target triples, from its
    compiler-artifact messages: the units in <build-dir>/<triple>/ (std's too, when it is built
    from source) and the invocation's host units (build scripts, proc-macros: <build-dir>/<profile>/).
    `others`: the triples of the rest of a group, whose units are theirs."""
    mine, theirs = set(slices), set(others) - set(slices)
    root = str(build_dir.absolute()).replace("\\", "/").rstrip("/") + "/"
    count = 0
    for line in stdout.splitlines():
        if not line.startswith("{") or '"compiler-artifact"' not in line:
            continue
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if msg.get("reason") != "compiler-artifact" or msg.get("fresh", True):
            continue
        first = {f.replace("\\", "/").removeprefix(root).split("/", 1)[0]
                 for f in msg.get("filenames") or () if isinstance(f, str)}
        if first & mine or not first & theirs:
            count += 1
    return count


def _produced(stdout: str, project: Project, target: TargetConfig, *,
              filtered: bool) -> tuple[dict[str, Path], list[Path]]:
    """(binary name -> the executable to release, every executable cargo wrote for it).

    A universal2 target's slices are joined here into <target-dir>/universal2-apple-darwin/."""
    if not target.triple.is_universal:
        found = artifacts_from_messages(stdout, project, triple=str(target.triple) if filtered else None)
        missing = [b for b in project.binaries if b not in found]
        if missing:
            raise BuildProblem(f"no binary for: {', '.join(missing)}")
        return found, list(found.values())
    per_slice = {name: artifacts_from_messages(stdout, project, triple=name) for name in target.triple.slices}
    joined: dict[str, Path] = {}
    for b in project.binaries:
        parts = [per_slice[name].get(b) for name in target.triple.slices]
        if None in parts:
            lacking = [n for n, p in zip(target.triple.slices, parts, strict=True) if p is None]
            raise BuildProblem(f"no binary for: {b} ({', '.join(lacking)})")
        first = parts[0]
        assert first is not None
        out = first.parent.parent.parent / str(target.triple) / first.parent.name / first.name
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            data = macho.join_paths([p for p in parts if p is not None])  # llvm-lipo when installed
        except macho.MachOError as exc:
            raise BuildProblem(f"{b}: cannot join the slices into a universal binary: {exc}") from None
        for s in macho.slices(data):
            # Apple Silicon kills an arm64 binary whose signature does not match its bytes.
            problems = macho.signature_problems(s)
            if s.arch == "arm64" and problems:
                raise BuildProblem(f"{b}: the arm64 slice's code signature is not valid: {problems[0]}")
        write_atomic(out, data, mode=0o755)
        joined[b] = out
    return joined, [p for found in per_slice.values() for p in found.values()]


def _watch(built: list[Path], stdout: str, target: TargetConfig, project: Project) -> dict[str, Any]:
    # universal2: the build scripts of both slices (and, in a group, of its neighbours: a spare rebuild at worst).
    return watched(built, stdout, None if target.triple.is_universal else str(target.triple), project.secrets)


def _stage(step: BuildStep, project: Project, dist: Path, produced: dict[str, Path]) -> list[BinaryRecord]:
    records = []
    for name in project.binaries:
        src = produced[name]
        staged = state_dir(dist) / "bin" / step.target.id / src.name
        copy_atomic(src, staged)
        records.append(BinaryRecord(name=name, path=str(staged.relative_to(dist)), size=staged.stat().st_size,
                                    package=_package_name(project, name)))
    return records


def _package_name(project: Project, binary: str) -> str:
    try:
        return project.package_of(binary).name
    except KeyError:
        return project.package


def artifacts_from_messages(stdout: str, project: Project, triple: str | None = None) -> dict[str, Path]:
    """Binary name -> produced executable, from cargo's compiler-artifact messages.

    With several --target in one invocation, `triple` picks this target's files: cargo puts them
    under <target-dir>/<triple>/."""
    found: dict[str, Path] = {}
    # Which package a binary belongs to: its manifest (a same-named bin of an unreleased package is not it).
    owner = {b: str(p.manifest_path.resolve()) for p in project.packages for b in p.binaries}
    manifest = str(project.manifest_path.resolve())
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
            continue
        target = msg.get("target", {})
        if "bin" not in target.get("kind", ()):
            continue
        name = target.get("name")
        if str(Path(msg.get("manifest_path", "")).resolve()) != owner.get(name, manifest):
            continue
        if triple and f"/{triple}/" not in msg["executable"].replace("\\", "/"):
            continue
        if name in project.binaries:
            found[target["name"]] = Path(msg["executable"])
    return found


@dataclass
class Outcome:
    step: BuildStep
    ok: bool
    seconds: float = 0.0
    binaries: list[BinaryRecord] = field(default_factory=list)
    error: str | None = None
    cached: bool = False
    key: str = ""
    watch: dict[str, Any] = field(default_factory=dict)  # see freshness.watched
    compiled: int | None = None  # crates cargo compiled for it (compiled_units); None: cargo did not run
    # CPU seconds of its cargo invocation (shared by the group's targets, like `seconds`); None: not measured.
    cpu: float | None = None


def cores_busy(cpu: float | None, seconds: float, cores: int) -> str:
    """CPU seconds over wall seconds against the cores there are: "1.6/2"; "-" when not measured."""
    if cpu is None or seconds <= 0:
        return "-"
    return f"{cpu / seconds:.1f}/{cores}"


def machine_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else (os.cpu_count() or 1)


def execute_step(
    step: BuildStep,
    project: Project,
    dist: Path,
    on_line: Callable[[str], None] | None = None,
    on_wait: Callable[[str], None] | None = None,
    jobs: Jobs | None = None,
) -> Outcome:
    """Build one target; its build dir is locked from before cargo starts until it is staged."""
    if step.command is None:
        return Outcome(step, False, error=step.problem or "cannot be built here")
    start = time.monotonic()
    try:
        with build_dir_lock(step_dir(step, project), on_wait):
            return _execute_step(step, project, dist, on_line, time.monotonic(), jobs)
    except WavryError as exc:
        return Outcome(step, False, time.monotonic() - start, error=str(exc))


def _execute_step(step: BuildStep, project: Project, dist: Path, on_line: Callable[[str], None] | None,
                  start: float, jobs: Jobs | None) -> Outcome:
    cmd = step.command
    assert cmd is not None
    try:
        result = proc.run(_with_jobs(cmd, jobs), on_stderr_line=on_line, tail_lines=40, check=False)
    except WavryError as exc:
        return Outcome(step, False, time.monotonic() - start, error=str(exc))
    cpu = result.cpu_seconds
    if result.returncode != 0:
        failed = CommandFailed(list(cmd.argv), result.returncode, result.stderr_tail)
        return Outcome(step, False, time.monotonic() - start, error=_build_error(failed), cpu=cpu)
    compiled = compiled_units(result.stdout, step_dir(step, project), step.target.triple.slices)
    try:
        produced, built = _produced(result.stdout, project, step.target, filtered=False)
    except BuildProblem as exc:
        return Outcome(step, False, time.monotonic() - start, error=f"cargo reported success but {exc}",
                       compiled=compiled, cpu=cpu)
    return Outcome(step, True, time.monotonic() - start, _stage(step, project, dist, produced),
                   watch=watched(built, result.stdout, None, project.secrets), compiled=compiled, cpu=cpu)


def _build_error(exc: CommandFailed) -> str:
    # The compiler's own error lines are what the user needs; keep the ones that say "error".
    lines = exc.stderr_tail.splitlines()
    errs = [ln for ln in lines if ln.lstrip().startswith("error")]
    shown = "\n".join(errs[-6:]) if errs else "\n".join(lines[-10:])
    return f"exit code {exc.returncode}\n{shown}".rstrip()


def build_key(project: Project, target: TargetConfig) -> str:
    """What a target's binaries were built from, as far as config says: crate version + target config
    (the crate's own version: a snapshot's suffix names its packages, the binaries are the same)."""
    packages = (" ".join(f"{p.name} {base_version(p.version)}" for p in project.packages)
                or f"{project.package} {base_version(project.version)}")
    return f"{packages} {target.fingerprint()}"


def record_outcomes(dist: Path, config: Config, outcomes: list[Outcome], tools: Tools) -> BuildRecord:
    """Merge these outcomes into dist/.wavrybuild/build.json (others' entries are kept)."""
    rec = BuildRecord.load(dist)
    rec.crate = config.project.package
    rec.name = config.project.name
    rec.version = config.project.version
    rec.host = tools.host
    # A build of host targets only does not probe zig: what built the other targets stays recorded.
    probed = {"cargo": tools.cargo, "zig": tools.zig, "cargo-zigbuild": tools.zigbuild}
    rec.tools = {**{k: rec.tools.get(k) for k in probed}, **{k: v for k, v in probed.items() if v}}
    for o in outcomes:
        t = o.step.target
        rec.targets[t.id] = TargetRecord(
            id=t.id,
            triple=str(t.triple),
            rust_target=t.rust_target,
            builder=o.step.builder,
            toolchain=o.step.toolchain,
            std=o.step.std_mode,
            ok=o.ok,
            seconds=round(o.seconds, 2) if not o.cached else (rec.targets[t.id].seconds if t.id in rec.targets else 0.0),
            binaries=o.binaries if o.ok else [],
            error=o.error,
            fingerprint=build_key(config.project, t),
            rustc=o.step.rustc,
            rustc_commit=(o.step.std.toolchain.rustc_info.commit or None) if o.step.std else None,
            key=o.key if o.ok else "",
            watch=(o.watch if not o.cached else rec.targets[t.id].watch) if o.ok else {},
            # An up-to-date target keeps its entry as the build that made its binaries wrote it: a
            # rerun that builds nothing changes no byte of the record.
            compiled=(rec.targets[t.id].compiled if t.id in rec.targets else None) if o.cached else o.compiled,
            cpu_seconds=((rec.targets[t.id].cpu_seconds if t.id in rec.targets else None) if o.cached
                         else None if o.cpu is None else round(o.cpu, 2)),
        )
    rec.rustc = sorted({t.rustc for t in rec.targets.values() if t.ok and t.rustc})
    rec.save(dist)
    return rec
