"""[release] publish = ["deb", "rpm"] (issue 29, item 4): a real release of the demo crate for the
host target makes its archive as always, but only the .deb and .rpm (with the notes, SHA256SUMS and
manifest.json) are published: SHA256SUMS, the manifest's record, the notes, `invoke verify` and a
real directory destination all follow the choice; a rerun changes no byte; publishing after the
choice changed, without a new SHA256SUMS, is refused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import HOST_DEMO, git_commit, invoke, write_project
from wavrybuild.manifest import Manifest

TOML = HOST_DEMO + """
[channels.deb]

[channels.rpm]

[release]
publish = ["deb", "rpm"]

[publish.directory]
path = "../releases"
"""
DEB, RPM, ARCHIVE = "wavry-demo_0.1.0-1_amd64.deb", "wavry-demo-0.1.0-1.x86_64.rpm", \
    "wavry-demo-0.1.0-x86_64-unknown-linux-gnu.tar.gz"


def _files(d: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `d` but wavrybuild's work area: its bytes and mtime."""
    return {p.relative_to(d).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(d.rglob("*"))
            if p.is_file() and ".wavrybuild" not in p.relative_to(d).parts}


def test_publish_only_the_chosen_kinds(tmp_path: Path, cargo_target_dir: Path) -> None:
    root = write_project(tmp_path / "p", TOML)
    (tmp_path / "releases").mkdir()
    git_commit(root)
    env = {"CARGO_TARGET_DIR": str(cargo_target_dir)}
    done = invoke("release", cwd=root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    dist = root / "dist"

    # The archive is made (and listed as made), but nothing vouches for it or sends it anywhere.
    manifest = Manifest.load(dist)
    assert manifest is not None and manifest.published == ["deb", "rpm"]
    made = {a.path: a.kind for a in manifest.artifacts}
    assert made[ARCHIVE] == "archive" and (dist / ARCHIVE).is_file()
    published = sorted(["RELEASE_NOTES.md", DEB, RPM])
    assert sorted(a.path for a in manifest.released(manifest.published)) == published
    sums = (dist / "SHA256SUMS").read_text()
    assert sorted(line.split("  ", 1)[1] for line in sums.splitlines()) == published
    notes = (dist / "RELEASE_NOTES.md").read_text()
    assert DEB in notes and RPM in notes and ARCHIVE not in notes and ".tar.gz" not in notes
    # sha256sum itself agrees with SHA256SUMS.
    check = subprocess.run(["sha256sum", "-c", "--strict", "SHA256SUMS"], cwd=dist, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    verified = invoke("verify", cwd=root, env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "not-published" in verified.stdout + verified.stderr  # the archive is named, not hidden

    # The directory destination holds exactly the published set, and verifies on its own.
    out = tmp_path / "releases" / "wavry-demo" / "0.1.0" / str(manifest.git["commit"])
    assert sorted(p.name for p in out.iterdir()) == sorted([*published, "SHA256SUMS", "manifest.json"])
    for name in [*published, "SHA256SUMS", "manifest.json"]:
        assert (out / name).read_bytes() == (dist / name).read_bytes(), name
    copy = invoke("verify", "--directory", str(out), cwd=root, env=env)
    assert copy.returncode == 0, copy.stdout + copy.stderr

    # A rerun changes no byte (nor a file's time) in dist/ or at the destination.
    before, sent = _files(dist), _files(tmp_path / "releases")
    again = invoke("release", cwd=root, env=env)
    assert again.returncode == 0, again.stdout + again.stderr[-3000:]
    assert _files(dist) == before and _files(tmp_path / "releases") == sent

    # The choice changed but SHA256SUMS was not written again: nothing is sent.
    toml = root / "targets.toml"
    toml.write_text(toml.read_text().replace('publish = ["deb", "rpm"]', 'publish = ["archive", "deb", "rpm"]'))
    refused = invoke("publish", cwd=root, env=env)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "written for other kinds (deb, rpm)" in refused.stderr and "release.publish" in refused.stderr
    assert _files(tmp_path / "releases") == sent
    # After checksum (and the notes, in a release) the archive goes out too.
    wider = invoke("release", cwd=root, env=env)
    assert wider.returncode == 0, wider.stdout + wider.stderr[-3000:]
    assert ARCHIVE in (dist / "SHA256SUMS").read_text() and (out / ARCHIVE).read_bytes() == (dist / ARCHIVE).read_bytes()
    assert ARCHIVE in (out / "RELEASE_NOTES.md").read_text()
    assert json.loads((out / "manifest.json").read_text())["published"] == ["archive", "deb", "rpm"]


def test_a_refused_combination_is_one_message_before_anything_runs(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", TOML.replace("[channels.rpm]\n", "[channels.rpm]\n\n[channels.installer]\n"
                                                      'base-url = "https://example.invalid/v{version}"\n'))
    done = invoke("release", cwd=root)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "release.publish leaves out 'archive'" in done.stderr and "[channels.installer]" in done.stderr
    assert "Traceback" not in done.stderr and not (root / "dist").exists()
