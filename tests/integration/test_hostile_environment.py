"""The environment turns hostile under a real release (issue 26, item 8), with the real CLI:

- the disk holding dist/ fills up (a real tmpfs, full): one message naming the file that could not
  be written, exit 1, no traceback, no partial file, every release file as it was and SHA256SUMS
  still true; with space again the next run completes;
- a FIFO inside an [[artifacts]] directory: refused by name instead of hanging the packing.

Each CLI run has a timeout, so a hang fails the test."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import git_commit, invoke, write_project

pytestmark = pytest.mark.integration

HOST = "x86_64-unknown-linux-gnu"
TARGETS = f"""[project]
crate = "demo"

[defaults]
smoke-expect = "{{version}} ({{triple}})"

[targets.{HOST}]
builder = "cargo"
"""


def _namespace() -> list[str]:
    """A private mount namespace, so the tmpfs vanishes with the script and nothing else sees it."""
    for argv in (["unshare", "--mount", "--propagation", "private"], ["unshare", "--user", "--map-root-user", "--mount"]):
        if shutil.which("unshare") and subprocess.run([*argv, "true"], capture_output=True, check=False).returncode == 0:
            return argv
    pytest.skip("mounting a tmpfs needs root or user namespaces (unshare)")


def _script(root: Path, out: Path) -> str:
    dist, py = shlex.quote(str(root / "dist")), shlex.quote(sys.executable)
    o = shlex.quote(str(out))
    # Release files (the bookkeeping under .wavrybuild/ aside) and their digests, to compare runs.
    files = f"(cd {dist} && find . -type f ! -path './.wavrybuild/*' ! -name .fill | sort | xargs sha256sum)"
    return f"""
set -u
mkdir -p {dist}
mount -t tmpfs -o size=64m tmpfs {dist}
{py} -m invoke release --no-publish >{o}/first.out 2>{o}/first.err; echo $? >{o}/first.rc
{files} >{o}/before.sums
dd if=/dev/zero of={dist}/.fill bs=64k 2>/dev/null  # until the disk is full
printf '\\n[release]\\n' >> targets.toml             # the next release has notes to write
{py} -m invoke release --no-publish >{o}/full.out 2>{o}/full.err; echo $? >{o}/full.rc
{files} >{o}/after.sums
find {dist} \\( -name '*.part' -o -name '*.tmp' \\) >{o}/partial
(cd {dist} && sha256sum -c --strict SHA256SUMS) >{o}/sums.out 2>&1; echo $? >{o}/sums.rc
rm {dist}/.fill
{py} -m invoke release --no-publish >{o}/again.out 2>{o}/again.err; echo $? >{o}/again.rc
test -f {dist}/RELEASE_NOTES.md; echo $? >{o}/notes.rc
"""


def test_a_full_disk_is_one_message_and_changes_nothing(tmp_path: Path) -> None:
    unshare = _namespace()
    root = write_project(tmp_path / "repo", TARGETS)
    git_commit(root)
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "CARGO_TARGET_DIR": str(tmp_path / "target")}
    env.pop("GITHUB_ACTIONS", None)
    subprocess.run([*unshare, "sh", "-c", _script(root, out)], cwd=root, env=env, timeout=1800, check=True)

    def text(name: str) -> str:
        return (out / name).read_text()

    assert text("first.rc").strip() == "0", text("first.out") + text("first.err")
    full = text("full.out") + text("full.err")
    assert text("full.rc").strip() == "1", full
    assert "Traceback" not in full and "internal error" not in full, full
    # One error naming the file (the summary table repeats it in its row of the failed stage).
    errors = [line for line in text("full.err").splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {root / 'dist'}/"), full
    assert errors[0].endswith(": cannot be written: No space left on device") and "free space" in full
    assert text("partial") == ""  # nothing half-written, not even under .wavrybuild/tmp
    assert text("after.sums") == text("before.sums")  # every release file as it was
    assert text("sums.rc").strip() == "0", text("sums.out")  # and SHA256SUMS still true
    assert text("again.rc").strip() == "0", text("again.out") + text("again.err")
    assert text("notes.rc").strip() == "0"


def test_a_fifo_in_an_artifacts_directory_is_refused_not_waited_on(tmp_path: Path) -> None:
    root = write_project(tmp_path / "repo", TARGETS)
    git_commit(root)
    env = {"CARGO_TARGET_DIR": str(tmp_path / "target")}
    for task in (("build", "--all"), ("package",)):
        done = invoke(*task, cwd=root, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
    (root / "site/assets").mkdir(parents=True)
    (root / "site/index.html").write_text("<h1>hi</h1>")
    os.mkfifo(root / "site/assets/feed")
    with (root / "targets.toml").open("a") as f:
        f.write('\n[[artifacts]]\nname = "site.tar.gz"\ndirectory = "site"\n')
    done = invoke("artifacts", cwd=root, env=env, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"site.tar.gz: {root / 'site/assets/feed'} is a FIFO (named pipe)" in done.stderr
    assert "Traceback" not in done.stderr and not (root / "dist/site.tar.gz").exists()
