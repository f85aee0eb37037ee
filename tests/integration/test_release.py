"""`invoke release`: resumable, idempotent, --dry, CI-aware; matrix fan-out and merge."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import git_commit, invoke, write_project

FAST = """
[project]
crate = "demo"

[defaults]
smoke-expect = "{version} ({triple})"

[targets.x86_64-unknown-linux-gnu]
builder = "cargo"

[targets."x86_64-unknown-linux-gnu.2.17"]

[targets.aarch64-unknown-linux-gnu]

[package]
include = ["LICENSE"]

# Every channel from the same binaries: the merge of matrix parts must give the same release.
[channels.pypi]

[channels.npm]
name = "@wavry/demo"
targets = ["x86_64-unknown-linux-gnu.2.17", "aarch64-unknown-linux-gnu"]
publish = false
"""
IDS = ["x86_64-unknown-linux-gnu", "x86_64-unknown-linux-gnu.2.17", "aarch64-unknown-linux-gnu"]


def _summary(stdout: str) -> dict[str, str]:
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) >= 5 and cells[1] in ("toolchain", "build", "smoke", "package", "wheel", "npm", "checksum", "sign",
                                             "publish", "merge"):
            rows[cells[1]] = cells[2]
    return rows


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_project(tmp_path_factory.mktemp("origin") / "repo", FAST)
    git_commit(root)
    return root


def _clone(origin: Path, dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(origin), str(dest)], check=True)
    return dest


@pytest.fixture(scope="module")
def single(origin: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A single-machine release of the commit."""
    root = _clone(origin, tmp_path_factory.mktemp("single") / "repo")
    env = {"CARGO_TARGET_DIR": str(root.parent / "target")}
    done = invoke("release", cwd=root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _summary(done.stdout) == {"toolchain": "done", "build": "done", "smoke": "done", "package": "done",
                                     "wheel": "done", "npm": "done", "checksum": "done", "sign": "skipped",
                                     "publish": "skipped"}
    return root, env


def test_noop_rerun_does_nothing_and_keeps_dist_identical(single) -> None:
    root, env = single
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (root / "dist").iterdir() if p.is_file()}
    start = time.monotonic()
    done = invoke("release", cwd=root, env=env)
    elapsed = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    assert _summary(done.stdout) == {"toolchain": "done", "build": "up to date", "smoke": "up to date",
                                     "package": "up to date", "wheel": "up to date", "npm": "up to date", "checksum": "up to date",
                                     "sign": "skipped", "publish": "skipped"}
    assert "$ cargo" not in done.stderr and "$ cargo-zigbuild" not in done.stderr
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (root / "dist").iterdir() if p.is_file()}
    assert after == before
    assert elapsed < 60  # a sanity bound only; speed itself is measured by bench/, not here


def test_dry_shows_every_command_and_writes_nothing(origin: Path, tmp_path: Path) -> None:
    root = _clone(origin, tmp_path / "repo")
    done = invoke("release", "--dry", cwd=root, env={"CARGO_TARGET_DIR": str(tmp_path / "t")})
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("(dry) $") >= 3  # one build command per target
    assert "cargo-zigbuild zigbuild --target aarch64-unknown-linux-gnu" in done.stderr
    assert "would write" in done.stderr
    assert not (root / "dist").exists() and not (tmp_path / "t").exists()


def test_failure_then_rerun_does_only_what_is_missing(origin: Path, tmp_path: Path) -> None:
    root = _clone(origin, tmp_path / "repo")
    env = {"CARGO_TARGET_DIR": str(tmp_path / "target")}
    toml = root / "targets.toml"
    good = toml.read_text()
    toml.write_text(good.replace("[targets.aarch64-unknown-linux-gnu]\n",
                                 '[targets.aarch64-unknown-linux-gnu]\nfeatures = ["broken"]\n'))
    failed = invoke("release", cwd=root, env=env)
    assert failed.returncode == 1
    assert _summary(failed.stdout)["build"] == "failed" and "package" not in _summary(failed.stdout)
    assert not list((root / "dist").glob("*.tar.gz"))  # nothing packaged from a failed release
    toml.write_text(good)
    done = invoke("release", cwd=root, env=env)
    assert done.returncode == 0, done.stderr
    # The two targets that built before are not built again; only the fixed one is.
    assert done.stderr.count("$ ") - done.stderr.count("(dry) $") == 1
    assert "cargo-zigbuild zigbuild --target aarch64-unknown-linux-gnu" in done.stderr
    assert done.stdout.count("up to date") >= 4  # 2 targets x 2 binaries in the build table


