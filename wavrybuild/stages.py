"""The stages behind the tasks: each takes the UI and the parsed config, prints through the UI,
and raises WavryError on failure. Tasks (and `release`) only parse flags and call these."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .config import Config, TargetConfig
from .errors import ConfigError, WavryError

if TYPE_CHECKING:
    from .build import BuildStep, Outcome
    from .cache import CacheStatus
    from .manifest import Artifact, Manifest
    from .record import TargetRecord
    from .toolchain import TargetStatus, Tools
    from .ui import UI


def statuses(config: Config, targets: tuple[TargetConfig, ...]) -> tuple[Tools, list[TargetStatus]]:
    from .toolchain import active_pin, choose_builder, probe_tools, target_status
    from .triple import host_triple

    host = host_triple()
    need_zig = any(choose_builder(t, host) == "zigbuild" for t in targets)
    tools = probe_tools(need_zig=need_zig)
    pin = active_pin(config.project.manifest_path.parent)
    return tools, [target_status(t, tools, pin=pin) for t in targets]


def report_toolchain(ui: UI, tools: Tools, statuses: list[TargetStatus], as_json: bool,
                     cache: CacheStatus | None = None) -> None:
    if as_json:
        data = {"tools": tools.as_json(), "targets": [s.as_json() for s in statuses]}
        if cache is not None:
            data["cache"] = cache.as_json()
        ui.json(data)
        return
    if cache is not None:
        ui.info(cache.line())
    ui.info(
        f"host {tools.host} · {tools.cargo or 'cargo: missing'} · zig {tools.zig or '-'} · "
        f"{tools.zigbuild or 'cargo-zigbuild: -'}"
    )
    rows = []
    for s in statuses:
        std = (f"{s.std.mode} · {s.std.toolchain.label} {s.std.toolchain.version.split(' (')[0].removeprefix('rustc ')}"
               if s.std else "[red]missing[/]")
        runner = s.runner.kind if s.runner.available else f"{s.runner.kind}: {s.runner.reason}"
        state = ("[green]ready[/]" if s.ready else "[yellow]builds; see below[/]" if s.buildable
                 else "[red]cannot build; see below[/]")
        name = s.target.id if s.target.id == s.target.rust_target else f"{s.target.id} → {s.target.rust_target}"
        rows.append((name, s.builder, std,
                     s.linker if s.linker_ok else f"[red]{s.linker} missing[/]", runner, state))
    ui.table("Targets on this machine", ["target", "builder", "std", "linker", "runner", "status"], rows)
    missing = [(s.target.id, p) for s in statuses for p in (*s.problems, *s.missing)]
    for tid, problem in missing:
        ui.warn(f"{tid}: {problem}")
    if missing:
        ui.info("`invoke toolchain --install` gets all of them (`--dry` shows the commands first)")


def install(ui: UI, cfg: Config, targets: tuple[TargetConfig, ...], dry: bool) -> None:
    from . import proc
    from . import toolchain as tc
    from .errors import ToolMissing

    tools = tc.probe_tools()
    steps = tc.install_plan(cfg, targets, tools)
    if not steps:
        ui.info("nothing to install: every target has a std, linker and runner")
        return
    # rustup first: where its server answers, the distribution packages are not needed.
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
    if not dry:
        tc.toolchains.cache_clear()
        tc.active_pin.cache_clear()
        tools = tc.probe_tools()  # rustup may have brought cargo
        steps = tc.install_plan(cfg, targets, tools)
    rest = [s for s in steps if not s.optional]
    root = tc._is_root()
    if not dry and not root and any(s.needs_root for s in rest):
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



def run_build(ui: UI, cfg: Config, target: list[str] | None = None, all_: bool = False, fail_fast: bool = False,
          dry: bool = False, force: bool = False, parallel: int | None = None) -> list[Outcome]:
    from . import build as b
    from .record import BuildRecord

    targets = cfg.select(target or (), all_targets=all_)
    tools, sts = statuses(cfg, targets)
    steps = b.plan(cfg, sts, tools)
    dist = cfg.project.dist_dir
    source = b.source_digest(cfg.project)
    record = BuildRecord.load(dist)
    keys = {s.target.id: b.cache_key(s, tools, source) for s in steps if s.command is not None}
    todo: list[BuildStep] = []
    done: dict[str, Outcome] = {}
    for step in steps:
        cached = None if force or step.command is None else b.cached_outcome(step, keys[step.target.id], record, dist)
        if cached:
            # Same sources, lock file, toolchain, flags and config as the recorded build: skip cargo.
            ui.info(f"{'(dry) ' if dry else ''}{step.target.id}: up to date (--force rebuilds)")
            done[step.target.id] = cached
        else:
            todo.append(step)
    groups = b.group_steps(todo, tools.host)
    buildable = sum(1 for g in groups if g[0].command is not None)
    # --fail-fast means one invocation after the other: nothing else is running when one fails.
    lanes = 1 if fail_fast else min(parallel_builds(parallel), buildable) or 1
    at_once = f"{buildable} cargo invocations, {lanes} at a time (--parallel)"
    lane_of = b.assign_lanes(groups, lanes)
    groups = [b.relocate(g, cfg.project, lane, tools.host) for g, lane in zip(groups, lane_of, strict=True)]
    if dry:
        _show_build_plan(ui, groups, at_once if lanes > 1 else None)
        return []
    _prepare_build(ui, cfg, todo, tools)

    def finished(results: list[Outcome]) -> None:
        for outcome in results:
            outcome.key = keys.get(outcome.step.target.id, "")
            done[outcome.step.target.id] = outcome
            if not outcome.ok:
                ui.error(f"{outcome.step.target.id}: build failed: {outcome.error}")

    if lanes == 1:
        _build_serially(ui, groups, cfg, dist, finished, fail_fast)
    else:
        _build_lanes(ui, b, groups, lane_of, lanes, at_once, cfg, dist, finished)
    outcomes = [done[s.target.id] for s in steps if s.target.id in done]
    b.record_outcomes(dist, cfg, outcomes, tools)
    not_run = [s.target.id for s in steps if s.target.id not in done]
    _build_summary(ui, cfg, outcomes, not_run)
    failed = [o.step.target.id for o in outcomes if not o.ok] + not_run
    if failed:
        raise WavryError(f"{len(failed)} of {len(steps)} targets did not build: {', '.join(failed)}")
    return outcomes


def _show_build_plan(ui: UI, groups: list[list[BuildStep]], at_once: str | None) -> None:
    from .build import group_command

    if at_once:
        ui.info(f"(dry) {at_once}")
    for group in groups:
        if group[0].command is None:
            ui.warn(f"{group[0].target.id}: cannot be built here: {group[0].problem}")
        else:
            ui.command(group_command(group).display(), dry=True)


def _prepare_build(ui: UI, cfg: Config, todo: list[BuildStep], tools: Tools) -> None:
    """What must hold before cargo starts: a working shared cache, rust-objcopy for Apple targets."""
    from .toolchain import ensure_objcopy_shim

    if todo and cfg.project.sccache:
        from .cache import status
        from .errors import ToolMissing

        cache = status(cfg.project)
        if cache.problem:
            raise ToolMissing(f"[cache] sccache: {cache.problem}",
                              hint="fix it, or build without the cache (WAVRYBUILD_SCCACHE=0)")
        ui.info(cache.line())
    for step in todo:
        if step.std is not None and step.target.triple.os == "macos":
            ensure_objcopy_shim(step.std.toolchain, tools.host)


def _build_serially(ui: UI, groups: list[list[BuildStep]], cfg: Config, dist: Path,
                    finished: Callable[[list[Outcome]], None], fail_fast: bool) -> None:
    from .build import execute_group, group_command

    for i, group in enumerate(groups, 1):
        ids = ", ".join(s.target.id for s in group)
        title = f"build {ids} [{i}/{len(groups)}] ({_how(group)})"
        with ui.group(title):
            if group[0].command is not None:
                ui.command(group_command(group).display())
            with ui.progress(title) as update:
                results = execute_group(group, cfg.project, dist, on_line=update)
            finished(results)
        if fail_fast and not all(o.ok for o in results):
            break


def _build_summary(ui: UI, cfg: Config, outcomes: list[Outcome], not_run: list[str]) -> None:
    from .ui import human_size

    rows = []
    for o in outcomes:
        if o.ok:
            for bin_ in o.binaries:
                state = "[green]up to date[/]" if o.cached else "[green]ok[/]"
                rows.append((o.step.target.id, bin_.name, human_size(bin_.size),
                             "-" if o.cached else f"{o.seconds:.1f} s", state))
        else:
            rows.append((o.step.target.id, "-", "-", f"{o.seconds:.1f} s", "[red]failed[/]"))
    for tid in not_run:
        rows.append((tid, "-", "-", "-", "[yellow]not run (--fail-fast)[/]"))
    ui.table(f"Build of {cfg.project.name} {cfg.project.version}", ["target", "binary", "size", "time", "result"], rows)


def parallel_builds(requested: int | None) -> int:
    """How many cargo invocations run at once: --parallel, else $WAVRYBUILD_PARALLEL, else 2.

    Two even on two cores: one build of std from source keeps about 1.4 of them busy (its crates
    form long serial chains), so a second build fills the gaps."""
    import os

    from .errors import ConfigError

    raw = requested if requested is not None else os.environ.get("WAVRYBUILD_PARALLEL", "2")
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        where = "--parallel" if requested is not None else "WAVRYBUILD_PARALLEL"
        raise ConfigError(f"{where}: {raw!r} is not a whole number of builds at once (1 or more)")
    return n


def _how(group: list[BuildStep]) -> str:
    return f"{group[0].builder}, std {group[0].std_mode or '-'}"


def _build_lanes(ui: UI, b: Any, groups: list[list[BuildStep]], lane_of: list[int], lanes: int, title: str,
                 cfg: Config, dist: Path, finished: Callable[[list[Outcome]], None]) -> None:
    """Run the groups in `lanes` threads, each lane's groups one after the other in its own target
    dir. Each invocation's log is shown as one block (a log group in CI) when it ends, not
    interleaved with the other lane's; outcomes are reported in plan order once all are done."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    lock = threading.Lock()
    results: dict[int, list[Outcome]] = {}
    live = ui.live
    ui.info(f"build: {title}")
    with ui.progress(f"build: {title}") as update:

        def run_lane(lane: int) -> None:
            for i, group in enumerate(groups):
                if lane_of[i] != lane:
                    continue
                ids = ", ".join(s.target.id for s in group)
                log: list[str] = []

                def on_line(line: str, ids: str = ids, log: list[str] = log) -> None:
                    log.append(line)
                    if live:
                        with lock:
                            update(f"[{ids}] {line}")

                out = b.execute_group(group, cfg.project, dist, on_line=on_line)
                results[i] = out
                with lock:
                    seconds = max((o.seconds for o in out), default=0.0)
                    with ui.group(f"build {ids} (lane {lane + 1}, {_how(group)}, {seconds:.1f} s)"):
                        if group[0].command is not None:
                            ui.command(b.group_command(group).display())
                        if not live:
                            for line in log:
                                ui.raw(line)

        with ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="wavrybuild-lane") as pool:
            for future in [pool.submit(run_lane, lane) for lane in range(lanes)]:
                future.result()
    for i in sorted(results):
        finished(results[i])


