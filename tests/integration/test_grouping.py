"""Targets that differ only in --target and their own flags share one cargo invocation (cargo's jobserver
runs them together); independent invocations run at once in lanes of their own."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import invoke, write_project

SHARED = """
[project]
crate = "demo"

[defaults]
toolchain = "system"
builder = "zigbuild"
smoke-expect = "{version} ({triple})"

[targets.x86_64-unknown-linux-gnu]
[targets.aarch64-unknown-linux-gnu]
"""


def test_one_invocation_builds_both(tmp_path: Path, cargo_target_dir: Path) -> None:
    root = write_project(tmp_path, SHARED)
    env = {"CARGO_TARGET_DIR": str(cargo_target_dir)}
    done = invoke("build", "--all", "--force", "smoke", cwd=root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    commands = [ln for ln in done.stderr.splitlines() if ln.startswith("$ ")]
    assert len(commands) == 1, commands
    targets = [a for a in commands[0].split() if a in ("x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu")]
    assert targets == ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"], commands[0]
    assert done.stdout.count("passed") == 4
    out = subprocess.run(["qemu-aarch64", str(root / "dist/.wavrybuild/bin/aarch64-unknown-linux-gnu/wavry-demo")],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "wavry-demo 0.1.0 (aarch64-unknown-linux-gnu)"


def test_a_failure_in_the_shared_invocation_is_the_failing_targets_alone(tmp_path: Path, cargo_target_dir: Path) -> None:
    root = write_project(tmp_path, SHARED.replace('builder = "zigbuild"', 'builder = "zigbuild"\nfeatures = ["broken-on-aarch64"]'))
    done = invoke("build", "--all", cwd=root, env={"CARGO_TARGET_DIR": str(cargo_target_dir)})
    assert done.returncode == 1
    assert "aarch64-unknown-linux-gnu: build failed" in done.stderr
    assert "x86_64-unknown-linux-gnu: build failed" not in done.stderr
    assert "broken-on-aarch64` feature is enabled on aarch64" in done.stderr
    assert (root / "dist/.wavrybuild/bin/x86_64-unknown-linux-gnu/wavry-demo").is_file()
    assert not (root / "dist/.wavrybuild/bin/aarch64-unknown-linux-gnu").exists()


# Another invocation beside the shared one: the same triple with a glibc floor (same output dir).
LANES = SHARED.replace("[targets.aarch64-unknown-linux-gnu]",
                       '[targets.aarch64-unknown-linux-gnu]\nrustflags = ["-C", "opt-level=s"]') + """
[targets."x86_64-unknown-linux-gnu.2.17"]
"""


def _digests(root: Path) -> dict[str, str]:
    import hashlib

    bins = root / "dist/.wavrybuild/bin"
    return {str(p.relative_to(bins)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(bins.rglob("*"))
            if p.is_file()}


def test_parallel_lanes_build_the_same_bytes_as_one_after_the_other(tmp_path: Path) -> None:
    """Two cargo invocations at once, each in its own target dir; flags that differ per target
    (targets.toml rustflags) do not keep targets out of one invocation; the
    caller's RUSTFLAGS still apply; and where a target was built leaves no trace in its bytes."""
    results = {}
    for parallel in ("2", "1"):
        root = write_project(tmp_path / f"p{parallel}", LANES)
        env = {"CARGO_TARGET_DIR": str(tmp_path / f"target-{parallel}"), "RUSTFLAGS": "-C strip=symbols"}
        done = invoke("build", "--all", "--parallel", parallel, "smoke", cwd=root, env=env)
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        commands = [ln for ln in done.stderr.splitlines() if ln.startswith("$ ")]
        results[parallel] = (root, commands, done.stderr)
    root2, commands2, err2 = results["2"]
    assert "2 at a time" in err2
    # Both targets share one invocation although their flags differ; the glibc floor goes beside it.
    lane1 = [c for c in commands2 if "wavrybuild-lane-1" in c]
    assert len(commands2) == 2 and len(lane1) == 1, commands2
    # The heavier group (two targets) keeps cargo's own target dir; the other gets the lane's.
    assert "--target x86_64-unknown-linux-gnu.2.17 " in lane1[0] and "env -u RUSTFLAGS" in lane1[0]
    lane0 = next(c for c in commands2 if c not in lane1)
    assert "--target x86_64-unknown-linux-gnu --config" in lane0 and "--target aarch64-unknown-linux-gnu --config" in lane0
    assert (tmp_path / "target-2/wavrybuild-lane-1").is_dir()
    root1, commands1, _ = results["1"]
    assert not any("wavrybuild-lane" in c for c in commands1)
    assert not (tmp_path / "target-1/wavrybuild-lane-1").exists()
    assert _digests(root2) == _digests(root1) and len(_digests(root1)) == 6
    # The lane's target dir is remapped like cargo's own: generated code names /target.
    out = subprocess.run([str(root2 / "dist/.wavrybuild/bin/x86_64-unknown-linux-gnu.2.17/wavry-demo"), "--generated-from"],
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith("/target/x86_64-unknown-linux-gnu/release/build/wavry-demo-") and out.strip().endswith("/out/generated.rs"), out
    # RUSTFLAGS from the environment reached every target: no symbol table left.
    for path in (root1 / "dist/.wavrybuild/bin").rglob("wavry-demo"):
        syms = subprocess.run(["nm", str(path)], capture_output=True, text=True, check=False)
        assert "no symbols" in syms.stderr, (path, syms.stdout[:200])
