"""[[artifacts]]: a website built by a command, packed deterministically next to the binaries'
archives, listed in manifest.json and SHA256SUMS; a failing command or a symlink is refused with
nothing written."""

from __future__ import annotations

import json
import shutil
import sys
import tarfile
from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.integration.conftest import Release

BUILD = ("import pathlib, sys; d = pathlib.Path('site/dist'); (d / 'assets').mkdir(parents=True, exist_ok=True); "
         "(d / 'index.html').write_text('<h1>' + sys.argv[1] + '</h1>'); (d / 'assets/app.js').write_text('ok')")


def _project(tmp_path: Path, packaged: Release, title: str = "hello", extra: str = "") -> Path:
    root = tmp_path / "p"
    shutil.copytree(packaged.root, root, symlinks=True)
    with (root / "targets.toml").open("a") as f:
        f.write(f'\n[[artifacts]]\nname = "website-build.tar.gz"\ncommand = {json.dumps([sys.executable, "-c", BUILD, title])}\n'
                f'directory = "site/dist"\n{extra}')
    return root


def test_website_tarball_is_a_release_file(tmp_path: Path, packaged: Release) -> None:
    root = _project(tmp_path, packaged)
    for task in ("artifacts", "checksum"):
        done = invoke(task, cwd=root, env=packaged.env)
        assert done.returncode == 0, done.stdout + done.stderr
    tgz = root / "dist/website-build.tar.gz"
    with tarfile.open(tgz) as tar:
        assert sorted(m.name for m in tar.getmembers() if m.isfile()) == [
            "website-build/assets/app.js", "website-build/index.html"]
        assert {m.mtime for m in tar.getmembers()} == {json.loads((root / "dist/manifest.json").read_text())
                                                       ["source_date_epoch"]}
    manifest = json.loads((root / "dist/manifest.json").read_text())
    (art,) = [a for a in manifest["artifacts"] if a["kind"] == "extra"]
    assert art["path"] == "website-build.tar.gz" and art["target"] == ""
    assert "website-build.tar.gz" in (root / "dist/SHA256SUMS").read_text()
    before = tgz.stat().st_mtime_ns
    again = invoke("artifacts", cwd=root, env=packaged.env)
    assert again.returncode == 0 and "unchanged" in again.stdout and tgz.stat().st_mtime_ns == before


@pytest.mark.parametrize(("change", "expected"), [
    ("fail", "website-build.tar.gz: its command failed"),
    ("symlink", "is a symlink"),
])
def test_bad_artifact_writes_nothing(tmp_path: Path, packaged: Release, change: str, expected: str) -> None:
    root = _project(tmp_path, packaged)
    toml = root / "targets.toml"
    if change == "fail":
        toml.write_text(toml.read_text().replace(json.dumps(BUILD)[1:-1], "import sys; sys.exit(3)"))
    else:
        (root / "site/dist").mkdir(parents=True)
        (root / "site/dist/passwd").symlink_to("/etc/passwd")
        toml.write_text(toml.read_text().replace("command = ", "# command = "))
    done = invoke("artifacts", cwd=root, env=packaged.env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert expected in done.stderr and "Traceback" not in done.stderr
    assert not (root / "dist/website-build.tar.gz").exists()
