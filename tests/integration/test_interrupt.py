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
from wavrybuild.manifest import Manifest

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
    # Its own session: the process group a terminal's Ctrl-C goes to (invoke, cargo, the build script).
    proc, out, text = _interrupt_when(["build", "--target", "x86_64-unknown-linux-gnu"], root, "Compiling wavry-demo",
                                      group=True, settle=2)
    assert proc.returncode == 130, text[-3000:]
    assert text.splitlines()[-1] == "interrupted" and text.count("interrupted") == 1, text[-3000:]
    assert "Traceback" not in text and "failed" not in text and "error" not in text, text[-3000:]
    assert out == "", out  # no table, on stdout or anywhere
    assert _group_gone(proc.pid), "a process of the interrupted build is still running"
    dist = root / "dist"
    left = sorted(str(p.relative_to(dist)) for p in dist.rglob("*") if p.is_file()) if dist.exists() else []
    assert not [p for p in left if p.endswith(".part") or "/" not in p], left  # nothing staged, nothing in dist/ itself
    assert not (dist / ".wavrybuild/build.json").exists() and not (dist / ".wavrybuild/bin").exists(), left


ARTIFACT_TOML = TOML + """
[[artifacts]]
name = "site.tar.gz"
command = ["sh", "-c", "mkdir -p site && echo page > site/index.html && echo started >&2 && exec sleep 300"]
directory = "site"
"""


def _interrupt_when(argv: list[str], root: Path, marker: str, *, group: bool,
                    settle: float = 0.5) -> tuple[subprocess.Popen[str], str, str]:
    """Run `invoke argv` in its own session, and once `marker` is on its stderr, SIGINT its process
    group (`group`: a terminal's Ctrl-C) or invoke alone; its exit, stdout and whole stderr."""
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "CARGO_TARGET_DIR")}
    proc = subprocess.Popen([sys.executable, "-m", "invoke", *argv], cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    err: list[str] = []
    seen = threading.Event()

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            err.append(line)
            if marker in line:
                seen.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not seen.wait(0.2):
            assert proc.poll() is None and time.monotonic() < deadline, "".join(err)[-3000:]
        time.sleep(settle)
        assert proc.poll() is None, "".join(err)[-3000:]
        if group:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGINT)  # `kill -INT <pid>`: the tool it runs never sees it
        assert proc.stdout is not None
        out = proc.stdout.read()  # not communicate(): the reader thread owns stderr
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    reader.join(timeout=10)
    return proc, out, "".join(err)


def test_ctrl_c_to_invoke_alone_stops_the_tool_it_runs(tmp_path: Path) -> None:
    """No Rust: an [[artifacts]] command (sh, then sleep) runs when only invoke gets SIGINT; invoke stops
    the command itself, says "interrupted", exits 130, and leaves nothing in dist/."""
    root = write_project(tmp_path / "p", ARTIFACT_TOML)
    git_commit(root)
    # What a package run leaves (the artifacts task adds to a release's manifest); no binary is needed.
    Manifest(crate="demo", name="wavry-demo", version="0.1.0", git={}, source_date_epoch=0,
             source_date_epoch_from="test", tools={}).save(root / "dist")
    before = (root / "dist/manifest.json").read_bytes()
    proc, out, err = _interrupt_when(["artifacts"], root, "started", group=False)
    assert proc.returncode == 130, err[-3000:]
    assert err.splitlines()[-1] == "interrupted" and err.count("interrupted") == 1, err[-3000:]
    assert "Traceback" not in err and "failed" not in err and out == "", err[-3000:]
    assert _group_gone(proc.pid), "the artifact command is still running"
    dist = root / "dist"
    left = sorted(str(p.relative_to(dist)) for p in dist.rglob("*") if p.is_file())
    assert "site.tar.gz" not in left and not [p for p in left if p.endswith(".part")], left
    assert (dist / "manifest.json").read_bytes() == before
