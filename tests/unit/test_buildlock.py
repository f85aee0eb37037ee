"""The build dir lock: held from before cargo starts until the target's binaries are staged, so a
second run sharing the target dir cannot overwrite them in between; a waiting run says so once.

Real cargo on a tiny crate without dependencies (about a second), and real second processes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import write_files
from wavrybuild.build import plan as b
from wavrybuild.config import TargetConfig, load
from wavrybuild.config.values import Component
from wavrybuild.proc import Command
from wavrybuild.triple import Triple

HOST = "x86_64-unknown-linux-gnu"

# Takes the lock without waiting: exit 0 if it got it (and let it go), 3 if another holds it.
PROBE = ("import sys\nfrom filelock import FileLock, Timeout\n"
         "try:\n    FileLock(sys.argv[1]).acquire(timeout=0)\nexcept Timeout:\n    sys.exit(3)\n")
# Holds the lock until a line arrives on stdin.
HOLD = ("import sys\nfrom filelock import FileLock\n"
        "with FileLock(sys.argv[1]):\n    print('held', flush=True)\n    sys.stdin.readline()\n")


def held_by_another(lock: Path) -> bool:
    done = subprocess.run([sys.executable, "-c", PROBE, str(lock)], check=False)
    assert done.returncode in (0, 3)
    return done.returncode == 3


@pytest.fixture
def crate(tmp_path: Path):
    root = write_files(tmp_path / "lt", {
        "Cargo.toml": '[package]\nname = "lt"\nversion = "0.1.0"\nedition = "2021"\n',
        "src/main.rs": 'fn main() { println!("lt"); }\n',
        "targets.toml": f'[project]\ncrate = "."\n[targets.{HOST}]\nbuilder = "cargo"\n',
    })
    project = load(root / "targets.toml").project
    step_dir = Component.parse("cargo-lock-test")
    build_dir = project.target_directory / "wavrybuild" / str(step_dir)
    argv = ("cargo", "build", "--manifest-path", str(project.manifest_path), "--message-format",
            "json-render-diagnostics", "--release", "--target-dir", str(build_dir))
    step = b.BuildStep(TargetConfig(id=HOST, triple=Triple(HOST)), "cargo", Command(argv), dir_name=step_dir)
    return project, step, build_dir, tmp_path / "dist"


def test_the_build_dir_is_locked_from_cargo_until_the_binaries_are_staged(crate, monkeypatch) -> None:
    project, step, build_dir, dist = crate
    lock = build_dir / b.LOCK_NAME
    during_cargo: list[bool] = []
    during_staging: list[bool] = []

    def on_line(line: str) -> None:
        if not during_cargo:
            during_cargo.append(held_by_another(lock))

    real_stage = b._stage

    def stage(*args, **kw):
        during_staging.append(held_by_another(lock))
        return real_stage(*args, **kw)

    monkeypatch.setattr(b, "_stage", stage)
    out = b.execute_step(step, project, dist, on_line)
    assert out.ok, out.error
    assert during_cargo == [True] and during_staging == [True]
    assert not held_by_another(lock)
    assert (dist / out.binaries[0].path).is_file()


def test_a_second_run_waits_for_the_dir_and_says_so_once(crate) -> None:
    project, step, build_dir, dist = crate
    build_dir.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(build_dir / b.LOCK_NAME)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        waits: list[str] = []
        cargo_lines: list[str] = []
        said = threading.Event()
        result: list[list[b.Outcome]] = []

        def on_wait(message: str) -> None:
            waits.append(message)
            said.set()

        worker = threading.Thread(target=lambda: result.append(
            b.execute_group([step], project, dist, cargo_lines.append, on_wait)))
        worker.start()
        assert said.wait(30)
        time.sleep(0.5)
        assert worker.is_alive() and cargo_lines == []  # cargo has not started
        assert holder.stdin is not None
        holder.stdin.write("go\n")
        holder.stdin.flush()
        worker.join(120)
        assert not worker.is_alive()
    finally:
        holder.kill()
        holder.wait()
    assert waits == [f"waiting for another build in {build_dir}"]
    assert cargo_lines and result[0][0].ok, result[0][0].error


def test_a_build_dir_that_cannot_be_made_is_a_failed_target_not_a_traceback(crate, tmp_path: Path) -> None:
    project, step, build_dir, dist = crate
    build_dir.parent.mkdir(parents=True)
    build_dir.write_text("a file where the build dir goes")
    out = b.execute_step(step, project, dist)
    assert not out.ok and str(build_dir) in (out.error or "") and "cannot create the build dir" in (out.error or "")


def test_a_lane_waiting_for_the_dir_gives_up_on_ctrl_c(crate) -> None:
    from wavrybuild import proc

    project, step, build_dir, dist = crate
    build_dir.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(build_dir / b.LOCK_NAME)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    raised: list[BaseException] = []
    said = threading.Event()

    def lane() -> None:
        try:
            b.execute_step(step, project, dist, on_wait=lambda _: said.set())
        except BaseException as exc:  # what the lane thread would raise
            raised.append(exc)

    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        worker = threading.Thread(target=lane)
        worker.start()
        assert said.wait(30)
        proc.stop_children()  # what Ctrl-C does in the main thread
        worker.join(10)
        assert not worker.is_alive()  # it did not wait for the other build to end
    finally:
        proc._STOPPING.clear()
        holder.kill()
        holder.wait()
    assert len(raised) == 1 and isinstance(raised[0], KeyboardInterrupt)
