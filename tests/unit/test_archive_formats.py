"""Every archive format is deterministic and readable by the standard tools."""

from __future__ import annotations

import io
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
import zstandard

from wavrybuild.package.archive import Entry, write_archive


@pytest.fixture
def entries(tmp_path: Path) -> list[Entry]:
    (tmp_path / "tool").write_bytes(b"\x7fELF" + bytes(range(256)) * 64)
    (tmp_path / "tool").chmod(0o700)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/README.md").write_text("# readme\n" * 50)
    return [Entry("tool", tmp_path / "tool", True), Entry("docs/README.md", tmp_path / "docs/README.md", False)]


def _write(fmt: str, entries: list[Entry], out: Path) -> bytes:
    with out.open("wb") as f:
        write_archive(f, fmt, "app-1.0-x", entries, mtime=1700000000)
    return out.read_bytes()


@pytest.mark.parametrize("fmt", ["tar.gz", "tar.xz", "tar.zst", "zip"])
def test_deterministic(fmt: str, entries: list[Entry], tmp_path: Path) -> None:
    first = _write(fmt, entries, tmp_path / f"a.{fmt}")
    (tmp_path / "docs/README.md").touch()  # a new mtime on disk must not matter
    assert _write(fmt, entries, tmp_path / f"b.{fmt}") == first


@pytest.mark.parametrize(("fmt", "flag"), [("tar.gz", "-z"), ("tar.xz", "-J")])
def test_gnu_tar_reads_it(fmt: str, flag: str, entries: list[Entry], tmp_path: Path) -> None:
    path = tmp_path / f"a.{fmt}"
    _write(fmt, entries, path)
    listing = subprocess.run(["tar", flag, "-tvf", str(path)], capture_output=True, text=True, check=True).stdout
    assert "-rwxr-xr-x 0/0" in listing and "app-1.0-x/tool" in listing
    assert "-rw-r--r-- 0/0" in listing and "app-1.0-x/docs/README.md" in listing


def test_zstd_frame_holds_the_tar(entries: list[Entry], tmp_path: Path) -> None:
    data = _write("tar.zst", entries, tmp_path / "a.tar.zst")
    raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        names = tar.getnames()
        assert tar.getmember("app-1.0-x/tool").mode == 0o755
    assert names == ["app-1.0-x", "app-1.0-x/docs", "app-1.0-x/docs/README.md", "app-1.0-x/tool"]


def test_zip_modes_and_unzip(entries: list[Entry], tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    _write("zip", entries, path)
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist()}
    assert modes["app-1.0-x/tool"] == 0o755 and modes["app-1.0-x/docs/README.md"] == 0o644
