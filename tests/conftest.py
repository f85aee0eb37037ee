"""Shared fixtures. Integration tests run the real `invoke` CLI on a copy of the demo crate."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo"
# The test projects are commits without a release tag: their releases are snapshots (never published)
# unless told otherwise. The tests of publishing, repositories and release names stand for a release
# job at its tag, so every invoke they start publishes untagged; tests of the snapshot itself
# (tests/unit/test_snapshot.py, tests/integration/test_snapshot.py) unset it.
os.environ.setdefault("WAVRYBUILD_PUBLISH_UNTAGGED", "1")
# HTTP retries (net.RetryPolicy) back off for milliseconds in tests, here and in every invoke they
# start; tests/unit/test_retry.py sets its own policies.
os.environ.setdefault("WAVRYBUILD_HTTP_BACKOFF", "0.01")


def free_port() -> int:
    """A TCP port nothing listens on now, for a local server a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# targets.toml's opening for a release of the demo's two binaries for the host alone (plain cargo:
# with the session's target dir the build is cargo's no-op); a test adds the sections it is about.
HOST_DEMO = """[project]
crate = "demo"
binaries = ["wavry-demo", "wavry-hello"]

[targets.x86_64-unknown-linux-gnu]
builder = "cargo"
"""

def copy_demo(dest: Path) -> Path:
    """A copy of the demo crate without any build output."""
    shutil.copytree(DEMO, dest, ignore=shutil.ignore_patterns("target"))
    return dest


def write_project(root: Path, targets_toml: str) -> Path:
    """A project dir: demo crate in root/demo, the given targets.toml and a tasks.py at root."""
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "demo").exists():
        copy_demo(root / "demo")
    (root / "targets.toml").write_text(targets_toml)
    # The same one-line tasks.py a user repository has.
    (root / "tasks.py").write_text("from wavrybuild import ns  # noqa: F401\n")
    return root


def write_files(root: Path, files: dict[str, str], *, lock: bool = True) -> Path:
    """A crate (or workspace) from {relative path: text}, with its Cargo.lock made offline."""
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    if lock:
        subprocess.run(["cargo", "generate-lockfile", "--offline"], cwd=root, check=True, capture_output=True)
    return root


def git_commit(root: Path, when: str = "2026-01-02T03:04:05Z") -> None:
    """Make `root` a git checkout with one commit at a fixed time (archives take their mtime from it)."""
    (root / ".gitignore").write_text("dist/\ntarget/\n")
    env = {**os.environ, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when,
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    for argv in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "release"]):
        subprocess.run(argv, cwd=root, env=env, check=True, capture_output=True)


def invoke(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run the real invoke CLI (as an installed user would) and capture everything."""
    full = dict(os.environ)
    full.pop("GITHUB_ACTIONS", None)
    if env:
        full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=cwd, env=full, capture_output=True, text=True, timeout=timeout, check=False,
    )


def toolchain_with_std(*triples: str) -> str:
    """A targets.toml line that puts these targets on one installed toolchain having all their std's
    ('' where that is the only Rust, on PATH without rustup): rustup's own toolchains and the
    distribution's differ from machine to machine."""
    from wavrybuild.toolchain.probe import toolchains

    for chain in toolchains():
        if all(chain.has_std(t) for t in triples):
            return f'toolchain = "{chain.name}"\n' if chain.name else ""
    pytest.fail(f"no installed toolchain has the std of all of {triples} (run `invoke toolchain --install`)")


# Tests run in two processes (pytest-xdist, `-n auto --dist loadgroup` in pyproject.toml): Rust builds
# keep both cores busy, while most other tests wait on one Python process at a time (invoke's start-up,
# servers, git), so a second worker fills the idle core. A module runs whole in one worker (its module
# fixtures are made once), and every module with a test that uses the session's release build runs in
# the same worker, so that build is made once. Both workers share one cargo target dir (the session
# fixture below), so std built from source is built once per target in the whole run.
SHARED_BUILD = frozenset({"release", "packaged"})


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    shared = {item.nodeid.split("::")[0] for item in items if SHARED_BUILD.intersection(getattr(item, "fixturenames", ()))}
    for item in items:
        module = item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group("shared-build" if module in shared else module))
    # The longest group first, then the other integration modules, then the unit tests, which are many
    # and short and so fill the gaps at the end (the order within a module stays as written).
    items.sort(key=lambda item: 0 if item.nodeid.split("::")[0] in shared else 1 if "/integration/" in item.nodeid else 2)


# Where a run's time went, per test process: xdist's controller sees every report with the worker
# that made it and the wall-clock start and stop of each phase. The summary shows how long each
# worker was busy, when it finished, and its costliest modules (what to share or split next).
_SPANS: dict[str, list[tuple[float, float, str]]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    worker = getattr(getattr(getattr(report, "node", None), "gateway", None), "id", None)
    if worker is not None:
        _SPANS.setdefault(worker, []).append((report.start, report.stop, report.nodeid.split("::")[0]))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _SPANS:
        return
    t0 = min(start for spans in _SPANS.values() for start, _, _ in spans)
    terminalreporter.section("time per test process")
    for worker, spans in sorted(_SPANS.items()):
        modules: dict[str, float] = {}
        for start, stop, module in spans:
            modules[module] = modules.get(module, 0.0) + stop - start
        top = ", ".join(f"{Path(m).stem} {sec:.0f} s" for m, sec in sorted(modules.items(), key=lambda kv: -kv[1])[:6])
        busy, end = sum(modules.values()), max(stop for _, stop, _ in spans) - t0
        terminalreporter.write_line(f"{worker}: busy {busy:.0f} s, done at {end:.0f} s; {top}")

def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Two workers are enough to fill the gaps beside cargo (which uses every core itself); more would
    only run more cold builds at once."""
    return min(os.cpu_count() or 1, 2)


@pytest.fixture(scope="session")
def cargo_target_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cargo target dir for the whole run, both workers included: std built from source is built
    once per target. Two invocations in one build dir never overlap: each holds the build dir's lock
    from cargo's start until its binaries are copied out (wavrybuild/build/)."""
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's base is <run>/popen-gwN; the run's dir is shared by both.
    d = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "cargo-target"
    d.mkdir(exist_ok=True)
    return d


RUST_TOOLS = ("cargo", "rustc", "rustup", "zig", "cargo-zigbuild")


def rust_shims(tmp: Path) -> tuple[dict[str, str], Path]:
    """Variables under which every Rust tool is found — first on PATH and in CARGO_HOME/bin — and,
    run, leaves a mark and exits 99 (RUSTUP_HOME empty, no cached `cargo metadata` answer): for what
    must never run Rust. Returns the variables and the file the tools would mark."""
    mark = tmp / "RUST-WAS-RUN"
    shims, home = tmp / "shims", tmp / "cargo-home"
    for d in (shims, home / "bin"):
        d.mkdir(parents=True)
        for tool in RUST_TOOLS:
            (d / tool).write_text(f'#!/bin/sh\necho "$0 $*" >> "{mark}"\nexit 99\n')
            (d / tool).chmod(0o755)
    (tmp / "rustup-home").mkdir()
    env = {"PATH": f"{shims}{os.pathsep}{os.environ['PATH']}", "CARGO_HOME": str(home),
           "RUSTUP_HOME": str(tmp / "rustup-home"), "XDG_CACHE_HOME": str(tmp / "no-cache")}
    for tool in RUST_TOOLS:
        assert shutil.which(tool, path=env["PATH"]) == str(shims / tool)
    return env, mark