def run_smoke(ui: UI, cfg: Config, target: list[str] | None = None, dry: bool = False) -> None:
    import shlex

    from . import smoke as s
    from .errors import SmokeFailed
    from .record import BuildRecord
    from .triple import host_triple

    dist = cfg.project.dist_dir
    record = BuildRecord.load(dist)
    if target:
        targets = cfg.select(target)
    else:
        targets = tuple(t for t in cfg.targets if t.id in record.targets)
        if not targets:
            raise SmokeFailed("nothing to smoke-run: no target has been built", hint="run `invoke build` first")
    checks = s.plan(cfg, targets, record, dist, host_triple())
    results = []
    for check in checks:
        if dry:
            if not (check.skip or check.missing):
                ui.command(shlex.join(check.argv), dry=True)
            continue
        result = s.run_check(check)
        results.append(result)
        if result.status == "failed":
            ui.error(f"{check.target.id} {check.binary}: {result.detail}\n{result.output}".rstrip())
    if dry:
        return
    color = {"passed": "green", "failed": "red", "skipped": "yellow"}
    rows = [(r.check.target.id, r.check.binary, f"[{color[r.status]}]{r.status}[/]", r.detail,
             r.output.splitlines()[0] if r.output else "") for r in results]
    ui.table("Smoke run", ["target", "binary", "result", "how / why", "output"], rows)
    failed = [r for r in results if r.status == "failed"]
    if failed:
        raise SmokeFailed(f"{len(failed)} smoke check(s) failed: "
                          + ", ".join(f"{r.check.target.id}/{r.check.binary}" for r in failed))


