"""Names from part manifests, manifest.json and SHA256SUMS never become paths outside dist/ (or
outside a publisher's folder): hostile inputs are refused with the offending name, and nothing is
written, hashed or uploaded anywhere."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.conftest import invoke, write_project

TOML = '[project]\ncrate = "demo"\n[targets.x86_64-unknown-linux-gnu]\n'


def _manifest(artifacts: list[dict], name: str = "wavry-demo", version: str = "0.1.0") -> str:
    return json.dumps({"schema": 1, "crate": "wavry-demo", "name": name, "version": version, "git": {},
                       "source_date_epoch": 0, "source_date_epoch_from": "test", "tools": {},
                       "artifacts": artifacts, "checksums": None, "signatures": []})


def _artifact(path: str, data: bytes) -> dict:
    return {"target": "x86_64-unknown-linux-gnu", "triple": "x86_64-unknown-linux-gnu", "kind": "archive",
            "format": "tar.gz", "path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _files_outside(root: Path, before: set[Path]) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()} - before


@pytest.mark.parametrize("bad", ["../ESCAPED.sh", "/tmp/wavry-escaped.sh", "sub/../../ESCAPED.sh", "a\\..\\ESCAPED.sh"])
def test_merge_refuses_a_part_that_points_outside_dist(tmp_path: Path, bad: str) -> None:
    root = write_project(tmp_path / "repo", TOML)
    part = tmp_path / "parts" / "part-x"
    part.mkdir(parents=True)
    payload = b"#!/bin/sh\necho pwned\n"
    (part / "ESCAPED.sh").write_bytes(payload)
    (part / "manifest-part-x.json").write_text(_manifest([_artifact(bad, payload)]))
    before = {p for p in tmp_path.rglob("*") if p.is_file()}
    done = invoke("release", "--merge", str(tmp_path / "parts"), cwd=root)
    assert done.returncode == 1, done.stdout + done.stderr  # a part's error (MergeError), not the config's
    assert repr(bad) in done.stderr and "Traceback" not in done.stderr
    assert _files_outside(tmp_path, before) == set()
    assert not Path("/tmp/wavry-escaped.sh").exists()


def test_merge_refuses_a_part_that_is_not_a_manifest(tmp_path: Path) -> None:
    root = write_project(tmp_path / "repo", TOML)
    part = tmp_path / "parts" / "part-x"
    part.mkdir(parents=True)
    for text in ("not json", "[1, 2]"):
        (part / "manifest-part-x.json").write_text(text)
        done = invoke("release", "--merge", str(tmp_path / "parts"), cwd=root)
        assert done.returncode in (1, 2) and "not a part manifest" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


@pytest.mark.parametrize("manifest_name, artifact", [
    ("wavry-demo", "../ESCAPED.sh"),       # an artifact outside dist/
    ("../../evil", "x.tar.gz"),            # {name}/{version} outside the publisher's folder
])
def test_publishers_refuse_names_that_leave_their_folder(tmp_path: Path, manifest_name: str, artifact: str) -> None:
    root = write_project(tmp_path / "repo", TOML + '[publish.directory]\npath = "../releases"\n')
    dist = root / "dist"
    dist.mkdir()
    data = b"archive"
    (dist / "x.tar.gz").write_bytes(data)
    (tmp_path / "repo" / "ESCAPED.sh").write_bytes(data)
    (dist / "manifest.json").write_text(_manifest([_artifact(artifact, data)], name=manifest_name))
    (dist / "SHA256SUMS").write_text(f"{hashlib.sha256(data).hexdigest()}  {artifact}\n")
    (tmp_path / "releases").mkdir()
    done = invoke("publish", cwd=root)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert not any((tmp_path / "releases").rglob("*")) and not (tmp_path / "evil").exists()


@pytest.mark.parametrize("line", ["/etc/passwd", "../repo/targets.toml"])
def test_verify_and_checksum_hash_nothing_outside(tmp_path: Path, line: str) -> None:
    root = write_project(tmp_path / "repo", TOML)
    dist = root / "dist"
    dist.mkdir()
    (dist / "SHA256SUMS").write_text(f"{'0' * 64}  {line}\n")
    done = invoke("verify", cwd=root)
    assert done.returncode in (1, 2), done.stdout + done.stderr
    assert "the file name" in done.stderr and "Traceback" not in done.stderr
