"""A compile cache shared between machines: sccache on a real Redis server (started here), two
separate clones with their own target dirs. The second clone's clean build is served from the
cache, and both clones still produce byte-identical binaries with no checkout path in them.
(How much faster it is, is measured by bench/bench_build.py, not asserted here.)"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, git_commit, invoke, write_project

TARGETS = """
[project]
crate = "demo"

[targets.x86_64-unknown-linux-gnu]
builder = "cargo"

# std built from source: its crates are the cacheable part of this demo (binaries never are).
[targets.x86_64-unknown-linux-musl]

[cache]
sccache = "{url}"
"""



@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server missing: run .ci/setup (apt-get install redis-server)")
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("redis-server did not start")
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _stats(env: dict[str, str]) -> dict:
    done = subprocess.run(["sccache", "--show-stats", "--stats-format", "json"], env=env, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout)["stats"]


def _counts(stats: dict, key: str) -> int:
    return sum(stats[key]["counts"].values()) if isinstance(stats[key], dict) else int(stats[key])


def test_second_clone_hits_the_shared_cache(redis_url: str, tmp_path: Path) -> None:
    import os

    origin = write_project(tmp_path / "origin", TARGETS.format(url=redis_url))
    git_commit(origin)
    # A server of our own (not a developer's running one), stopped between clones: as on two machines.
    env = {**os.environ, "SCCACHE_SERVER_PORT": str(free_port()), "SCCACHE_IDLE_TIMEOUT": "0"}
    results = {}
    try:
        for name in ("first", "second"):
            clone = tmp_path / name
            subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
            subprocess.run(["sccache", "--stop-server"], env=env, capture_output=True, check=False)
            run_env = {k: v for k, v in env.items() if k in ("SCCACHE_SERVER_PORT", "SCCACHE_IDLE_TIMEOUT")}
            run_env["CARGO_TARGET_DIR"] = str(tmp_path / f"{name}-target")
            done = invoke("build", "--all", cwd=clone, env=run_env)
            assert done.returncode == 0, done.stdout + done.stderr
            assert "compile cache: sccache" in done.stderr and redis_url in done.stderr
            results[name] = (clone, _stats(env), done.stderr)
    finally:
        subprocess.run(["sccache", "--stop-server"], env=env, capture_output=True, check=False)
    first, second = results["first"][1], results["second"][1]
    # The build says what the cache gave it (and doctor repeats it for that dist/).
    assert f"compile cache: 0% hits (0 hits, {_counts(first, 'cache_misses')} misses)" in results["first"][2]
    assert "compile cache: 100% hits" in results["second"][2], results["second"][2][-2000:]
    report = json.loads(invoke("doctor", "--json", cwd=results["second"][0]).stdout)["cache"]["last_build"]
    assert report["hits"] == _counts(second, "cache_hits") and report["misses"] == 0
    assert _counts(first, "cache_hits") == 0 and _counts(first, "cache_misses") > 10
    # Every cacheable compile of the second clone (std's crates, built from source) is a hit.
    assert _counts(second, "cache_hits") == _counts(first, "cache_misses")
    assert _counts(second, "cache_misses") == 0
    for target in ("x86_64-unknown-linux-gnu", "x86_64-unknown-linux-musl"):
        a = results["first"][0] / "dist/.wavrybuild/bin" / target / "wavry-demo"
        b = results["second"][0] / "dist/.wavrybuild/bin" / target / "wavry-demo"
        assert a.read_bytes() == b.read_bytes(), target
        assert str(tmp_path).encode() not in b.read_bytes()


def test_doctor_reports_the_cache(redis_url: str, tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", TARGETS.format(url=redis_url))
    done = invoke("doctor", "--json", cwd=root)
    cache = json.loads(done.stdout)["cache"]
    assert cache["mode"] == "redis" and cache["endpoint"] == redis_url and cache["problem"] is None
    assert cache["sccache"].startswith("sccache ")
    down = invoke("doctor", cwd=root, env={"WAVRYBUILD_SCCACHE": "redis://127.0.0.1:1"})
    assert down.returncode == 1 and "cannot reach 127.0.0.1:1" in down.stderr
    off = invoke("doctor", cwd=root, env={"WAVRYBUILD_SCCACHE": "0"})
    assert "compile cache: off" in off.stderr
    bad = invoke("doctor", cwd=root, env={"WAVRYBUILD_SCCACHE": "memcached://x"})
    assert bad.returncode == 2 and "WAVRYBUILD_SCCACHE: expected true, false or a redis:// URL" in bad.stderr