def run_package(ui: UI, cfg: Config, target: list[str] | None = None, dry: bool = False) -> bool:
    """Returns whether any archive changed."""
    from . import package as pk
    from .archive import source_date_epoch
    from .manifest import Manifest, git_state
    from .record import BuildRecord
    from .ui import human_size

    dist = cfg.project.dist_dir
    record = BuildRecord.load(dist)
    targets = cfg.select(target) if target else cfg.targets
    if target and Manifest.load(dist) is None and any(dist.glob(f"{cfg.project.name}-*")):
        # A run killed after replacing archives and before writing manifest.json leaves archives
        # nothing lists: package every built target again (same bytes: "unchanged"), so that none
        # of them drops out of the release.
        built = {t for t, r in record.targets.items() if r.ok}
        targets = tuple(t for t in cfg.targets if t in targets or t.id in built)
        ui.info("dist/manifest.json is missing (an interrupted run?): packaging every built target")
    mtime, mtime_from = source_date_epoch(cfg.project.manifest_path.parent)
    pk.plan(cfg, targets, record, dist)  # validate everything before signing anything
    signed: dict[Path, Path] = {}
    if not dry and "authenticode" in cfg.sign.methods:
        from .sign import Secret, codesign_windows
        from .ui import mask_for_ci

        mask_for_ci([Secret(cfg.sign.get("authenticode", "password-env")).value])
        signed = codesign_windows(cfg, targets, record, dist, mtime)
    plans = pk.plan(cfg, targets, record, dist, replace=signed)
    if dry:
        for p in plans:
            ui.info(f"(dry) would write {p.dest} ({p.fmt}, mtime {mtime} from {mtime_from}): "
                    + ", ".join(e.arcname for e in p.entries))
        return False
    old = Manifest.load(dist)
    pk.clean_tmp(dist)
    written = []
    with ui.progress("packaging") as update:
        for p in plans:
            update(p.dest.name)
            written.append(pk.write(p, dist, mtime, cfg.package.compression_level))
    pk.commit(written, dist)
    chosen = {p.target.id for p in plans}
    # Other targets' archives, and other kinds of artifact (wheels), stay listed while they exist.
    kept = [a for a in (old.artifacts if old else [])
            if (a.target not in chosen or a.kind != "archive") and (dist / a.path).is_file()]
    recs = [record.targets[t] for t in sorted({a.target for a in kept} | chosen) if t in record.targets]
    manifest = Manifest(
        crate=cfg.project.package,
        name=cfg.project.name,
        version=cfg.project.version,
        git=git_state(cfg.project.manifest_path.parent),
        source_date_epoch=mtime,
        source_date_epoch_from=mtime_from,
        tools={
            **{k: v for k, v in record.tools.items()},
            "rustc": {r.toolchain or "?": r.rustc for r in recs},
        },
        artifacts=kept + [pk.artifact(w) for w in written],
        checksums=old.checksums if old and not any(w.changed for w in written) else None,
    )
    manifest.save(dist)
    rows = [(w.plan.target.id, w.plan.dest.name, human_size(w.size), w.sha256[:16] + "…",
             "written" if w.changed else "unchanged") for w in written]
    ui.table(f"Packages in {dist}", ["target", "archive", "size", "sha256", "state"], rows)
    return any(w.changed for w in written)


