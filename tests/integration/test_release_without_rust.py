"""A release job with no Rust (issue 29 item 1): merge (from a directory and from S3 storage),
checksum, sign, verify, notes and publish run where executing cargo, rustc, rustup, zig or
cargo-zigbuild fails loudly — each is a program on PATH and in CARGO_HOME/bin that leaves a mark and
exits 99, RUSTUP_HOME is empty and no `cargo metadata` answer is cached — and none of them is run:
everything the release job needs of the crate comes from what the part job recorded. The part is
built first, in a normal environment (that phase builds), for the host's own target only."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import git_commit, invoke, rust_shims, write_project
from tests.integration import test_storage
from wavrybuild.channels.npm.format import read_package_json

pytestmark = pytest.mark.integration
s3 = test_storage.s3  # the SeaweedFS server on localhost (module-scoped fixture)
ACCESS, SECRET = test_storage.ACCESS, test_storage.SECRET
TARGET = "x86_64-unknown-linux-gnu"
TASKS = ("checksum", "sign", "verify", "notes", "publish")


def _toml(url: str, keys: Path) -> str:
    return f"""
[project]
crate = "demo"

[defaults]
smoke-expect = "{{version}} ({{triple}})"

[targets.{TARGET}]
builder = "cargo"

[package]
include = ["README.md", "LICENSE"]

# The merge writes the main npm package from the crate's description, license and homepage.
[channels.npm]
name = "@wavry/demo"
publish = false

[release]
notes = true

[sign]
methods = ["ssh"]

[sign.ssh]
key = "{keys / 'release_ed25519'}"
allowed-signers = "{keys / 'allowed_signers'}"
identity = "release@example.invalid"

[publish.directory]
path = "published"

[storage]
url = "s3://releases/norust"
endpoint-url = "{url}"
"""


def _clone(origin: Path, dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(origin), str(dest)], check=True)
    (dest / "published").mkdir()  # [publish.directory] must exist
    return dest


def _ok(done: subprocess.CompletedProcess, mark: Path, what: str) -> str:
    out = done.stdout + done.stderr
    assert done.returncode == 0, f"{what}:\n{out}"
    assert not mark.exists(), f"{what} ran a Rust tool:\n{mark.read_text()}\n{out}"
    assert "$ cargo" not in out and "cargo metadata" not in out, out
    return out


def test_release_job_runs_no_rust(tmp_path: Path, s3: str) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    assert subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "release@example.invalid",
                           "-f", str(keys / "release_ed25519")], check=False).returncode == 0
    (keys / "allowed_signers").write_text(f"release@example.invalid {(keys / 'release_ed25519.pub').read_text()}")
    origin = write_project(tmp_path / "origin", _toml(s3, keys))
    git_commit(origin)
    commit = subprocess.run(["git", "-C", str(origin), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()

    # The part job, in a normal environment: it builds, records the crate in its manifest and uploads.
    runner = _clone(origin, tmp_path / "runner")
    built = invoke("release", "--part", "--target", TARGET, cwd=runner,
                   env={"CARGO_TARGET_DIR": str(tmp_path / "target"), "AWS_ACCESS_KEY_ID": ACCESS,
                        "AWS_SECRET_ACCESS_KEY": SECRET})
    assert built.returncode == 0, built.stdout + built.stderr
    part_manifest = runner / f"dist/manifest-part-{TARGET}.json"
    record = json.loads(part_manifest.read_text())["packages"]["wavry-demo"]
    assert record["manifest"] == "demo/Cargo.toml" and record["license"] == "MIT", record
    assert record["binaries"] == ["wavry-demo", "wavry-hello"]
    parts = tmp_path / "parts" / f"part-{TARGET}"  # what the matrix job uploads as a CI artifact
    parts.mkdir(parents=True)
    for f in (runner / "dist").iterdir():
        if f.is_file() and (f.name.endswith((".tar.gz", ".tgz")) or f.name.startswith("manifest-part-")):
            shutil.copy2(f, parts / f.name)

    env, mark = rust_shims(tmp_path / "rustless")
    env |= {"AWS_ACCESS_KEY_ID": ACCESS, "AWS_SECRET_ACCESS_KEY": SECRET}

    # The release job from a directory of parts, then every release task on its own.
    merger = _clone(origin, tmp_path / "merger")
    _ok(invoke("release", "--merge", str(parts.parent), "--no-publish", cwd=merger, env=env), mark, "merge")
    for task in TASKS:
        _ok(invoke(task, cwd=merger, env=env), mark, task)
    dist = merger / "dist"
    sums = (dist / "SHA256SUMS").read_text()
    assert "RELEASE_NOTES.md" in sums and f"wavry-demo-0.1.0-{TARGET}.tar.gz" in sums and ".tgz" in sums
    assert (dist / "SHA256SUMS.sig").is_file()
    # The main npm package carries the crate's metadata as cargo reported it to the part job.
    main = read_package_json(dist / "wavry-demo-0.1.0.tgz")
    assert (main["license"], main["homepage"]) == ("MIT", "https://wavry.example/demo"), main
    published = merger / "published/wavry-demo/0.1.0" / commit
    assert (published / "SHA256SUMS").read_text() == sums
    assert subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=published, check=False).returncode == 0

    # The release job from storage, publishing too; then verify, and verify with no Rust anywhere.
    from_storage = _clone(origin, tmp_path / "from-storage")
    _ok(invoke("release", "--merge-from-storage", commit, cwd=from_storage, env=env), mark, "merge from storage")
    _ok(invoke("verify", cwd=from_storage, env=env), mark, "verify after the merge from storage")
    assert (from_storage / "dist/SHA256SUMS").read_text() == sums
    assert (from_storage / "published/wavry-demo/0.1.0" / commit / "SHA256SUMS").read_text() == sums
    bare = tmp_path / "bare-bin"
    bare.mkdir()
    for tool in ("git", "ssh-keygen"):
        (bare / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    nothing = {**env, "PATH": str(bare), "CARGO_HOME": str(tmp_path / "none"), "RUSTUP_HOME": str(tmp_path / "none")}
    reachable = os.pathsep.join([str(bare), sysconfig.get_path("scripts"), str(Path(sys.executable).parent)])
    assert all(shutil.which(t, path=reachable) is None for t in ("cargo", "rustc", "rustup", "zig")), reachable
    _ok(invoke("verify", cwd=from_storage, env=nothing), mark, "verify with no Rust on the machine")

    # Verify is not weakened: a changed archive still fails it.
    archive = from_storage / f"dist/wavry-demo-0.1.0-{TARGET}.tar.gz"
    archive.write_bytes(archive.read_bytes() + b"\0")
    failed = invoke("verify", cwd=from_storage, env=env)
    assert failed.returncode == 1 and f"wavry-demo-0.1.0-{TARGET}.tar.gz" in failed.stdout + failed.stderr
    assert not mark.exists()
