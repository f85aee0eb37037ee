"""Targets that differ only in --target and their own flags share one cargo invocation (cargo's jobserver
runs them together); independent invocations run at once in lanes of their own."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import invoke, write_project

# Two foreign triples with the same builder, toolchain and std source (both built from source):
# one invocation. (A target of the host's own triple is always built by itself: beside it the
# others would not come out the same as when built alone.)
SHARED = """
[project]
crate = "demo"

[defaults]
builder = "zigbuild"
std = "build-std"
smoke-expect = "{version} ({triple})"

[targets.x86_64-unknown-linux-musl]
[targets.aarch64-unknown-linux-musl]
rustflags = ["-C", "opt-level=s"]
"""
ALONE = SHARED.replace("[targets.x86_64-unknown-linux-musl]\n", "")


@pytest.fixture(scope="module")
def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One project path for this module's grouped builds. The remap flags name the project's path and
    apply to std too, so a project elsewhere builds std from source again; at the same path, with the
    session's target dir, cargo can reuse what the first case compiled (the failure case: 51 s -> 44 s
    in the fresh-machine CI run; see docs/performance.md, CI time)."""
    return tmp_path_factory.mktemp("grouping") / "both"


def test_one_invocation_builds_both(tmp_path: Path, cargo_target_dir: Path, shared_root: Path) -> None:
    root = write_project(shared_root, SHARED)
    env = {"CARGO_TARGET_DIR": str(cargo_target_dir)}
    done = invoke("build", "--all", "--force", "smoke", cwd=root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    commands = [ln for ln in done.stderr.splitlines() if ln.startswith("$ ")]
    assert len(commands) == 1, commands
    targets = [a for a in commands[0].split() if a in ("x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl")]
    assert targets == ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"], commands[0]
    assert done.stdout.count("passed") == 4
    grouped = root / "dist/.wavrybuild/bin/aarch64-unknown-linux-musl/wavry-demo"
    out = subprocess.run(["qemu-aarch64", str(grouped)], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "wavry-demo 0.1.0 (aarch64-unknown-linux-musl)"
    # The same bytes as the target built alone (as one runner of a CI matrix builds it).
    alone = write_project(tmp_path / "alone", ALONE)
    done = invoke("build", "--all", cwd=alone, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (alone / "dist/.wavrybuild/bin/aarch64-unknown-linux-musl/wavry-demo").read_bytes() == grouped.read_bytes()


def test_a_failure_in_the_shared_invocation_is_the_failing_targets_alone(cargo_target_dir: Path, shared_root: Path) -> None:
    # The project of the test above, if it ran (else a new one), with a fresh dist/: the feature
    # changes the demo crate, which cargo compiles again for both targets; only std is reused.
    shutil.rmtree(shared_root / "dist", ignore_errors=True)
    root = write_project(shared_root, SHARED.replace('builder = "zigbuild"', 'builder = "zigbuild"\nfeatures = ["broken-on-aarch64"]'))
    done = invoke("build", "--all", cwd=root, env={"CARGO_TARGET_DIR": str(cargo_target_dir)})
    assert done.returncode == 1
    assert len([ln for ln in done.stderr.splitlines() if ln.startswith("$ ")]) == 1
    assert "aarch64-unknown-linux-musl: build failed" in done.stderr
    assert "x86_64-unknown-linux-musl: build failed" not in done.stderr
    assert "broken-on-aarch64` feature is enabled on aarch64" in done.stderr
    assert (root / "dist/.wavrybuild/bin/x86_64-unknown-linux-musl/wavry-demo").is_file()
    assert not (root / "dist/.wavrybuild/bin/aarch64-unknown-linux-musl").exists()


# Three invocations (the host's triple, its glibc floor, aarch64 with flags of its own) in two lanes.
LANES = """
[project]
crate = "demo"

[defaults]
smoke-expect = "{version} ({triple})"

[targets.x86_64-unknown-linux-gnu]
[targets.aarch64-unknown-linux-gnu]
rustflags = ["-C", "opt-level=s"]
[targets."x86_64-unknown-linux-gnu.2.17"]
"""


def _digests(root: Path) -> dict[str, str]:
    import hashlib

    bins = root / "dist/.wavrybuild/bin"
    return {str(p.relative_to(bins)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(bins.rglob("*"))
            if p.is_file()}


def test_parallel_lanes_build_the_same_bytes_as_one_after_the_other(tmp_path: Path) -> None:
    """Two cargo invocations at once, each in its own target dir; the caller's RUSTFLAGS still
    apply; and where a target was built leaves no trace in its bytes."""
    results = {}
    for parallel in ("2", "1"):
        root = write_project(tmp_path / f"p{parallel}", LANES)
        env = {"CARGO_TARGET_DIR": str(tmp_path / f"target-{parallel}"), "RUSTFLAGS": "-C strip=symbols"}
        done = invoke("build", "--all", "--parallel", parallel, "smoke", cwd=root, env=env)
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        commands = [ln for ln in done.stderr.splitlines() if ln.startswith("$ ")]
        results[parallel] = (root, commands, done.stderr)
    root2, commands2, err2 = results["2"]
    assert "3 cargo invocations, 2 at a time" in err2

    def dirs(commands: list[str], parallel: str) -> list[str]:
        target = str(tmp_path / f"target-{parallel}")
        return sorted(c.split("--target-dir ")[1].split()[0].replace(target, "<target>") for c in commands)

    assert len(commands2) == 3 and len(set(dirs(commands2, "2"))) == 3, commands2
    floor = next(c for c in commands2 if "--target x86_64-unknown-linux-gnu.2.17 " in c)
    assert "env -u RUSTFLAGS" in floor
    root1, commands1, _ = results["1"]
    # --parallel decides when a target is built, never where: the same build dirs one after the other.
    assert dirs(commands1, "1") == dirs(commands2, "2") and all("<target>/wavrybuild/" in d for d in dirs(commands1, "1"))
    assert _digests(root2) == _digests(root1) and len(_digests(root1)) == 6
    # A build dir is remapped like cargo's own target dir: generated code names /target.
    out = subprocess.run([str(root2 / "dist/.wavrybuild/bin/x86_64-unknown-linux-gnu.2.17/wavry-demo"), "--generated-from"],
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith("/target/x86_64-unknown-linux-gnu/release/build/wavry-demo-") and out.strip().endswith("/out/generated.rs"), out
    # RUSTFLAGS from the environment reached every target: no symbol table left.
    for path in (root1 / "dist/.wavrybuild/bin").rglob("wavry-demo"):
        syms = subprocess.run(["nm", str(path)], capture_output=True, text=True, check=False)
        assert "no symbols" in syms.stderr, (path, syms.stdout[:200])
