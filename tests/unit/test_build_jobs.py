"""The lanes' shared jobserver: a named pipe holding cores - 1 tokens, which a real cargo joins (its
build scripts see the same jobserver), and which leaves nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import write_files
from wavrybuild import proc
from wavrybuild.build import plan as b
from wavrybuild.proc import Command

pytestmark = pytest.mark.skipif(not b.Jobserver.available(), reason="no named pipes here (Windows)")


def test_the_jobserver_holds_cores_minus_one_tokens_and_cleans_up() -> None:
    js = b.Jobserver(3)
    try:
        assert js.env()["CARGO_MAKEFLAGS"] == f"-j --jobserver-auth=fifo:{js.path}" == js.env()["MAKEFLAGS"]
        fd = os.open(js.path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            assert os.read(fd, 10) == b"++"  # the implicit token of each cargo is not in the pipe
            with pytest.raises(BlockingIOError):
                os.read(fd, 1)
        finally:
            os.close(fd)
    finally:
        js.close()
    assert not js.path.exists() and not js.path.parent.exists()


def test_cargo_joins_the_shared_jobserver(tmp_path: Path) -> None:
    root = write_files(tmp_path / "jobs", {
        "Cargo.toml": '[package]\nname = "jobs"\nversion = "0.1.0"\nedition = "2021"\nbuild = "build.rs"\n',
        "build.rs": 'fn main() { println!("cargo:warning=MAKEFLAGS {}", '
                    'std::env::var("CARGO_MAKEFLAGS").unwrap_or_default()); }\n',
        "src/main.rs": "fn main() {}\n",
    })
    js = b.Jobserver(2)
    try:
        done = proc.run(Command(("cargo", "build", "--manifest-path", str(root / "Cargo.toml"), "--target-dir",
                                 str(tmp_path / "t")), env=js.env()), check=False)
    finally:
        js.close()
    assert done.returncode == 0, done.stderr_tail
    # cargo hands its build scripts the jobserver it runs under: ours, not one of its own (fds).
    assert f"fifo:{js.path}" in done.stderr_tail, done.stderr_tail
