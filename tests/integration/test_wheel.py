"""Python wheels from the built binaries, uploaded with twine to a real pypiserver on localhost,
installed with pip into a fresh venv, and run."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.utils import parse_wheel_filename

from tests.conftest import invoke
from tests.integration.servers import pypiserver


@pytest.fixture(scope="module")
def wheels(packaged, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wheels") / "p"
    shutil.copytree(packaged.root, root)
    done = invoke("wheel", cwd=root, env=packaged.env)
    assert done.returncode == 0, done.stdout + done.stderr
    return root


def test_tags_from_targets(wheels: Path) -> None:
    tags = {}
    for whl in (wheels / "dist").glob("*.whl"):
        name, version, _build, tagset = parse_wheel_filename(whl.name)
        assert str(name) == "wavry-demo" and str(version) == "0.1.0"
        tags[whl.name] = {str(t) for t in tagset}
    flat = {t for ts in tags.values() for t in ts}
    assert "py3-none-manylinux_2_17_x86_64" in flat  # from the glibc floor
    assert "py3-none-musllinux_1_2_x86_64" in flat
    assert "py3-none-macosx_11_0_arm64" in flat
    assert "py3-none-win_amd64" in flat
    assert any(t.startswith("py3-none-manylinux_2_") and t.endswith("_aarch64") for t in flat)
    assert len(tags) == 6


def test_record_hashes_and_scripts(wheels: Path) -> None:
    whl = next((wheels / "dist").glob("*manylinux_2_17_x86_64.whl"))
    with zipfile.ZipFile(whl) as zf:
        record_name = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD"))
        rows = list(csv.reader(io.StringIO(zf.read(record_name).decode())))
        assert {r[0] for r in rows} == set(zf.namelist())
        for path, digest, size in rows:
            if path == record_name:
                continue
            data = zf.read(path)
            expect = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert digest == expect and int(size) == len(data)
        script = zf.getinfo("wavry_demo-0.1.0.data/scripts/wavry-demo")
        assert (script.external_attr >> 16) & 0o777 == 0o755
        assert "Root-Is-Purelib: false" in zf.read("wavry_demo-0.1.0.dist-info/WHEEL").decode()


def test_checksums_cover_wheels(wheels: Path, packaged) -> None:
    done = invoke("checksum", "verify", cwd=wheels, env=packaged.env)
    assert done.returncode == 0, done.stdout + done.stderr
    sums = (wheels / "dist/SHA256SUMS").read_text()
    assert sums.count(".whl") == 6


def test_twine_upload_pip_install_and_run(wheels: Path, tmp_path: Path) -> None:
    with pypiserver(tmp_path / "packages") as url:
        up = subprocess.run([sys.executable, "-m", "twine", "upload", "--non-interactive", "--repository-url",
                             url + "/", "-u", "wavry", "-p", "unused", *map(str, sorted((wheels / "dist").glob("*.whl")))],
                            capture_output=True, text=True, check=False)
        assert up.returncode == 0, up.stdout + up.stderr
        venv = tmp_path / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = subprocess.run([str(venv / "bin/pip"), "install", "--no-cache-dir", "--index-url", url + "/simple/",
                              "wavry-demo==0.1.0"], capture_output=True, text=True, check=False)
        assert pip.returncode == 0, pip.stdout + pip.stderr
        out = subprocess.run([str(venv / "bin/wavry-demo")], capture_output=True, text=True, check=True).stdout
        assert out.strip() == "wavry-demo 0.1.0 (x86_64-unknown-linux-gnu)"
        # For a musl platform pip picks the musllinux wheel.
        dl = subprocess.run([str(venv / "bin/pip"), "download", "--no-cache-dir", "--index-url", url + "/simple/",
                             "--only-binary=:all:", "--platform", "musllinux_1_2_x86_64", "--no-deps",
                             "-d", str(tmp_path / "musl"), "wavry-demo==0.1.0"], capture_output=True, text=True)
        assert dl.returncode == 0, dl.stdout + dl.stderr
        assert [p.name for p in (tmp_path / "musl").iterdir()] == ["wavry_demo-0.1.0-py3-none-musllinux_1_2_x86_64.whl"]


def test_release_makes_wheels_and_a_rerun_changes_nothing(packaged, tmp_path: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(packaged.root, root)
    toml = root / "targets.toml"
    toml.write_text(toml.read_text() + '\n[channels.pypi]\nname = "wavry-demo"\nlicense = "MIT"\n')
    done = invoke("release", cwd=root, env=packaged.env)
    assert done.returncode == 0, done.stdout + done.stderr
    # The summary's column width follows the longest stage name: match the cells, not the padding.
    assert re.search(r"│ wheel +│ done", done.stdout), done.stdout
    assert (root / "dist/SHA256SUMS").read_text().count(".whl") == 6
    before = {p.name: p.stat().st_mtime_ns for p in (root / "dist").iterdir() if p.is_file()}
    again = invoke("release", cwd=root, env=packaged.env)
    assert again.returncode == 0, again.stderr
    assert re.search(r"│ wheel +│ up to date", again.stdout), again.stdout
    assert {p.name: p.stat().st_mtime_ns for p in (root / "dist").iterdir() if p.is_file()} == before
    assert invoke("verify", cwd=root, env=packaged.env).returncode == 0


def _wheel_facts(whl: Path) -> dict:
    """What an installer acts on: tags, the scripts it puts on PATH, and the core metadata fields."""
    _name, _version, _build, tags = parse_wheel_filename(whl.name)
    with zipfile.ZipFile(whl) as zf:
        scripts = sorted(n.rsplit("/", 1)[1] for n in zf.namelist() if "/scripts/" in n)
        modes = {(zf.getinfo(n).external_attr >> 16) & 0o777 for n in zf.namelist() if "/scripts/" in n}
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = dict(line.split(": ", 1) for line in zf.read(meta_name).decode().split("\n\n", 1)[0].splitlines())
        wheel_name = next(n for n in zf.namelist() if n.endswith(".dist-info/WHEEL"))
        wheel = zf.read(wheel_name).decode()
    return {"tags": sorted(map(str, tags)), "scripts": scripts, "modes": modes, "meta": meta,
            "wheel_tags": sorted(ln.split(": ")[1] for ln in wheel.splitlines() if ln.startswith("Tag: "))}


def test_same_tags_and_commands_as_maturin(wheels: Path, tmp_path: Path) -> None:
    """maturin (`-b bin --zig`, manylinux2014) on the same crate: the same tags, the same commands
    and the same core metadata; docs/channels-pypi.md records the comparison."""
    from tests.conftest import copy_demo

    crate = copy_demo(tmp_path / "demo")
    out = tmp_path / "maturin"
    done = subprocess.run([sys.executable, "-m", "maturin", "build", "-b", "bin", "--zig", "--release",
                           "--target", "x86_64-unknown-linux-gnu", "--compatibility", "manylinux2014",
                           "-o", str(out)], cwd=crate, capture_output=True, text=True,
                          env={**__import__("os").environ, "CARGO_TARGET_DIR": str(tmp_path / "target")})
    assert done.returncode == 0, done.stdout + done.stderr
    theirs = _wheel_facts(next(out.glob("*.whl")))
    ours = _wheel_facts(next((wheels / "dist").glob("*manylinux_2_17_x86_64.whl")))
    assert ours["tags"] == theirs["tags"] == ["py3-none-manylinux2014_x86_64", "py3-none-manylinux_2_17_x86_64"]
    assert ours["wheel_tags"] == theirs["wheel_tags"]
    assert ours["scripts"] == theirs["scripts"] == ["wavry-demo", "wavry-hello"]
    assert ours["modes"] == theirs["modes"] == {0o755}
    # From Cargo.toml's description, license, homepage and repository.
    assert ours["meta"]["Summary"] == "Demo crate released by wavrybuild's own targets.toml"
    assert ours["meta"]["License"] == "MIT" and ours["meta"]["Home-page"] == "https://wavry.example/demo"
    assert ours["meta"]["Project-URL"] == "Source Code, https://git.wavry.example/wavrybuild"  # the last one
    for field in ("Name", "Version", "Summary", "License", "Home-page", "Author-email", "Description-Content-Type"):
        assert ours["meta"].get(field) is not None, field
        assert ours["meta"][field].split(";")[0] == theirs["meta"].get(field, theirs["meta"].get(field.replace("-page", "-Page"), "")).split(";")[0], field
