"""The invoke tasks: thin adapters from flags to the stages. Output goes through ui.UI only."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json as json_
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import Task
from invoke.tasks import task as invoke_task

from .env import Settings
from .errors import ConfigError, VerifyFailed, WavryError, suggest
from .fsutil import disk_full, lock_dir
from .ui import UI

if TYPE_CHECKING:
    from .config import Config, TargetConfig
    from .pipeline.stage import Run, Stage

# Each task imports what it uses (below, in the task): its own stage, and the config and the
# pipeline only when it loads or runs them, so `invoke --list`, `--help` or a task that fails on
# its flags pays for none, and `invoke build` not for the publishers, every channel and the
# release pipeline. A no-op build is benchmarked against the cargo-zigbuild run it stands for
# (docs/performance.md, "No-op build"): imports are most of its time.

CONFIG_HELP = "path to targets.toml (default: $WAVRYBUILD_CONFIG, the invoke setting wavrybuild.config, ./targets.toml)"
PARALLEL_HELP = ("how many cargo invocations run at once, each in its own target dir "
                 "(default: $WAVRYBUILD_PARALLEL, else 2; 1: one after the other in cargo's target dir)")
TARGET_HELP = "target id or triple from targets.toml; repeat for several"


def _guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """WavryError -> one clear message and its exit code, not a traceback."""

    takes_dry = "dry" in inspect.signature(fn).parameters

    @functools.wraps(fn)
    def wrapper(c: Context, *args: Any, **kwargs: Any) -> Any:
        # invoke's own `invoke --dry TASK` means the same as `invoke TASK --dry`: a task that
        # changes anything has a dry mode, and the others only read.
        if takes_dry and c.config.get("run", {}).get("dry"):
            kwargs["dry"] = True
        try:
            return fn(c, *args, **kwargs)
        except KeyboardInterrupt:
            _interrupted()
        except WavryError as exc:
            _discard_staged()
            UI().error(str(exc))
            raise Exit(code=exc.exit_code) from None
        except Exit:
            raise
        except Exception as exc:
            full = disk_full(exc)
            if full is not None:  # the machine's state, not a bug (the write helpers name the file; this is the net)
                UI().error(str(full))
                raise Exit(code=full.exit_code) from None
            # A bug of ours, not the user's input: still one line, and the traceback on request.
            if Settings.read().debug:
                raise
            UI().error(f"internal error in `invoke {fn.__name__.replace('_', '-')}`: {type(exc).__name__}: {exc}\n"
                       "  this is a wavrybuild bug: please report it (WAVRYBUILD_DEBUG=1 shows the traceback)")
            raise Exit(code=70) from None  # EX_SOFTWARE

    return wrapper


def _discard_staged() -> None:
    from .dist import discard_staged

    discard_staged()


def _interrupted() -> NoReturn:
    """Ctrl-C: every child stopped (each lane's cargo), the files staged for dist/ and not committed
    removed, one line, and the shell's exit code for SIGINT (128 + 2) — no table, no traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
    from .proc import stop_children

    stop_children()
    _discard_staged()
    print("interrupted", file=sys.stderr, flush=True)
    raise Exit(code=130)


INVOKE_SETTINGS = ("config",)


def _config_path(c: Context, flag: str | None) -> Path:
    settings = c.config.get("wavrybuild") or {}
    if not hasattr(settings, "keys"):
        raise ConfigError(f"invoke setting wavrybuild: expected a mapping, got {settings!r}",
                          hint="e.g. ns.configure({'wavrybuild': {'config': 'targets.toml'}})")
    for key in settings:
        if key not in INVOKE_SETTINGS:
            near = suggest(str(key), list(INVOKE_SETTINGS))
            raise ConfigError(f"invoke setting wavrybuild.{key}: unknown" + (f"; did you mean {near!r}?" if near else ""),
                              hint="allowed: " + ", ".join(INVOKE_SETTINGS) + " (other options are task flags "
                              "or WAVRYBUILD_* variables, e.g. --parallel / WAVRYBUILD_PARALLEL)")
    chosen = flag or Settings.read().config or settings.get("config") or "targets.toml"
    return Path(chosen)


def _load(c: Context, flag: str | None, cargo_optional: bool = False, lock: bool = True, *,
          release_job: bool = False, parts: Path | None = None, publish: tuple[str, ...] | None = None) -> Config:
    """The config, and (for tasks that write dist/) the lock on its dist/ for the rest of the run.
    release_job: a task that builds nothing reads the crate from the parts' (or dist/'s) manifest
    and never starts cargo, rustc, rustup or zig (ci/recorded.py); publish: the destinations a
    publish task was given (the crates destination needs cargo)."""
    if release_job:
        from .ci.recorded import load_release_job

        cfg = load_release_job(_config_path(c, flag), parts, publish=publish)
    else:
        from .config import load

        cfg = load(_config_path(c, flag), cargo_optional)
    if lock:
        lock_dir(cfg.project.dist_dir, UI().warn, wait=not Settings.read().no_wait)
    return cfg


def _ui(c: Context) -> UI:
    """invoke's --hide (config run.hide) hides the tools' own output; commands are always echoed."""
    hide = c.config.get("run", {}).get("hide")
    return UI(hide=hide if isinstance(hide, str) else ("both" if hide is True else None))


def _one(c: Context, cfg: Config, stage: Stage, targets: tuple[TargetConfig, ...] = (), *, dry: bool = False,
         force: bool = False, parallel: int | None = None) -> Run:
    """A single-stage task: the pipeline's runner with one stage, so it skips and resumes like a release."""
    from .pipeline.runner import Pipeline
    from .pipeline.stage import Run

    run = Run(cfg, _ui(c), targets or cfg.targets, dry=dry, force=force, parallel=parallel)
    Pipeline(run).stage(stage, always=True)
    return run

def _install(ui: UI, cfg: Config, targets: tuple[TargetConfig, ...], dry: bool) -> None:
    from .toolchain import pins
    from .toolchain import probe as tc
    from .toolchain.stage import install

    install(ui, cfg, targets, dry)
    tc.toolchains.cache_clear()
    pins.active_pin.cache_clear()


# One table of short flags: a letter means the same in every task (`-d` is always --dry). Flags
# not listed (the CI-only --part, --merge, --to, …) have only their long name.
SHORT_FLAGS = {"dry": "d", "config": "c", "target": "t", "force": "f", "parallel": "p", "all_": "a", "json": "j",
               "install": "i", "no_publish": "n", "format": "F", "fail_fast": "x", "sidecars": "s", "method": "m",
               "directory": "D", "commit": "C", "print_build_identifiers": "r"}


class FlagTask(Task):  # type: ignore[type-arg]
    """A task whose short flags come from SHORT_FLAGS, not from invoke's first-free-letter rule
    (which gave -f three meanings)."""

    def arg_opts(self, name: str, default: str, taken_names: set[str]) -> dict[str, Any]:
        self.auto_shortflags = False
        opts: dict[str, Any] = super().arg_opts(name, default, taken_names)
        if name in SHORT_FLAGS:
            opts["names"].append(SHORT_FLAGS[name])
        return opts


def task(*args: Any, **kwargs: Any) -> Callable[..., Any]:
    kwargs.setdefault("klass", FlagTask)
    return invoke_task(*args, **kwargs)


@task(
    iterable=["target"],
    help={
        "target": TARGET_HELP + " (default: all)",
        "install": "get what is missing: rustup target add where its server answers, else distribution "
        "std packages or rust-src for -Zbuild-std, cross linkers and qemu-user",
        "json": "print the report as JSON",
        "dry": "with --install: print the commands without running them",
        "config": CONFIG_HELP,
    },
)
@_guarded
def toolchain(c: Context, target: list[str] | None = None, install: bool = False, json: bool = False,
              dry: bool = False, config: str | None = None) -> None:
    """Show, per configured target, whether and how it can be built and run here; --install gets what is missing."""
    from .toolchain.probe import statuses
    from .toolchain.stage import report_toolchain

    ui = _ui(c)
    cfg = _load(c, config, cargo_optional=True, lock=False)
    targets = cfg.select(target or (), all_targets=not target)
    if install:
        _install(ui, cfg, targets, dry)
        if dry:
            return
        cfg = _load(c, config, cargo_optional=True, lock=False)  # with cargo now installed, as builds will see it
        targets = cfg.select(target or (), all_targets=not target)
    tools, sts = statuses(cfg, targets)
    report_toolchain(ui, tools, sts, json)


@task(iterable=["target"], help={"target": TARGET_HELP + " (default: all)", "json": "print the report as JSON",
                                 "config": CONFIG_HELP})
@_guarded
def doctor(c: Context, target: list[str] | None = None, json: bool = False, config: str | None = None) -> None:
    """Check this machine against targets.toml; exits 1 if a target it should build cannot be built here.

    Without --target, a target whose CI job runs on another OS's runner, such as MSVC on Windows, is reported
    as built there."""
    from .ci.matrix import elsewhere
    from .toolchain.probe import statuses
    from .toolchain.sccache import status as cache_status
    from .toolchain.stage import report_toolchain
    from .triple import Triple

    cfg = _load(c, config, cargo_optional=True, lock=False)
    targets = cfg.select(target or (), all_targets=not target)
    tools, sts = statuses(cfg, targets)
    cache = cache_status(cfg.project)
    away = {} if target else elsewhere(cfg, targets, Triple(tools.host).os)  # asked by name: is it buildable here?
    report_toolchain(_ui(c), tools, sts, json, cache, away)
    if _release_needs(_ui(c), cfg, targets):  # what the release's stages need: programs, credentials, keys
        raise Exit(code=1)
    if not all(s.ready or s.target.id in away for s in sts) or cache.problem:
        raise Exit(code=1)


def _release_needs(ui: UI, cfg: Config, targets: tuple[TargetConfig, ...]) -> bool:
    """doctor: one line per program, credential or key `invoke release` would miss here (a snapshot
    needs no publish credentials). True if any is missing."""
    from .pipeline.stage import Run
    from .release import requirement_problems

    snap, problems = requirement_problems(Run(cfg, ui, targets))
    if snap is not None:
        ui.info(f"release: {snap.summary}: publish credentials not checked")
    for p in problems:
        ui.error(f"release needs {p.line()}")
    return bool(problems)


@task(
    iterable=["target"],
    help={
        "target": TARGET_HELP,
        "all": "build every target in targets.toml",
        "fail-fast": "stop at the first target that fails (default: build the others); builds one invocation at a time",
        "dry": "print every command without running anything",
        "force": "run cargo even for targets whose sources, toolchain and config are unchanged",
        "parallel": PARALLEL_HELP,
        "config": CONFIG_HELP,
    },
)
@_guarded
def build(c: Context, target: list[str] | None = None, all_: bool = False, fail_fast: bool = False,
          dry: bool = False, force: bool = False, parallel: int = 0, config: str | None = None) -> None:
    """Cross-compile the crate for the chosen targets; binaries go to dist/.wavrybuild/bin/<target>/."""
    from .build.stage import BuildStage

    cfg = _load(c, config)
    targets = cfg.select(target or (), all_targets=all_)
    _one(c, cfg, BuildStage(fail_fast=fail_fast), targets, dry=dry, force=force, parallel=parallel or None)


@task(iterable=["target"], help={"target": TARGET_HELP + " (default: every built target)", "config": CONFIG_HELP,
                                 "dry": "print the commands without running them",
                                 "force": "run again even the targets whose binaries already passed"})
@_guarded
def smoke(c: Context, target: list[str] | None = None, dry: bool = False, force: bool = False,
          config: str | None = None) -> None:
    """Run each built binary (natively or under qemu-user) with targets.toml's smoke-args and check its output."""
    from .smoke.stage import SmokeStage

    cfg = _load(c, config)
    _one(c, cfg, SmokeStage(chosen=bool(target)), cfg.select(target) if target else cfg.targets, dry=dry, force=force)


@task(iterable=["target"], help={"target": TARGET_HELP + " (default: every built Windows target)",
                                 "dry": "print the osslsigncode commands (no password: it is read from a file) "
                                        "without running them",
                                 "force": "sign again even the targets whose signed copies are up to date",
                                 "config": CONFIG_HELP})
@_guarded
def codesign(c: Context, target: list[str] | None = None, dry: bool = False, force: bool = False,
             config: str | None = None) -> None:
    """Authenticode-sign each built Windows binary once ([sign] authenticode, osslsigncode).

    Every later stage (archives, wheels, npm, MSI/setup.exe, SBOMs) ships these signed bytes."""
    from .codesign.stage import CodesignStage

    cfg = _load(c, config)
    _one(c, cfg, CodesignStage(chosen=bool(target)), cfg.select(target) if target else cfg.targets, dry=dry,
         force=force)


@task(iterable=["target"], help={"target": TARGET_HELP + " (default: every configured target)",
                                 "dry": "show what would be archived without writing anything",
                                 "config": CONFIG_HELP})
@_guarded
def package(c: Context, target: list[str] | None = None, dry: bool = False, config: str | None = None) -> None:
    """Archive each built target reproducibly into dist/ ({name}-{version}-{target}.tar.gz|.zip) and write dist/manifest.json."""
    from .package.stage import PackageStage

    cfg = _load(c, config)
    _one(c, cfg, PackageStage(chosen=bool(target)), cfg.select(target) if target else cfg.targets, dry=dry)


@task(help={"sidecars": "also write <artifact>.sha256 files (also on with `sidecars = true` under [checksum])",
            "dry": "check the artifacts and say whether SHA256SUMS would change, writing nothing",
            "config": CONFIG_HELP})
@_guarded
def checksum(c: Context, sidecars: bool = False, dry: bool = False, config: str | None = None) -> None:
    """Write dist/SHA256SUMS (the format `sha256sum -c` reads) for every artifact in dist/manifest.json."""
    from .sign.sums import ChecksumStage

    _one(c, _load(c, config, release_job=True), ChecksumStage(sidecars=sidecars), dry=dry)


@task(help={"directory": "directory holding SHA256SUMS, e.g. a downloaded release (default: dist/ of targets.toml)",
                                      "config": CONFIG_HELP})
@_guarded
def verify(c: Context, directory: str | None = None, config: str | None = None) -> None:
    """Check every artifact against SHA256SUMS; exit 1 on any mismatched, missing or unexpected file."""
    from .verify.audit import verify_dir, verify_signatures

    ui = _ui(c)
    cfg = None
    if directory is None or config or _config_path(c, None).exists():
        cfg = _load(c, config, lock=False, release_job=True)
    if directory:
        where = Path(directory)
    else:
        assert cfg is not None  # loaded above when no directory is given
        where = cfg.project.dist_dir
    checks = verify_dir(where)
    if cfg is not None and cfg.sign.methods:
        checks += verify_signatures(where, cfg)
    elif cfg is None:
        ui.info("no targets.toml: checking checksums only (pass --config to check signatures too)")
    ui.table(f"Verify {where}", ["file", "result", "detail"], [(ch.name, ch.status, ch.detail) for ch in checks])
    bad = [ch for ch in checks if not ch.ok]
    if bad:
        raise VerifyFailed(f"{len(bad)} problem(s) in {where}: "
                           + ", ".join(f"{ch.name} ({ch.status})" for ch in bad))
    ui.success(f"all {len(checks)} artifacts verified")


@task(iterable=["method"], help={
    "method": "gpg, minisign, ssh or sigstore; repeat for several (default: [sign] methods in targets.toml, "
    "or $WAVRYBUILD_SIGN_METHODS)",
    "dry": "say what would be signed with which method, running no signer",
    "config": CONFIG_HELP})
@_guarded
def sign(c: Context, method: list[str] | None = None, dry: bool = False, config: str | None = None) -> None:
    """Detached signatures over dist/SHA256SUMS (and every artifact with [sign] artifacts = true).

    Keys come from targets.toml paths or WAVRYBUILD_<METHOD>_KEY; passphrases only from the env vars
    named by *-env keys. Authenticode is applied to the binaries by `invoke codesign`, before packaging.
    """
    from .sign.stage import SignStage

    _one(c, _load(c, config, release_job=True), SignStage(methods=tuple(method or ())), dry=dry)


@task(
    iterable=["target"],
    help={
        "target": TARGET_HELP + " (default: all)",
        "dry": "print every command of the plan without running any",
        "force": "rebuild, re-smoke and re-sign even what is up to date",
        "part": "CI matrix job: stop after packaging and write dist/manifest-part-<targets>.json",
        "merge": "CI merge job: collect the parts found under this directory (or s3://bucket/prefix/<commit>) "
        "into dist/, then checksum, sign and publish; never builds, needs no cargo",
        "merge-from-storage": "the same, from [storage] for this commit (a git sha)",
        "no-publish": "stop before the publish stage",
        "publish-untagged": "publish even though the checkout is not at its release tag (v<version>, or "
        "[publish.github]/[publish.gitlab] tag) or has uncommitted changes; without it such a checkout builds "
        "a snapshot that is not published (also WAVRYBUILD_PUBLISH_UNTAGGED=1)",
        "only": "artifacts: release only the [[artifacts]] on a rolling tag (a website on website-latest): "
        "no cargo, the versioned release untouched",
        "parallel": PARALLEL_HELP,
        "config": CONFIG_HELP,
    },
)
@_guarded
def release(c: Context, target: list[str] | None = None, dry: bool = False, force: bool = False,
            part: bool = False, merge: str | None = None, merge_from_storage: str | None = None,
            no_publish: bool = False, only: str | None = None, parallel: int = 0,
            config: str | None = None, publish_untagged: bool = False) -> None:
    """Build, smoke-run, package, checksum, sign and publish every target: the same command on a laptop and in CI.

    Stages: toolchain check → build → smoke → codesign (if [sign] authenticode) → package → checksum →
    sign (if [sign] methods) → publish (if [publish]). Each stage records what it produced, keyed by
    what it depends on, so a rerun with nothing changed does nothing, and a rerun after a failure or
    Ctrl-C does only what is missing. For a CI matrix: `invoke plan --format github`, one `invoke release --part --target T`
    per job, then `invoke release --merge DIR` in a final job. A checkout not at its release tag (or dirty)
    is a snapshot: versions 1.2.3-snapshot.g<sha>, nothing published (--publish-untagged: published as is).
    Every program, credential and key the stages need is checked before anything is built.
    """
    from . import release as releases
    from . import snapshot
    from .pipeline.stage import Run

    if only is not None:
        if target or part or merge or merge_from_storage or force:
            raise WavryError("--only artifacts releases the rolling artifacts alone: it takes no --target, "
                             "--part, --merge or --force")
        # Nothing is built: the crate is read as a release job reads it (never from cargo).
        cfg = _load(c, config, release_job=True)
        releases.release_only(Run(cfg, _ui(c), cfg.targets, dry=dry), only, no_publish=no_publish)
        return
    if merge or merge_from_storage:
        if target or part:
            raise WavryError("--merge collects parts built elsewhere: it takes no --target or --part")
        # A merge never builds and needs no Rust: the parts come first, then the config, whose
        # crate is what the parts recorded (ci/recorded.py).
        from .ci.recorded import storage_and_dist

        ui = _ui(c)
        path, dist, storage = storage_and_dist(_config_path(c, config))
        lock_dir(dist, UI().warn, wait=not Settings.read().no_wait)
        parts_dir = releases.fetch_parts(storage, path, dist, ui, merge, merge_from_storage, dry=dry)
        cfg = _load(c, config, release_job=True, parts=parts_dir)
        merged = snapshot.decide_for(cfg, flag=publish_untagged)  # the parts' versions as they were built
        releases.merge(Run(cfg, ui, cfg.targets, dry=dry), parts_dir, no_publish=no_publish,
                       snapshot=merged if isinstance(merged, snapshot.Snapshot) else None)
        return
    cfg = _load(c, config)
    decision = snapshot.decide_for(cfg, flag=publish_untagged)
    cfg = snapshot.apply(cfg, decision)
    targets = cfg.select(target or (), all_targets=not target)
    releases.release(Run(cfg, _ui(c), targets, dry=dry, force=force, parallel=parallel or None, part=part),
                     no_publish=no_publish, snapshot=decision if isinstance(decision, snapshot.Snapshot) else None)


@task(help={"format": "github (strategy.matrix JSON), gitlab (child pipeline) or json", "config": CONFIG_HELP})
@_guarded
def plan(c: Context, format: str = "github", config: str | None = None) -> None:
    """Print the CI build matrix: one job per target of targets.toml (for fromJSON(...) or a GitLab child pipeline)."""
    from .ci.matrix import matrix

    # cargo_optional: the matrix needs targets.toml alone, and GitLab's plan job runs in an image with no Rust.
    _ui(c).result(json_.dumps(matrix(_load(c, config, cargo_optional=True, lock=False), format),
                              separators=(",", ":")) + "\n")


@task(iterable=["to"], help={"to": "github, gitlab, pypi, crates, http, directory or npm; repeat for several "
                                   "(default: every [publish] destination, and npm when [channels.npm] publishes)",
                             "dry": "list what would be uploaded, contacting nothing",
                             "config": CONFIG_HELP})
@_guarded
def publish(c: Context, to: list[str] | None = None, dry: bool = False, config: str | None = None) -> None:
    """Upload dist/ to the [publish] destinations, npm packages to npm, wheels to PyPI and crates to crates.io.

    The artifacts, signatures and SHA256SUMS go first, manifest.json last. Idempotent: files already
    there with the same size and digest are skipped, so a rerun after a partial or killed upload
    completes it without duplicates. Tokens come from env vars only.
    """
    from .publish.stage import PublishStage
    from .snapshot import is_snapshot

    stage = PublishStage(only=tuple(to or ()))
    cfg = _load(c, config, release_job=True, publish=stage.only)
    if is_snapshot(cfg.project.version):
        raise ConfigError(f"{cfg.project.dist_dir}: holds the snapshot {cfg.project.version}, which is never published",
                          hint="release from the release tag (or with `invoke release --publish-untagged`)")
    run = _one(c, cfg, stage, dry=dry)
    run.ui.table("Publish", ["destination", "file", "action", "detail"],
                 [(r.destination, r.file, r.action, r.detail) for r in stage.results])


@task(iterable=["target"], help={"target": TARGET_HELP + " (default: every built target)",
                                 "dry": "show the wheel names without writing them", "config": CONFIG_HELP})
@_guarded
def wheel(c: Context, target: list[str] | None = None, dry: bool = False, config: str | None = None) -> None:
    """Python wheels carrying the built binaries as scripts (pip install puts them on PATH); no rebuild."""
    from .channels.wheel.stage import WheelStage

    cfg = _load(c, config)
    _one(c, cfg, WheelStage(chosen=bool(target)), cfg.select(target) if target else cfg.targets, dry=dry)


@task(iterable=["target"], help={"target": TARGET_HELP + " (default: every built target of [channels.npm])",
                                 "dry": "show the package tarballs without writing them",
                                 "no-main": "only the platform packages (a CI matrix part; the merge writes the main one)",
                                 "config": CONFIG_HELP})
@_guarded
def npm(c: Context, target: list[str] | None = None, dry: bool = False, no_main: bool = False,
        config: str | None = None) -> None:
    """npm packages (esbuild style) from the built binaries; no rebuild.

    One package per platform, plus a main package whose launcher runs the right one."""
    from .channels.npm.stage import NpmStage

    cfg = _load(c, config)
    _one(c, cfg, NpmStage(main=not no_main, chosen=bool(target)), cfg.select(target) if target else cfg.targets, dry=dry)


@task(help={"platform": "linux, macos or windows (default: this machine's)",
            "print-build-identifiers": "only list the wheels cibuildwheel would build",
            "dry": "print the cibuildwheel command and its CIBW_* variables without running it",
            "config": CONFIG_HELP})
@_guarded
def wheels(c: Context, platform: str | None = None, print_build_identifiers: bool = False, dry: bool = False,
           config: str | None = None) -> None:
    """Python extension wheels of a crate with bindings, built by cibuildwheel with the matrix of targets.toml ([bindings])."""
    from .channels.bindings.run import run_wheels

    host = {"darwin": "macos", "win32": "windows"}.get(sys.platform, "linux")
    run_wheels(_ui(c), _load(c, config), platform or host, identifiers=print_build_identifiers, dry=dry)


@task(name="linux-packages", iterable=["target", "format"],
      help={"target": TARGET_HELP + " (default: every built target of [channels.deb] / [channels.rpm])",
            "format": "deb or rpm; repeat for both (default: every configured one)",
            "dry": "print the nfpm commands without running them", "config": CONFIG_HELP})
@_guarded
def linux_packages(c: Context, target: list[str] | None = None, format: list[str] | None = None, dry: bool = False,
                   config: str | None = None) -> None:
    """.deb and .rpm packages of the built Linux binaries (nfpm); no rebuild.

    Their metadata comes from Cargo.toml; the rpms are gpg-signed with [sign] gpg."""
    from .channels.linux.stage import LinuxStage

    for f in format or ():
        if f not in ("deb", "rpm"):
            raise WavryError(f"--format {f}: expected deb or rpm")
    cfg = _load(c, config)
    stage = LinuxStage(formats=tuple(format or ("deb", "rpm")), chosen=bool(target))
    _one(c, cfg, stage, cfg.select(target) if target else cfg.targets, dry=dry)


@task(help={"dry": "say what would be written", "config": CONFIG_HELP})
@_guarded
def provenance(c: Context, dry: bool = False, config: str | None = None) -> None:
    """[provenance]: write provenance.intoto.json, a SLSA v1 statement; then run checksum and sign.

    The statement (in-toto) names the builder, source commit, invocation and toolchains, with every
    artifact's SHA-256 as a subject."""
    from .provenance.stage import ProvenanceStage

    _one(c, _load(c, config), ProvenanceStage(), dry=dry)


@task(iterable=["target"],
      help={"target": TARGET_HELP + " (default: every built target)",
            "dry": "show the cargo metadata calls and the files without writing", "config": CONFIG_HELP})
@_guarded
def sbom(c: Context, target: list[str] | None = None, dry: bool = False, config: str | None = None) -> None:
    """[sbom]: a CycloneDX SBOM per built target; no rebuild.

    It lists the crates compiled into the target (cargo's graph for that triple, Cargo.lock's versions
    and checksums, licenses) and the binaries' SHA-256."""
    from .sbom.stage import SbomStage

    cfg = _load(c, config)
    _one(c, cfg, SbomStage(chosen=bool(target)), cfg.select(target) if target else cfg.targets, dry=dry)


@task(iterable=["target"],
      help={"target": TARGET_HELP + " (default: every built macOS and Windows target)",
            "dry": "say what would be made, and how it would be signed, without running anything",
            "config": CONFIG_HELP})
@_guarded
def desktop(c: Context, target: list[str] | None = None, dry: bool = False, config: str | None = None) -> None:
    """[desktop]: a .dmg per macOS target, an MSI and an NSIS setup.exe per Windows target; no rebuild.

    The .dmg holds a <Name>.app; the Windows installers are Authenticode-signed with [sign] authenticode."""
    from .channels.desktop.stage import DesktopStage

    cfg = _load(c, config)
    _one(c, cfg, DesktopStage(chosen=bool(target)), cfg.select(target) if target else cfg.targets, dry=dry)


@task(help={"dry": "say what would be added without writing", "config": CONFIG_HELP})
@_guarded
def repos(c: Context, dry: bool = False, config: str | None = None) -> None:
    """Add dist/'s .deb/.rpm to the apt and rpm repositories (static files, gpg-signed), updating them incrementally."""
    from .channels.repos.stage import ReposStage

    _one(c, _load(c, config), ReposStage(), dry=dry)


@task(help={"dry": "name the scripts without writing them", "config": CONFIG_HELP})
@_guarded
def installer(c: Context, dry: bool = False, config: str | None = None) -> None:
    """install.sh (POSIX sh) and install.ps1 that pick, download, SHA-256/minisign-verify and install this release's archive."""
    from .channels.installer.stage import InstallerStage

    _one(c, _load(c, config), InstallerStage(), dry=dry)


@task(help={"dry": "show the image's platforms, base and tags without building it", "config": CONFIG_HELP})
@_guarded
def container(c: Context, dry: bool = False, config: str | None = None) -> None:
    """A multi-arch OCI image of the built binaries (no Docker daemon), for `invoke publish` to push."""
    from .channels.container.stage import ContainerStage

    _one(c, _load(c, config), ContainerStage(), dry=dry)


@task(help={"dry": "name the files without writing them", "config": CONFIG_HELP})
@_guarded
def package_managers(c: Context, dry: bool = False, config: str | None = None) -> None:
    """The Homebrew formula, Scoop manifest and winget manifests for this release's archives and installers."""
    from .channels.pkgmanagers.stage import PackageManagersStage

    _one(c, _load(c, config), PackageManagersStage(), dry=dry)


@task(help={"dry": "say what would be written", "config": CONFIG_HELP})
@_guarded
def notes(c: Context, dry: bool = False, config: str | None = None) -> None:
    """RELEASE_NOTES.md: the changes (changelog or commits), every artifact's platform, size and SHA-256, how to verify."""
    from .notes.stage import NotesStage

    cfg = _load(c, config, release_job=True)
    if not cfg.release.notes:
        cfg = dataclasses.replace(cfg, release=dataclasses.replace(cfg.release, notes=True))  # asked for by name
    _one(c, cfg, NotesStage(), dry=dry)


@task(help={"dry": "show the commands and archives without running or writing", "config": CONFIG_HELP})
@_guarded
def artifacts(c: Context, dry: bool = False, config: str | None = None) -> None:
    """[[artifacts]]: run each entry's command and pack its directory (a website, docs) into dist/, deterministically."""
    from .config.artifacts import rolling, versioned
    from .package.artifacts import ArtifactsStage

    cfg = _load(c, config)
    if rolling(cfg.artifacts) and not versioned(cfg.artifacts):
        raise ConfigError(f"{cfg.project.config_path}: artifacts: every entry has a tag: they are released on their "
                          "own tag, never into dist/",
                          hint="`invoke release --only artifacts` makes and publishes them (--no-publish: makes them)")
    _one(c, cfg, ArtifactsStage(), dry=dry)


@task(help={"dry": "show the cargo command and the files without running or writing", "config": CONFIG_HELP})
@_guarded
def crates(c: Context, dry: bool = False, config: str | None = None) -> None:
    """[publish.crates]: `cargo package` (verified) the listed crates into dist/ with their publish metadata."""
    from .package.cratefiles import CrateFilesStage

    _one(c, _load(c, config), CrateFilesStage(), dry=dry)


@task(help={"commit": "the commit whose parts to list (default: the checkout's HEAD)", "config": CONFIG_HELP})
@_guarded
def parts(c: Context, commit: str | None = None, config: str | None = None) -> None:
    """[storage]: which CI matrix parts of a commit are in object storage, and whether each is complete."""
    from . import proc
    from .ci import storage

    cfg = _load(c, config, lock=False, release_job=True)
    if cfg.storage is None:
        raise ConfigError(f"{cfg.project.config_path}: storage: not configured", hint='add [storage] url = "s3://…"')
    sha = commit or proc.capture(["git", "-C", str(cfg.project.root), "rev-parse", "HEAD"])
    w = storage.where(cfg.storage, (sha or "").strip())
    rows = storage.status_rows(storage.parts(cfg.storage, w))
    _ui(c).table(f"Parts in {w.url()}", ["part", "files", "state"], rows or [("(none)", "0", "-")])


@task(iterable=["channel"], help={
    "ci": "also write the CI files: github (.github/workflows/release.yml), gitlab (.gitlab-ci.yml) or both",
    "musl": "add the static Linux targets (x86_64 and arm64 musl)",
    "glibc-floor": "add Linux gnu targets linked against this glibc, e.g. 2.17 (cargo-zigbuild)",
    "universal2": "add universal2-apple-darwin (both Mac architectures in one binary)",
    "channel": "add a package channel: npm, wheel, deb or rpm; repeat for several",
    "force": "overwrite files that differ from what init writes",
    "check": "write nothing; exit 1 if the CI files differ from what init would write now",
    "dry": "print every file init would write, writing none",
    "from": "carry over a peer's config: cargo-dist or goreleaser (a table says what maps how)",
})
@_guarded
def init(c: Context, ci: str | None = None, musl: bool = False, glibc_floor: str | None = None,
         universal2: bool = False, channel: list[str] | None = None, force: bool = False, check: bool = False,
         dry: bool = False, from_: str | None = None) -> None:
    """Write targets.toml from `cargo metadata`, a tasks.py when there is none, and with --ci the CI files.

    The same as `python -m wavrybuild init`, which works before a tasks.py exists."""
    from .init import Options, run

    run(Path.cwd(), Options.parse(ci=ci, musl=musl, glibc_floor=glibc_floor, universal2=universal2,
                                  channels=channel or (), force=force, check=check, dry=dry, source=from_), _ui(c))


def _did_you_mean(token: str, tasks: list[str], flags: list[str]) -> str:
    """The hint after invoke's "No idea what 'relase' is!": the nearest task name (or, for a
    token that is a flag, the nearest flag of the task it was given to)."""
    near = suggest(token, flags if token.startswith("-") else tasks)
    return f" Did you mean {near!r}?" if near else ""


def suggest_on_typos() -> None:
    """Make plain `invoke` say a did-you-mean for a mistyped task or flag.

    invoke has no hook for its parse errors and users run its own `invoke` program, so this wraps
    the one method that raises "No idea what … is!" (invoke.parser.ParseMachine.handle) when a
    tasks.py takes wavrybuild's collection; everything else about parsing stays invoke's own."""
    from invoke.exceptions import ParseError
    from invoke.parser.parser import ParseMachine

    handle = ParseMachine.handle
    if getattr(handle, "wavrybuild", False):
        return

    def suggesting(self: ParseMachine, token: str) -> None:
        try:
            handle(self, token)
        except ParseError as exc:
            if not str(exc).startswith("No idea what"):
                raise
            flags = [f for f in (self.context.flags if self.context else {}) if f.startswith("--")]
            hint = _did_you_mean(token, list(self.contexts), flags)
            raise ParseError(f"{exc}{hint}", self.context) from None

    suggesting.wavrybuild = True  # type: ignore[attr-defined]
    ParseMachine.handle = suggesting  # type: ignore[method-assign]


def namespace() -> Collection:
    """A fresh task collection; configure it with .configure({'wavrybuild': {'config': PATH}})."""
    suggest_on_typos()
    ns = Collection(toolchain, doctor, build, smoke, codesign, package, checksum, sign, verify, publish, release, plan,
                    wheel, npm, wheels, linux_packages, sbom, desktop, provenance, repos, installer, notes, artifacts,
                    crates, parts, package_managers, container)
    ns.add_task(init)
    ns.configure({"wavrybuild": {"config": None}})
    return ns