def run_checksum(ui: UI, cfg: Config, sidecars: bool = False, dry: bool = False) -> bool:
    """Returns whether SHA256SUMS changed (dry: would change, nothing written)."""
    from .checksum import SIDECAR_SUFFIX, SUMS_NAME, format_line, format_sums, sha256_file, sha256_many
    from .fsutil import write_atomic
    from .manifest import Manifest
    from .record import tmp_dir

    dist = cfg.project.dist_dir
    manifest = Manifest.load(dist)
    if manifest is None or not manifest.artifacts:
        raise WavryError(f"{dist / 'manifest.json'}: missing or empty", hint="run `invoke package` first")
    paths = {a.path: dist / a.path for a in manifest.artifacts}
    missing = [n for n, p in paths.items() if not p.is_file()]
    if missing:
        raise WavryError(f"{dist}: artifacts listed in manifest.json are missing: {', '.join(missing)}",
                         hint="run `invoke package` again")
    actual = sha256_many(paths.values())
    for a in manifest.artifacts:
        if actual[paths[a.path]] != a.sha256:
            raise WavryError(f"{paths[a.path]}: changed since `invoke package` (sha256 differs from manifest.json)",
                             hint="run `invoke package` again")
    digests = {a.path: a.sha256 for a in manifest.artifacts}
    use_sidecars = sidecars or cfg.checksum.sidecars
    if dry:
        sums = dist / SUMS_NAME
        changed = not sums.is_file() or sums.read_text() != format_sums(digests)
        ui.info(f"(dry) {sums}: {'would be written' if changed else 'up to date'} for {len(digests)} artifacts"
                + (" (with .sha256 sidecars)" if use_sidecars else ""))
        return changed
    if use_sidecars:
        for name, digest in digests.items():
            sidecar = dist / (name + SIDECAR_SUFFIX)
            line = format_line(digest, Path(name).name)
            if not sidecar.exists() or sidecar.read_text() != line:
                write_atomic(sidecar, line, tmp_dir=tmp_dir(dist))
    sums = dist / SUMS_NAME
    text = format_sums(digests)
    if sums.exists() and sums.read_text() != text:
        # Signatures over the old SHA256SUMS would no longer match: remove them first.
        from .checksum import SIGNATURE_SUFFIXES

        for suffix in SIGNATURE_SUFFIXES:
            (dist / (SUMS_NAME + suffix)).unlink(missing_ok=True)
        manifest.signatures = [s for s in manifest.signatures if s.get("signs") != SUMS_NAME]
    changed = not sums.exists() or sums.read_text() != text
    if changed:
        write_atomic(sums, text, tmp_dir=tmp_dir(dist))
    manifest.checksums = {"file": SUMS_NAME, "sha256": sha256_file(sums), "sidecars": use_sidecars}
    manifest.save(dist)
    ui.table(f"{sums}", ["sha256", "artifact"], [(d, n) for n, d in sorted(digests.items())])
    return changed


# invoke has no optional positional arguments, so the directory is a flag: `invoke verify -d DIR`.


