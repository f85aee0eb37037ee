"""One task at a time on a dist/: a second waits (saying so) or, with WAVRYBUILD_NO_WAIT, fails at
once; racing tasks leave a dist/ whose SHA256SUMS, when there is one, tells the truth."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.conftest import Release


def _start(root: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    full = {**os.environ, **env}
    full.pop("GITHUB_ACTIONS", None)
    return subprocess.Popen([sys.executable, "-m", "invoke", *args], cwd=root, env=full, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _copy(packaged: Release, tmp_path: Path) -> Path:
    root = tmp_path / "p"
    shutil.copytree(packaged.root, root, symlinks=True)
    for archive in [*root.glob("dist/*.tar.gz"), *root.glob("dist/*.zip")]:
        archive.unlink()  # so that both runs have real work to do
    return root


def test_two_packages_at_once_both_succeed_one_after_the_other(packaged: Release, tmp_path: Path) -> None:
    root = _copy(packaged, tmp_path)
    runs = [_start(root, packaged.env, "package") for _ in range(2)]
    results = [(p.wait(timeout=600), *p.communicate()) for p in runs]
    assert [r[0] for r in results] == [0, 0], results
    assert any("another wavrybuild task is using it; waiting" in err for _, _, err in results)
    for task in ("checksum", "verify"):
        done = subprocess.run([sys.executable, "-m", "invoke", task], cwd=root, env={**os.environ, **packaged.env},
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def test_package_racing_checksum_never_leaves_lying_sums(packaged: Release, tmp_path: Path) -> None:
    for trial in range(3):
        root = _copy(packaged, tmp_path / str(trial))
        first, second = ("package", "checksum") if trial % 2 == 0 else ("checksum", "package")
        a = _start(root, packaged.env, first)
        time.sleep(0.05 * trial)
        b = _start(root, packaged.env, second)
        codes = [a.wait(timeout=600), b.wait(timeout=600)]
        a.communicate()
        b.communicate()
        assert 0 in codes
        if (root / "dist/SHA256SUMS").exists():
            done = subprocess.run([sys.executable, "-m", "invoke", "verify"], cwd=root,
                                  env={**os.environ, **packaged.env}, capture_output=True, text=True, check=False)
            assert done.returncode == 0, done.stdout + done.stderr


def test_a_held_dist_makes_others_wait_or_fail_with_no_wait(packaged: Release, tmp_path: Path) -> None:
    from filelock import FileLock

    from wavrybuild.fsutil import lock_file

    root = _copy(packaged, tmp_path)
    # This test holds the lock itself, as a running task would (filelock's lock on dist/'s lock file).
    path = lock_file(root / "dist")
    path.parent.mkdir(parents=True, exist_ok=True)
    held = FileLock(path, thread_local=False)
    held.acquire(timeout=0)
    try:
        other = subprocess.run([sys.executable, "-m", "invoke", "package"], cwd=root, capture_output=True, text=True,
                               env={**os.environ, **packaged.env, "WAVRYBUILD_NO_WAIT": "1"}, check=False, timeout=120)
        assert other.returncode == 1, other.stdout + other.stderr
        assert "another wavrybuild task is using it" in other.stderr and "Traceback" not in other.stderr
        assert not list(root.glob("dist/*.tar.gz"))  # it wrote nothing
        waiting = _start(root, packaged.env, "package")
        time.sleep(2)
        assert waiting.poll() is None  # still waiting for the lock
    finally:
        held.release()  # the "task" ends
    assert waiting.wait(timeout=600) == 0
    _, err = waiting.communicate()
    assert "waiting for it to finish" in err
    assert list(root.glob("dist/*.tar.gz"))
