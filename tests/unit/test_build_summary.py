"""The build summary: per target how long its cargo invocation took and how busy it kept the cores,
measured from the child's own rusage (os.wait4), not the process-wide RUSAGE_CHILDREN."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from wavrybuild import proc
from wavrybuild.build import plan as b
from wavrybuild.build.stage import busy_line, summary_rows
from wavrybuild.config import TargetConfig
from wavrybuild.proc import Command
from wavrybuild.record import BinaryRecord
from wavrybuild.triple import Triple

# Burns about `seconds` of CPU in a grandchild (as cargo's rustc processes are), then exits 3.
BURN = ("import subprocess, sys\n"
        "subprocess.run([sys.executable, '-c', 'import sys, time\\nt = time.process_time()\\n"
        "while time.process_time() - t < float(sys.argv[1]): pass', sys.argv[1]], check=True)\n"
        "sys.exit(3)\n")


def _outcome(tid: str, **kw) -> b.Outcome:
    step = b.BuildStep(TargetConfig(id=tid, triple=Triple(tid)), "cargo", None)
    return b.Outcome(step, **kw)


def test_cores_busy_is_cpu_over_wall_against_the_cores() -> None:
    assert b.cores_busy(52.3, 32.7, 2) == "1.6/2"
    assert b.cores_busy(3.0, 10.0, 8) == "0.3/8"
    assert b.cores_busy(None, 10.0, 2) == "-"
    assert b.cores_busy(1.0, 0.0, 2) == "-"
    assert b.machine_cores() >= 1


def test_summary_rows_show_time_and_cores_per_target() -> None:
    bins = [BinaryRecord(name="demo", path=".wavrybuild/bin/x/demo", size=2048, package="demo")]
    outcomes = [
        _outcome("x86_64-unknown-linux-gnu", ok=True, seconds=20.0, binaries=bins, cpu=30.0),
        _outcome("aarch64-unknown-linux-gnu", ok=True, seconds=0.0, binaries=bins, cached=True),
        _outcome("x86_64-unknown-linux-musl", ok=False, seconds=5.0, cpu=1.0, error="boom"),
        _outcome("aarch64-apple-darwin", ok=True, seconds=4.0, binaries=bins),  # not measured (Windows)
    ]
    columns, rows = summary_rows(outcomes, ["x86_64-pc-windows-gnu"], False, 2)
    assert columns == ["target", "binary", "size", "time", "cores busy", "result"]
    assert rows == [
        ("x86_64-unknown-linux-gnu", "demo", "2.0 KiB", "20.0 s", "1.5/2", "ok"),
        ("aarch64-unknown-linux-gnu", "demo", "2.0 KiB", "-", "-", "up to date"),
        ("x86_64-unknown-linux-musl", "-", "-", "5.0 s", "0.2/2", "failed"),
        ("aarch64-apple-darwin", "demo", "2.0 KiB", "4.0 s", "-", "ok"),
        ("x86_64-pc-windows-gnu", "-", "-", "-", "-", "not run (--fail-fast)"),
    ]
    columns, rows = summary_rows(outcomes[:1], [], True, 4)
    assert columns == ["target", "package", "binary", "size", "time", "cores busy", "result"]
    assert rows == [("x86_64-unknown-linux-gnu", "demo", "demo", "2.0 KiB", "20.0 s", "1.5/4", "ok")]


def test_busy_line_sums_the_invocations() -> None:
    assert busy_line(100.0, 160.0, 3, 2) == "build: 3 cargo invocations in 100.0 s, 160.0 CPU s: cores busy 1.6/2"
    assert busy_line(9.5, None, 1, 2) == "build: 1 cargo invocation in 9.5 s"


@pytest.mark.skipif(sys.platform == "win32", reason="no os.wait4 on Windows")
def test_run_reports_its_own_childs_cpu_including_grandchildren_not_other_threads() -> None:
    # Another thread's child burns CPU at the same time: RUSAGE_CHILDREN would count it, wait4 must not.
    other = threading.Thread(target=lambda: proc.run(Command((sys.executable, "-c", BURN, "1.0")), check=False))
    other.start()
    time.sleep(0.1)
    result = proc.run(Command((sys.executable, "-c", BURN, "0.4")), check=False)
    other.join()
    assert result.returncode == 3
    assert result.cpu_seconds is not None and 0.4 <= result.cpu_seconds < 0.9, result.cpu_seconds
