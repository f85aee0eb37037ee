"""Reruns settle: with [release] notes and [provenance] both on (and a signature), a second
unchanged `invoke release` changes no byte of dist/ — no new notes, provenance, SHA256SUMS or
signatures. Before, the notes listed the provenance's digest and the provenance the notes', so
every rerun rewrote both, SHA256SUMS, and signed again."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import git_commit, invoke, write_project

pytestmark = pytest.mark.integration

PASS = "rerun-settles-passphrase"
HOST = "x86_64-unknown-linux-gnu"
CHANGELOG = "# Changelog\n\n## [0.1.0] - 2026-01-02\n### Added\n- the demo\n"


def _targets(keys: Path) -> str:
    return f"""[project]
crate = "demo"

[defaults]
smoke-expect = "{{version}} ({{triple}})"

[targets.{HOST}]
builder = "cargo"

[release]
changelog = "CHANGELOG.md"

[provenance]

[sign]
methods = ["minisign"]

[sign.minisign]
key = "{keys / 'minisign.key'}"
public-key = "{keys / 'minisign.pub'}"
"""


def _snapshot(dist: Path) -> dict[str, tuple[bytes, int]]:
    """Every release file's bytes and mtime (the bookkeeping under .wavrybuild/ aside)."""
    return {p.relative_to(dist).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(dist.rglob("*")) if p.is_file() and ".wavrybuild" not in p.relative_to(dist).parts}


def _summary(stdout: str) -> dict[str, str]:
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) >= 4 and cells[1] in ("notes", "provenance", "checksum", "sign"):
            rows[cells[1]] = cells[2]
    return rows


def test_second_release_with_notes_and_provenance_changes_no_byte(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    made = subprocess.run(["minisign", "-G", "-p", str(keys / "minisign.pub"), "-s", str(keys / "minisign.key")],
                          input=f"{PASS}\n{PASS}\n", capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr
    root = write_project(tmp_path / "repo", _targets(keys))
    (root / "CHANGELOG.md").write_text(CHANGELOG)
    git_commit(root)
    env = {"CARGO_TARGET_DIR": str(tmp_path / "target"), "WAVRYBUILD_MINISIGN_PASSPHRASE": PASS}

    first = invoke("release", "--no-publish", cwd=root, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    dist = root / "dist"
    names = set(_snapshot(dist))
    assert {"RELEASE_NOTES.md", "provenance.intoto.json", "SHA256SUMS", "SHA256SUMS.minisig",
            "provenance.intoto.json.minisig"} <= names, sorted(names)
    before = _snapshot(dist)

    second = invoke("release", "--no-publish", cwd=root, env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    after = _snapshot(dist)
    changed = sorted(n for n in set(before) | set(after) if before.get(n) != after.get(n))
    assert changed == [], f"a rerun rewrote {changed}"
    assert _summary(second.stdout)["sign"] == "up to date", second.stdout
    assert "minisign -S" not in second.stderr  # nothing was signed again

    # The notes name the provenance (not its digest), the provenance vouches for the notes, and it all verifies.
    notes = (dist / "RELEASE_NOTES.md").read_text()
    assert "`provenance.intoto.json` is the SLSA v1 provenance" in notes and "| provenance.intoto.json |" not in notes
    assert "RELEASE_NOTES.md" in (dist / "provenance.intoto.json").read_text()
    verified = invoke("verify", cwd=root, env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