def _sign_subjects(cfg: Config) -> tuple[Manifest, list[Path]]:
    """SHA256SUMS (and with [sign] artifacts, every artifact), checked against manifest.json first."""
    from .checksum import SUMS_NAME, parse_sums, sha256_many
    from .manifest import Manifest

    dist = cfg.project.dist_dir
    manifest = Manifest.load(dist)
    sums = dist / SUMS_NAME
    if manifest is None or not sums.is_file():
        raise WavryError(f"{sums}: missing", hint="run `invoke package` and `invoke checksum` first")
    listed = parse_sums(sums.read_text())
    if listed != {a.path: a.sha256 for a in manifest.artifacts}:
        raise WavryError(f"{sums}: does not match manifest.json", hint="run `invoke checksum` again")
    subjects = [sums]
    if cfg.sign.artifacts:
        subjects += [dist / a.path for a in manifest.artifacts]
        actual = sha256_many(subjects[1:])
        for a in manifest.artifacts:
            if actual[dist / a.path] != a.sha256:
                raise WavryError(f"{dist / a.path}: changed since `invoke checksum`", hint="run `invoke package` again")
    return manifest, subjects


def run_sign(ui: UI, cfg: Config, method: list[str] | None = None, dry: bool = False) -> None:
    from . import sign as sg
    from .config import SIGN_METHODS
    from .fsutil import fsync_dir
    from .record import tmp_dir
    from .ui import mask_for_ci

    dist = cfg.project.dist_dir
    for m in method or ():
        if m not in SIGN_METHODS:
            raise ConfigError(f"--method {m}: unknown signing method", hint="methods: " + ", ".join(SIGN_METHODS))
    methods = sg.detached_methods(cfg.sign, tuple(method or ()))
    if not methods:
        raise ConfigError(f"{cfg.project.config_path}: sign.methods: no detached signing method configured",
                          hint='add e.g. methods = ["gpg"] under [sign], or pass --method')
    manifest, subjects = _sign_subjects(cfg)
    if dry:
        for m in methods:
            ui.info(f"(dry) would sign {', '.join(p.name for p in subjects)} with {m}")
        return
    secrets = [sg.Secret(cfg.sign.get(m, "passphrase-env")).value for m in methods if m in ("gpg", "minisign")]
    mask_for_ci(secrets)
    work = tmp_dir(dist) / f"sign-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    try:
        jobs = sg.plan(cfg, dist, subjects, work, only=tuple(methods))
        for job in jobs:
            ui.command(job.command.display())
            sg.run_job(job)
        # Every signature succeeded: only now do they enter dist/.
        for job in jobs:
            os.replace(job.output, dist / job.output.name)
        fsync_dir(dist)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    done = {(j.method, j.subject.name) for j in jobs}
    manifest.signatures = [s for s in manifest.signatures if (s["method"], s["signs"]) not in done] + [
        {"method": j.method, "file": j.output.name, "signs": j.subject.name, "signer": j.signer} for j in jobs]
    manifest.signatures.sort(key=lambda s: s["file"])
    manifest.save(dist)
    ui.table("Signatures", ["method", "signature", "signs", "signer"],
             [(j.method, j.output.name, j.subject.name, j.signer) for j in jobs])



def _writes(data: bytes) -> Callable[[BinaryIO], None]:
    def write(f: BinaryIO) -> None:
        f.write(data)

    return write


def _of_targets(ids: set[str]) -> Callable[[Artifact], bool]:
    return lambda a: a.target in ids


