"""Snapshot vs release, and fail before the build (issue 30 item 8), with the real CLI on the demo
crate (host target, the session's cargo target dir: the build is cargo's no-op): an untagged
checkout builds a snapshot — snapshot versions in the archive and the .deb, nothing published to the
real directory destination, the signed apt repository not made, the summary says why — and once
tagged the same checkout is released and published. A missing token stops `release --dry` and
`doctor` before anything is built."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.conftest import HOST_DEMO, git_commit, invoke, write_project

TOML = HOST_DEMO + """
[channels.deb]
repository = true

[sign]
methods = ["gpg"]

[publish.directory]
path = "../releases"
"""
TARGET = "x86_64-unknown-linux-gnu"


def _gpg(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Release <release@example.invalid>",
                    "ed25519", "sign", "never"], env={**os.environ, "GNUPGHOME": str(home)}, check=True,
                   capture_output=True)
    return {"GNUPGHOME": str(home), "WAVRYBUILD_GPG_KEY": "release@example.invalid"}


def _files(d: Path) -> list[str]:
    return sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file()) if d.exists() else []


def test_untagged_is_a_snapshot_that_publishes_nothing_and_the_tag_releases(tmp_path: Path,
                                                                            cargo_target_dir: Path) -> None:
    root = write_project(tmp_path / "p", TOML)
    (tmp_path / "releases").mkdir()
    git_commit(root)
    sha7 = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                          check=True).stdout[:7]
    # Not told to publish untagged (tests/conftest.py sets it for the other tests).
    summary = tmp_path / "summary.md"  # the summary table, as Markdown (GitHub's job summary)
    env = {"CARGO_TARGET_DIR": str(cargo_target_dir), "WAVRYBUILD_PUBLISH_UNTAGGED": "0",
           "GITHUB_STEP_SUMMARY": str(summary), **_gpg(tmp_path)}
    done = invoke("release", cwd=root, env=env)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    why = "snapshot: not published (why: not at tag v0.1.0 or 0.1.0)"
    assert why in done.stderr
    text = summary.read_text()
    assert f"### Release of wavry-demo 0.1.0-snapshot.g{sha7} ({why})" in text, text
    stages = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ")]
    assert "package" in stages and "sign" in stages and "publish" not in stages and "repos" not in stages, stages
    dist = root / "dist"
    version = f"0.1.0-snapshot.g{sha7}"
    archive = dist / f"wavry-demo-{version}-{TARGET}.tar.gz"
    deb = dist / f"wavry-demo_0.1.0~snapshot.g{sha7}-1_amd64.deb"
    assert archive.is_file() and deb.is_file(), _files(dist)
    shown = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == f"0.1.0~snapshot.g{sha7}-1"
    assert _files(tmp_path / "releases") == []  # the destination untouched
    assert not (dist / "repo").exists()  # no repository made or changed
    # A snapshot in dist/ is never published by hand either.
    refused = invoke("publish", cwd=root, env=env)
    assert refused.returncode == 2 and "is never published" in refused.stderr, refused.stderr
    assert _files(tmp_path / "releases") == []

    # Tagged: the same checkout is the release, published, its repository made.
    subprocess.run(["git", "tag", "v0.1.0"], cwd=root, check=True)
    summary.unlink()
    done = invoke("release", cwd=root, env=env)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "snapshot:" not in done.stderr and "### Release of wavry-demo 0.1.0\n" in summary.read_text()
    stages = [line.split("|")[1].strip() for line in summary.read_text().splitlines() if line.startswith("| ")]
    assert "publish" in stages and "repos" in stages, stages
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    published = _files(tmp_path / "releases")
    assert f"wavry-demo/0.1.0/{head}/wavry-demo-0.1.0-{TARGET}.tar.gz" in published, published
    assert not [p for p in published if "snapshot" in p], published
    assert (dist / "repo" / "apt").is_dir()


def test_a_missing_token_stops_dry_release_and_doctor_before_any_build(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", """[project]
crate = "demo"

[targets.x86_64-unknown-linux-gnu]

[publish.github]
repo = "owner/demo"
token-env = "WAVRY_TEST_GH_TOKEN"
""")
    git_commit(root)
    env = {"CARGO_TARGET_DIR": str(tmp_path / "target"), "WAVRY_TEST_GH_TOKEN": "",
           "WAVRYBUILD_PUBLISH_UNTAGGED": "1"}  # a release (not a snapshot): it publishes, so it needs the token
    line = "publish.github.token-env: environment variable WAVRY_TEST_GH_TOKEN is not set (or empty)"
    for argv in (("release", "--dry"), ("release",)):
        start = time.monotonic()
        done = invoke(*argv, cwd=root, env=env)
        assert done.returncode == 2, done.stdout + done.stderr
        assert line in done.stderr and "Traceback" not in done.stderr
        assert "$ cargo" not in done.stderr and not (tmp_path / "target").exists() and not (root / "dist").exists()
        assert time.monotonic() - start < 30
    done = invoke("doctor", cwd=root, env=env)
    assert done.returncode == 1 and f"release needs {line}" in done.stderr, done.stdout + done.stderr
    # Untagged and not told to publish: a snapshot, which needs no token.
    done = invoke("doctor", cwd=root, env={**env, "WAVRYBUILD_PUBLISH_UNTAGGED": "0"})
    assert "publish credentials not checked" in done.stdout + done.stderr and line not in done.stderr