def test_sigkill_mid_release_then_rerun_completes(origin: Path, tmp_path: Path) -> None:
    root = _clone(origin, tmp_path / "repo")
    env = {**os.environ, "CARGO_TARGET_DIR": str(tmp_path / "target")}
    proc = subprocess.Popen([sys.executable, "-m", "invoke", "release"], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    record = root / "dist/.wavrybuild/build.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if record.exists() and '"ok": true' in record.read_text():
            break
        time.sleep(0.05)
    assert proc.poll() is None, "release finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: cargo too
    proc.wait()
    built_before = [t for t, r in json.loads(record.read_text())["targets"].items() if r["ok"]]
    assert built_before
    done = invoke("release", cwd=root, env={"CARGO_TARGET_DIR": str(tmp_path / "target")})
    assert done.returncode == 0, done.stdout + done.stderr
    for t in built_before:
        assert f"{t}: up to date" in done.stderr
    assert invoke("verify", cwd=root).returncode == 0


def test_github_actions_output(single, tmp_path: Path) -> None:
    root, env = single
    summary = tmp_path / "summary.md"
    done = invoke("release", "--force", cwd=root,
                  env={**env, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    assert done.returncode == 0, done.stderr
    for stage in ("toolchain", "build", "smoke", "package", "checksum"):
        assert f"::group::release: {stage}" in done.stderr
    assert done.stderr.count("::group::build ") == 3  # each target's log in its own group
    text = summary.read_text()
    assert "| stage | result | time | detail |" in text and "| build | done |" in text


def test_plan_matrix_formats(origin: Path) -> None:
    done = invoke("plan", "--format", "github", cwd=origin)
    assert done.returncode == 0, done.stderr
    assert [j["target"] for j in json.loads(done.stdout)["include"]] == IDS
    gitlab = json.loads(invoke("plan", "--format", "gitlab", cwd=origin).stdout)
    assert set(gitlab) == {"stages", "default", "merge", *(f"part:{t}" for t in IDS)}
    assert len(gitlab["merge"]["needs"]) == 3
    bad = invoke("plan", "--format", "jenkins", cwd=origin)
    assert bad.returncode == 2 and "unknown format" in bad.stderr


def test_three_runners_merge_to_the_single_machine_release(origin: Path, single, tmp_path: Path) -> None:
    """Each 'runner' is its own clone with its own cargo target dir and builds one target."""
    parts = tmp_path / "parts"
    for i, target in enumerate(IDS):
        runner = _clone(origin, tmp_path / f"runner{i}")
        done = invoke("release", "--part", "--target", target, cwd=runner,
                      env={"CARGO_TARGET_DIR": str(tmp_path / f"target{i}")})
        assert done.returncode == 0, done.stdout + done.stderr
        assert set(_summary(done.stdout)) == {"toolchain", "build", "smoke", "package", "wheel", "npm"}
        # What the matrix job uploads: the archives, wheels, npm platform packages and its part manifest.
        upload = parts / f"part-{target}"
        upload.mkdir(parents=True)
        for f in (runner / "dist").iterdir():
            if f.is_file() and (f.name.endswith((".tar.gz", ".whl", ".tgz")) or f.name.startswith("manifest-part-")):
                shutil.copy2(f, upload / f.name)
    merger = _clone(origin, tmp_path / "merger")
    done = invoke("release", "--merge", str(parts), cwd=merger)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _summary(done.stdout)["merge"] == "done"
    assert "$ cargo" not in done.stderr and not (merger / "dist/.wavrybuild/bin").exists()  # built nothing
    single_root, _ = single
    assert (merger / "dist/SHA256SUMS").read_bytes() == (single_root / "dist/SHA256SUMS").read_bytes()
    sums = (merger / "dist/SHA256SUMS").read_text()
    assert sums.count(".whl") == 3 and sums.count(".tgz") == 3  # the main npm package made by the merge
    assert invoke("verify", cwd=merger).returncode == 0

    # A missing part is refused, not built.
    shutil.rmtree(parts / "part-aarch64-unknown-linux-gnu")
    again = _clone(origin, tmp_path / "merger2")
    failed = invoke("release", "--merge", str(parts), cwd=again)
    assert failed.returncode == 1
    assert "no part for aarch64-unknown-linux-gnu: a merge never builds" in failed.stderr
    assert not list((again / "dist").glob("*.tar.gz")) if (again / "dist").exists() else True