class _ChannelOutput:
    """Channel artifacts (wheels, npm tarballs) staged in dist/'s tmp dir, then committed together.

    Unchanged bytes leave the published file and its mtime alone; any change first removes
    SHA256SUMS and its signatures, which no longer hold."""

    def __init__(self, cfg: Config, kind: str) -> None:
        from .manifest import Manifest
        from .record import tmp_dir

        self.cfg, self.kind, self.dist = cfg, kind, cfg.project.dist_dir
        manifest = Manifest.load(self.dist)
        if manifest is None:
            raise WavryError(f"{self.dist / 'manifest.json'}: missing", hint="run `invoke package` first")
        self.manifest = manifest
        self.tmp = tmp_dir(self.dist)
        self.staged: list[tuple[Path, Path]] = []
        self.new: list[Artifact] = []
        self.rows: list[tuple[str, ...]] = []

    def add(self, filename: str, write: Callable[[BinaryIO], None], *, target: str, triple: str, fmt: str,
            binaries: list[str]) -> None:
        from .checksum import sha256_file
        from .manifest import Artifact
        from .ui import human_size

        self.tmp.mkdir(parents=True, exist_ok=True)
        part = self.tmp / f"{filename}.{os.getpid()}.part"
        with part.open("wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        size = part.stat().st_size
        self.staged.append((part, self.dist / filename))
        self.new.append(Artifact(target=target, triple=triple, kind=self.kind, format=fmt, path=filename,
                                 size=size, sha256=sha256_file(part), binaries=binaries))
        self.rows.append((target or "(all)", filename, human_size(size)))

    def commit(self, replaces: Callable[[Artifact], bool]) -> bool:
        """Swap in the staged files; `replaces(artifact)` says which old entries of this kind they replace."""
        from .checksum import SIDECAR_SUFFIX, SIGNATURE_SUFFIXES, SUMS_NAME, sha256_file
        from .fsutil import fsync_dir

        dist, manifest = self.dist, self.manifest
        before = {a.path: a.sha256 for a in manifest.artifacts}
        manifest.artifacts = [a for a in manifest.artifacts if not (a.kind == self.kind and replaces(a))] + self.new
        changed = {a.path: a.sha256 for a in manifest.artifacts} != before
        if changed:
            for name in [SUMS_NAME, "manifest.json"] + [SUMS_NAME + s for s in (SIDECAR_SUFFIX, *SIGNATURE_SUFFIXES)]:
                (dist / name).unlink(missing_ok=True)
            manifest.checksums = None
            manifest.signatures = [s for s in manifest.signatures if s.get("signs") != SUMS_NAME]
            fsync_dir(dist)
        for part, dest in self.staged:
            if dest.exists() and sha256_file(dest) == sha256_file(part):
                part.unlink()
                continue
            os.chmod(part, 0o644)
            os.replace(part, dest)
        fsync_dir(dist)
        manifest.save(dist)
        return changed


def _built(cfg: Config, targets: tuple[TargetConfig, ...],
           what: str) -> list[tuple[TargetConfig, TargetRecord, list[Path]]]:
    from .record import BuildRecord

    record = BuildRecord.load(cfg.project.dist_dir)
    out = []
    for t in targets:
        rec = record.targets.get(t.id)
        if rec is None or not rec.ok:
            raise WavryError(f"{t.id}: nothing to put in {what}: not built", hint=f"run `invoke build --target {t.id}`")
        out.append((t, rec, [cfg.project.dist_dir / b.path for b in rec.binaries]))
    return out


def _built_ids(cfg: Config) -> set[str]:
    from .record import BuildRecord

    record = BuildRecord.load(cfg.project.dist_dir)
    return {t for t, r in record.targets.items() if r.ok}


def run_wheel(ui: UI, cfg: Config, target: list[str] | None = None, dry: bool = False) -> bool:
    """Python wheels holding each target's binaries, added to dist/ and manifest.json.
    Returns whether any wheel changed."""
    from .channels.wheel import wheel_files, write_wheel

    wc = cfg.channels.pypi
    assert wc is not None
    dist = cfg.project.dist_dir
    built = _built_ids(cfg)
    targets = cfg.select(target) if target else tuple(t for t in cfg.targets if t.id in built)
    out = None if dry else _ChannelOutput(cfg, "wheel")
    for t, rec, binaries in _built(cfg, targets, "a wheel"):
        filename, files = wheel_files(cfg, wc, t, binaries)
        if out is None:
            ui.info(f"(dry) would write {dist / filename}")
            continue
        out.add(filename, functools.partial(write_wheel, files=files), target=t.id, triple=str(t.triple),
                fmt="whl", binaries=[b.name for b in rec.binaries])
    if out is None:
        return False
    chosen = {t.id for t in targets}
    changed = out.commit(lambda a: a.target in chosen)
    ui.table("Python wheels", ["target", "wheel", "size"], out.rows)
    return changed


def run_npm(ui: UI, cfg: Config, target: list[str] | None = None, dry: bool = False, main: bool = True,
            platforms: bool = True) -> bool:
    """npm tarballs: a platform package per built target of [channels.npm] and (unless `main` is
    false, as in a matrix part) the main package with the launchers. Returns whether any changed."""
    from .channels.npm import main_files, platform_files, write_tarball
    from .config.npm import platforms as npm_platforms
    from .config.npm import tarball_name

    nc = cfg.channels.npm
    if nc is None:
        raise ConfigError(f"{cfg.project.config_path}: channels.npm: not configured",
                          hint="add a [channels.npm] table (docs/channels-npm.md)")
    dist = cfg.project.dist_dir
    plats = {p.target.id: p for p in npm_platforms(cfg, nc)}
    if not platforms:
        targets: tuple[TargetConfig, ...] = ()
    elif target:
        targets = tuple(t for t in cfg.select(target) if t.id in plats)
    else:
        built = _built_ids(cfg)
        targets = tuple(t for t in cfg.targets if t.id in plats and t.id in built)
    version = cfg.project.version
    out = None if dry else _ChannelOutput(cfg, "npm")
    jobs: list[tuple[TargetConfig | None, TargetRecord | None, str, Any]] = [
        (t, rec, *platform_files(cfg, nc, plats[t.id], binaries)) for t, rec, binaries in _built(cfg, targets, "an npm package")]
    if main:
        name, files = main_files(cfg, nc)
        jobs.append((None, None, name, files))
    for t, rec, name, files in jobs:
        filename = tarball_name(name, version)
        if out is None:
            ui.info(f"(dry) would write {dist / filename} ({name}@{version})")
            continue
        out.add(filename, functools.partial(write_tarball, files=files), target=t.id if t else "",
                triple=str(t.triple) if t else "", fmt="tgz", binaries=[b.name for b in rec.binaries] if rec else [])
    if out is None:
        return False
    chosen = {t.id for t in targets}
    changed = out.commit(lambda a: a.target in chosen or (main and a.target == ""))
    ui.table("npm packages", ["target", "tarball", "size"], out.rows)
    return changed


def run_wheels(ui: UI, cfg: Config, platform: str, *, identifiers: bool = False, dry: bool = False) -> None:
    """cibuildwheel for a crate with Python bindings, its matrix from targets.toml ([bindings])."""
    from . import proc
    from .bindings import plan

    bc = cfg.bindings
    if bc is None:
        raise ConfigError(f"{cfg.project.config_path}: bindings: not configured",
                          hint="add a [bindings] table with package-dir (docs/channels-pypi.md)")
    p = plan(cfg, bc, platform, ("--print-build-identifiers",) if identifiers else ())
    cmd = proc.Command(p.argv, env=p.env)
    ui.command(cmd.display(), dry=dry)
    if dry:
        return
    if identifiers:
        ui.result(proc.run(cmd).stdout)
        return
    with ui.group(f"cibuildwheel --platform {platform}"):
        proc.run(cmd, on_stderr_line=ui.raw, on_stdout_line=ui.raw, tail_lines=60)


def _rpm_signing_key(cfg: Config, work: Path) -> tuple[Path, str] | None:
    """With [sign] gpg: the signing key exported (still passphrase-protected) for nfpm, and the
    passphrase, which reaches nfpm through its environment only. None without gpg signing."""
    from . import proc
    from .channels.repos import gpg_key

    if "gpg" not in cfg.sign.methods:
        return None
    gpg = gpg_key(cfg, "rpms")
    key, passphrase = gpg.key, gpg.passphrase
    out = proc.run(proc.Command(("gpg", "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase-fd", "0",
                                 "--armor", "--export-secret-keys", key), gpg.env),
                   stdin_data=(passphrase + "\n").encode(), secrets=(passphrase,))
    if "PRIVATE KEY" not in out.stdout:
        raise ConfigError(f"sign.gpg.key: no secret key {key!r} in the keyring", hint="check sign.gpg.key and homedir")
    path = work / "rpm-signing-key.asc"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(out.stdout)
    return path, passphrase


def _inputs_key(nfpm_data: dict[str, Any], signer: str | None) -> str:
    """What a .deb/.rpm is made from: nfpm's config (its temp paths left out) and every file's bytes."""
    import hashlib
    import json

    from .checksum import sha256_file

    data = json.loads(json.dumps(nfpm_data))
    files = [sha256_file(Path(c["src"])) for c in data.pop("contents")]
    data.get("rpm", {}).pop("signature", None)
    from . import __version__

    return hashlib.sha256(json.dumps([data, files, signer, __version__], sort_keys=True).encode()).hexdigest()


def run_linux_packages(ui: UI, cfg: Config, target: list[str] | None = None, dry: bool = False,
                       formats: tuple[str, ...] = ("deb", "rpm")) -> bool:
    """.deb / .rpm per Linux target of [channels.deb] / [channels.rpm], made by nfpm from the built
    binaries (rpms signed with the release's gpg key when [sign] has gpg). Returns whether any changed."""
    import json
    import shutil
    import tempfile

    from . import proc
    from .channels.linux import file_name, nfpm_config, write_nfpm_config
    from .checksum import sha256_file
    from .config.channels import linux_targets
    from .fsutil import write_atomic
    from .record import state_dir

    channels = cfg.channels
    configs = [c for c in (channels.deb, channels.rpm) if c is not None and c.format in formats]
    if not configs:
        raise ConfigError(f"{cfg.project.config_path}: channels.deb / channels.rpm: not configured",
                          hint="add [channels.deb] and/or [channels.rpm] (docs/channels-deb-rpm.md)")
    from .manifest import Manifest

    manifest = Manifest.load(cfg.project.dist_dir)
    mtime = manifest.source_date_epoch if manifest else 315532800
    built = _built_ids(cfg)
    changed = False
    for lc in configs:
        chosen = linux_targets(cfg, lc)
        targets = tuple(t for t in chosen if (t.id in target if target else t.id in built))
        if target:
            missing = [x for x in target if x not in {t.id for t in chosen}]
            if missing:
                raise ConfigError(f"{', '.join(missing)}: not a target of channels.{lc.format}",
                                  hint="its targets: " + ", ".join(t.id for t in chosen))
        out = None if dry else _ChannelOutput(cfg, lc.format)
        keys_file = state_dir(cfg.project.dist_dir) / "linux-packages.json"
        try:
            keys = json.loads(keys_file.read_text())
        except (OSError, ValueError):
            keys = {}
        have = {a.path: a.sha256 for a in out.manifest.artifacts} if out else {}
        work = Path(tempfile.mkdtemp(prefix="wavrybuild-nfpm-"))
        try:
            key = None if dry or lc.format != "rpm" else _rpm_signing_key(cfg, work)
            for t, rec, binaries in _built(cfg, targets, f"a .{lc.format}"):
                name = file_name(lc, t, cfg.project.version)
                conf = work / f"{t.id}.{lc.format}.json"
                data = nfpm_config(cfg, lc, t, binaries, mtime, key[0] if key else None)
                write_nfpm_config(conf, data)
                built_file = work / name
                # A signed rpm carries the signing time: remade, it would differ. Inputs unchanged and
                # the file as recorded: keep it, so a rerun leaves dist/ and SHA256SUMS alone.
                inputs = _inputs_key(data, cfg.sign.get("gpg", "key") if key else None)
                dest = cfg.project.dist_dir / name
                if out is not None and keys.get(name) == inputs and dest.is_file() and have.get(name) == sha256_file(dest):
                    shutil.copyfile(dest, built_file)
                    out.add(name, _writes(built_file.read_bytes()), target=t.id,
                            triple=str(t.triple), fmt=lc.format, binaries=[b.name for b in rec.binaries])
                    continue
                keys[name] = inputs
                env = {"SOURCE_DATE_EPOCH": str(mtime)}
                if key:
                    env["NFPM_RPM_PASSPHRASE"] = key[1]
                cmd = proc.Command(("nfpm", "package", "--config", str(conf), "--packager", lc.format,
                                    "--target", str(built_file)), env, secret_env=frozenset({"NFPM_RPM_PASSPHRASE"}))
                ui.command(cmd.display(), dry=dry)
                if out is None:
                    continue
                proc.run(cmd, secrets=(key[1],) if key else ())

                def copy(f: BinaryIO, src: Path = built_file) -> None:
                    with src.open("rb") as s:
                        shutil.copyfileobj(s, f)

                out.add(name, copy, target=t.id, triple=str(t.triple), fmt=lc.format,
                        binaries=[b.name for b in rec.binaries])
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if out is not None:
            ids = {t.id for t in targets}
            changed = out.commit(_of_targets(ids)) or changed
            write_atomic(keys_file, json.dumps(keys, indent=2, sort_keys=True))
            ui.table(f".{lc.format} packages", ["target", "package", "size"], out.rows)
    return changed


def run_repos(ui: UI, cfg: Config, dry: bool = False) -> bool:
    """Add dist/'s .deb/.rpm packages to the signed apt / rpm repositories of [channels.deb] / [channels.rpm]."""
    from .manifest import Manifest

    channels = cfg.channels
    configs = [c for c in (channels.deb, channels.rpm) if c is not None]
    if not configs:
        raise ConfigError(f"{cfg.project.config_path}: channels.deb / channels.rpm: not configured",
                          hint="add [channels.deb] and/or [channels.rpm] (docs/channels-deb-rpm.md)")
    dist = cfg.project.dist_dir
    manifest = Manifest.load(dist)
    changed = False
    for lc in configs:
        files = [dist / a.path for a in (manifest.artifacts if manifest else []) if a.kind == lc.format]
        if dry and not files:
            ui.info(f"(dry) would add this release's .{lc.format} packages to {lc.repo_dir} and sign it")
            continue
        if not files:
            raise WavryError(f"{dist}: no .{lc.format} packages in manifest.json", hint="run `invoke linux-packages` first")
        if dry:
            ui.info(f"(dry) would add {', '.join(f.name for f in files)} to {lc.repo_dir} and sign it")
            continue
        from .channels.repos import update_apt, update_rpm

        update = update_apt if lc.format == "deb" else update_rpm
        with ui.group(f"{'apt' if lc.format == 'deb' else 'rpm'} repository"):
            changed = update(cfg, lc, files, ui.info) or changed
    return changed


def run_installer(ui: UI, cfg: Config, dry: bool = False) -> bool:
    """dist/install.sh (and install.ps1 with a Windows target) for the packaged archives."""
    from .channels.installer import render

    ic = cfg.channels.installer
    if ic is None:
        raise ConfigError(f"{cfg.project.config_path}: channels.installer: not configured",
                          hint='add [channels.installer] with base-url = "..." (docs/install-script.md)')
    out = _ChannelOutput(cfg, "installer")
    archives = {a.target: a.path for a in out.manifest.artifacts if a.kind == "archive"}
    scripts = render(cfg, ic, archives)
    if dry:
        for name in scripts:
            ui.info(f"(dry) would write {cfg.project.dist_dir / name}")
        return False
    for name, text in scripts.items():
        out.add(name, _writes(text.encode()), target="", triple="", fmt=name.rsplit(".", 1)[1],
                binaries=list(cfg.project.binaries))
    changed = out.commit(lambda a: True)
    ui.table("Install scripts", ["target", "file", "size"], out.rows)
    return changed
