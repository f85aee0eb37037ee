"""The lanes' shared jobserver: an anonymous pipe holding cores - 1 tokens, handed to cargo as
inherited fds, which a real cargo joins (its build scripts see the same jobserver, and a build
script's GNU make 4.3 accepts it), and which leaves nothing open behind."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import write_files
from wavrybuild import proc
from wavrybuild.build import plan as b
from wavrybuild.build.jobs import Jobserver
from wavrybuild.proc import Command

pytestmark = pytest.mark.skipif(not Jobserver.available(), reason="no POSIX jobserver here (Windows)")


def test_the_jobserver_holds_cores_minus_one_tokens_and_closes_its_pipe() -> None:
    js = Jobserver(3)
    jobs = js.jobs()
    r, w = jobs.fds
    try:
        assert jobs.env == {"CARGO_MAKEFLAGS": f"-j --jobserver-fds={r},{w} --jobserver-auth={r},{w}"}
        os.set_blocking(r, False)
        assert os.read(r, 10) == b"++"  # the implicit token of each cargo is not in the pipe
        with pytest.raises(BlockingIOError):
            os.read(r, 1)
    finally:
        js.close()
    for fd in (r, w):
        with pytest.raises(OSError):
            os.fstat(fd)


@pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")
def test_cargo_and_a_build_scripts_make_join_the_shared_jobserver(tmp_path: Path) -> None:
    """The form cargo hands on reaches `make` in build scripts (cmake-rs copies CARGO_MAKEFLAGS into
    MAKEFLAGS so): make 4.3 refused the named-pipe form with "invalid --jobserver-auth string"."""
    root = write_files(tmp_path / "jobs", {
        "Cargo.toml": '[package]\nname = "jobs"\nversion = "0.1.0"\nedition = "2021"\nbuild = "build.rs"\n',
        "Makefile": "all:\n\t@echo made-under-jobserver\n",
        "build.rs": """use std::process::Command;
fn main() {
    let flags = std::env::var("CARGO_MAKEFLAGS").unwrap_or_default();
    println!("cargo:warning=CARGO_MAKEFLAGS {}", flags);
    let out = Command::new("make").arg("-s").arg("-C").arg(env!("CARGO_MANIFEST_DIR"))
        .env("MAKEFLAGS", &flags).output().expect("make");
    println!("cargo:warning=make {} {}", out.status, String::from_utf8_lossy(&out.stdout).trim());
    println!("cargo:warning=make-stderr {}", String::from_utf8_lossy(&out.stderr).trim());
    assert!(out.status.success());
}
""",
        "src/main.rs": "fn main() {}\n",
    })
    js = Jobserver(2)
    r, w = js.jobs().fds
    try:
        cmd = b._with_jobs(Command(("cargo", "build", "--manifest-path", str(root / "Cargo.toml"), "--target-dir",
                                    str(tmp_path / "t"))), js.jobs())
        done = proc.run(cmd, check=False)
    finally:
        js.close()
    assert done.returncode == 0, done.stderr_tail
    # cargo hands its build scripts the jobserver it runs under: ours (our pipe's fds), not one of its own.
    assert f"--jobserver-auth={r},{w}" in done.stderr_tail, done.stderr_tail
    assert "made-under-jobserver" in done.stderr_tail, done.stderr_tail
    assert "invalid --jobserver-auth" not in done.stderr_tail
