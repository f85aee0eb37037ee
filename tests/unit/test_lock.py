"""dist/'s lock (fsutil.lock_dir) through the `filelock` package: real processes hold it; a second
taker waits (saying so) or, with wait=False, fails at once; it lives outside the project."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from wavrybuild import fsutil
from wavrybuild.errors import WavryError

HOLD = """
import sys
from pathlib import Path
from wavrybuild.fsutil import lock_dir
lock_dir(Path(sys.argv[1]), print)
print("held", flush=True)
sys.stdin.read()  # holds the lock until the parent closes stdin
"""


@pytest.fixture
def own_locks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[Path, object]]:
    """A cache home of the test's own and an empty table of held locks, released afterwards."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    held: dict[Path, object] = {}
    monkeypatch.setattr(fsutil, "_HELD", held)
    yield held
    for lock in held.values():
        lock.release(force=True)  # type: ignore[attr-defined]


def _holder(dist: Path, cache: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(dist)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "XDG_CACHE_HOME": str(cache)})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_taker_fails_at_once_without_wait_and_waits_otherwise(own_locks: dict[Path, object],
                                                                       tmp_path: Path) -> None:
    dist = tmp_path / "project" / "dist"
    holder = _holder(dist, tmp_path / "cache")
    try:
        with pytest.raises(WavryError, match="another wavrybuild task is using it") as failed:
            fsutil.lock_dir(dist, lambda m: None, wait=False)
        assert "WAVRYBUILD_NO_WAIT" in (failed.value.hint or "")
        assert dist not in own_locks and dist.resolve() not in own_locks

        said: list[str] = []
        taker = threading.Thread(target=fsutil.lock_dir, args=(dist, said.append))
        taker.start()
        taker.join(0.5)
        assert taker.is_alive()  # still waiting for the holder
        assert said == [f"{dist}: another wavrybuild task is using it; waiting for it to finish"]
    finally:
        assert holder.stdin is not None
        holder.stdin.close()  # the holder ends, and its lock with it
        holder.wait(10)
    taker.join(10)
    assert not taker.is_alive() and dist.resolve() in own_locks


def test_a_killed_holder_leaves_the_lock_free(own_locks: dict[Path, object], tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    holder = _holder(dist, tmp_path / "cache")
    holder.kill()
    holder.wait(10)
    fsutil.lock_dir(dist, lambda m: pytest.fail(f"waited: {m}"), wait=False)
    assert dist.resolve() in own_locks


def test_every_spelling_of_one_dist_is_one_lock_and_the_project_stays_clean(own_locks: dict[Path, object],
                                                                           tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "link").symlink_to(project)
    monkeypatch.chdir(project)
    spellings = [Path("dist"), project / "dist", tmp_path / "link" / "dist", project / "sub" / ".." / "dist"]
    assert len({fsutil.lock_file(p) for p in spellings}) == 1
    assert fsutil.lock_file(project / "other").name != fsutil.lock_file(project / "dist").name
    assert fsutil.lock_file(Path("dist")).parent == tmp_path / "cache" / "wavrybuild" / "locks"

    holder = _holder(tmp_path / "link" / "dist", tmp_path / "cache")
    try:
        with pytest.raises(WavryError, match="another wavrybuild task"):
            fsutil.lock_dir(Path("dist"), lambda m: None, wait=False)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)
    assert list(project.iterdir()) == []  # no dist/, no lock file: a dry run creates nothing here
    fsutil.lock_dir(Path("dist"), lambda m: None, wait=False)
    fsutil.lock_dir(project / "dist", lambda m: pytest.fail("taken twice"), wait=False)  # once per process
    assert len(own_locks) == 1


def test_a_lock_that_cannot_be_made_is_one_clear_error(own_locks: dict[Path, object], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    with pytest.raises(WavryError) as failed:
        fsutil.lock_dir(tmp_path / "dist", lambda m: None)
    assert f"{tmp_path / 'dist'}: cannot take its lock" in failed.value.message
    assert "XDG_CACHE_HOME" in (failed.value.hint or "")
    assert not own_locks
