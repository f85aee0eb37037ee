"""Ctrl-C (issue 30 item 8): `invoke build` interrupted the way a terminal does it — SIGINT to the
whole foreground process group, invoke and cargo alike — while cargo runs: it stops with one line
"interrupted" and exit code 130, no failure table, no traceback, no process of the build left
running, and nothing half-written in dist/.

The demo crate's build script is made to sleep (a real cargo build of the host target that lasts
long enough to be interrupted whatever the machine's speed); the target dir is the test's own, so
the session's shared cargo target dir never sees that build script."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.conftest import git_commit, write_project

TOML = """[project]
crate = "demo"
binaries = ["wavry-demo"]

[targets.x86_64-unknown-linux-gnu]
builder = "cargo"
"""

SLOW_BUILD_RS = """fn main() {
    let target = std::env::var("TARGET").unwrap();
    println!("cargo:rustc-env=WAVRY_DEMO_TARGET={target}");
    let out = std::env::var("OUT_DIR").unwrap();
    std::fs::write(std::path::Path::new(&out).join("generated.rs"), "pub const GENERATED_FROM: &str = file!();\\n")
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(300));
}
"""


def _group_gone(pgid: int, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def test_ctrl_c_stops_the_build_cleanly(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", TOML)
    (root / "demo/build.rs").write_text(SLOW_BUILD_RS)
    git_commit(root)
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "CARGO_TARGET_DIR")}
    # Its own session: the process group a terminal's Ctrl-C goes to (invoke, cargo, the build script).
    proc = subprocess.Popen([sys.executable, "-m", "invoke", "build", "--target", "x86_64-unknown-linux-gnu"],
                            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    err: list[str] = []
    compiling = threading.Event()

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            err.append(line)
            if "Compiling wavry-demo" in line:
                compiling.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert compiling.wait(300), "".join(err)[-3000:]
        time.sleep(2)  # cargo is now compiling or running the (sleeping) build script
        assert proc.poll() is None, "".join(err)[-3000:]
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    reader.join(timeout=10)
    text = "".join(err)
    assert proc.returncode == 130, text[-3000:]
    assert text.splitlines()[-1] == "interrupted" and text.count("interrupted") == 1, text[-3000:]
    assert "Traceback" not in text and "failed" not in text and "error" not in text, text[-3000:]
    assert out == "", out  # no table, on stdout or anywhere
    assert _group_gone(proc.pid), "a process of the interrupted build is still running"
    dist = root / "dist"
    left = sorted(str(p.relative_to(dist)) for p in dist.rglob("*") if p.is_file()) if dist.exists() else []
    assert not [p for p in left if p.endswith(".part") or "/" not in p], left  # nothing staged, nothing in dist/ itself
    assert not (dist / ".wavrybuild/build.json").exists() and not (dist / ".wavrybuild/bin").exists(), left
