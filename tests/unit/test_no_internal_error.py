"""No internal error (traceback, exit 70) and no hang for a hostile input or environment (issue 26,
item 8): /dev/zero or a FIFO as --config, WAVRYBUILD_CONFIG or the [desktop] icon; an icon that is
not a readable PNG or is a decompression bomb; a FIFO in an [[artifacts]] directory; a full disk
(injected ENOSPC here; a real full tmpfs in tests/integration/test_full_disk.py).

The CLI runs in a subprocess with a timeout, so a hang fails the test instead of stalling it."""

from __future__ import annotations

import errno
import io
import os
import struct
import zlib
from pathlib import Path

import pytest

from tests.conftest import invoke, write_project
from wavrybuild.config import load
from wavrybuild.config.artifacts import ExtraArtifact
from wavrybuild.config.values import ArtifactPath, Component
from wavrybuild.dist import DistState, Transaction, writes
from wavrybuild.errors import ConfigError, WavryError
from wavrybuild.fsutil import write_atomic
from wavrybuild.manifest import Manifest
from wavrybuild.package.artifacts import entries

BASE = '[project]\ncrate = "demo"\n[targets.x86_64-unknown-linux-gnu]\n'
HANG = 60  # seconds: far more than a refusal takes, far less than "for ever"


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _refused(done: object, *words: str) -> None:
    out = getattr(done, "stdout", "") + getattr(done, "stderr", "")
    assert getattr(done, "returncode", None) == 2, out
    assert "Traceback" not in out and "internal error" not in out, out
    for word in words:
        assert word in out, out


# --- --config and WAVRYBUILD_CONFIG -------------------------------------------------------------

@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "directory"])
@pytest.mark.parametrize("how", ["flag", "env"])
def test_a_config_that_is_not_a_regular_file_is_refused_at_once(tmp_path: Path, kind: str, how: str) -> None:
    root = write_project(tmp_path / "p", BASE)
    path = {"dev-zero": Path("/dev/zero"), "fifo": _fifo(tmp_path / "targets.toml"), "directory": Path("/dev")}[kind]
    what = {"dev-zero": "a character device", "fifo": "a FIFO", "directory": "a directory"}[kind]
    if how == "flag":
        done = invoke("doctor", "--config", str(path), cwd=root, timeout=HANG)
    else:
        done = invoke("doctor", cwd=root, env={"WAVRYBUILD_CONFIG": str(path)}, timeout=HANG)
    _refused(done, str(path), what, "not a regular file")


def test_a_huge_config_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", BASE + "# padding\n" * 600_000)  # 6 MB of comments
    with pytest.raises(ConfigError, match="more than the 4194304 allowed"):
        load(root / "targets.toml")


# --- the [desktop] icon -------------------------------------------------------------------------

def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(side: int, *, idat: bytes | None = None, depth: int = 8, color: int = 6) -> bytes:
    """A PNG from its chunks (no Pillow: a bomb must not be decoded to be made)."""
    ihdr = struct.pack(">IIBBBBB", side, side, depth, color, 0, 0, 0)
    if idat is None:
        row = b"\x00" + b"\x80" * (side * 4)
        idat = zlib.compress(row * side)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _bomb(side: int) -> bytes:
    """A 1-bit greyscale PNG of side×side pixels, all zero: tiny on disk, side² bytes as RGBA…×4."""
    z = zlib.compressobj(9)
    row = b"\x00" * (1 + side // 8)
    parts = [z.compress(row) for _ in range(side)]
    return _png(side, idat=b"".join(parts) + z.flush(), depth=1, color=0)


def _desktop(tmp_path: Path, icon: str) -> Path:
    return write_project(tmp_path / "p", BASE + f'[desktop]\nbundle-id = "com.example.demo"\nicon = "{icon}"\n')


def test_a_good_icon_still_loads(tmp_path: Path) -> None:
    root = _desktop(tmp_path, "icon.png")
    (root / "icon.png").write_bytes(_png(256))
    assert load(root / "targets.toml").desktop.icon == (root / "icon.png").resolve()


@pytest.mark.parametrize("data, why", [
    (b"GIF89a" + b"\x00" * 100, "is not a PNG file"),
    (_png(256)[:60], "is not a readable PNG"),  # the header is fine, the pixels are cut off
    (_png(256, idat=b"not zlib at all"), "is not a readable PNG"),
    (_png(100_000, idat=b""), "is 100000×100000, larger than 4096×4096"),  # a bomb by its header
    (_bomb(30_000), "is 30000×30000, larger than 4096×4096"),  # a real one: 900 Mpx in ~110 KB
], ids=["gif", "truncated", "not-zlib", "bomb-header", "bomb"])
def test_an_icon_that_is_not_a_readable_png_is_a_config_error(tmp_path: Path, data: bytes, why: str) -> None:
    root = _desktop(tmp_path, "icon.png")
    (root / "icon.png").write_bytes(data)
    with pytest.raises(ConfigError) as info:
        load(root / "targets.toml")
    assert f"{root / 'targets.toml'}: desktop.icon: " in str(info.value) and why in str(info.value)


@pytest.mark.parametrize("kind", ["dev-zero", "fifo"])
def test_an_icon_that_is_not_a_regular_file_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    icon = "/dev/zero" if kind == "dev-zero" else str(_fifo(tmp_path / "icon.png"))
    root = _desktop(tmp_path, icon)
    done = invoke("doctor", cwd=root, timeout=HANG)
    _refused(done, "desktop.icon", "not a regular file")


def test_the_channels_read_the_icon_as_carefully(tmp_path: Path) -> None:
    from wavrybuild.channels.desktop.format import icon_sizes

    good = tmp_path / "icon.png"
    good.write_bytes(_png(256))
    assert sorted(icon_sizes(good)) == [16, 32, 48, 64, 128, 256]
    # Changed into a bomb after the config was loaded: refused, not decoded.
    good.write_bytes(_bomb(30_000))
    with pytest.raises(ConfigError, match="larger than 4096×4096"):
        icon_sizes(good)


# --- [[artifacts]] ------------------------------------------------------------------------------

def test_a_fifo_in_an_artifacts_directory_is_refused_by_name(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "assets").mkdir(parents=True)
    (site / "index.html").write_text("<h1>hi</h1>")
    fifo = _fifo(site / "assets" / "pipe")
    a = ExtraArtifact(ArtifactPath.parse("site.tar.gz"), "tar.gz", site, (), Component.parse("site"))
    with pytest.raises(WavryError) as info:
        entries(a)
    assert f"{fifo} is a FIFO (named pipe); an archive holds only files and directories" in str(info.value)


# --- a full disk (injected) ---------------------------------------------------------------------

def _state(tmp_path: Path) -> tuple[DistState, Manifest]:
    dist = tmp_path / "dist"
    dist.mkdir()
    manifest = Manifest("demo", "demo", "1.0.0", {}, 0, "", {})
    return DistState(dist), manifest


def _enospc(f: io.BufferedWriter) -> None:
    f.write(b"half of it")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_while_staging_names_the_file_and_leaves_nothing(tmp_path: Path) -> None:
    state, manifest = _state(tmp_path)
    tx = Transaction(state, "notes", manifest)
    tx.add("first.md", writes(b"whole"), target="", triple="", fmt="md", binaries=[])
    with pytest.raises(WavryError) as info:
        tx.add("RELEASE_NOTES.md", _enospc, target="", triple="", fmt="md", binaries=[])  # type: ignore[arg-type]
    assert str(info.value).startswith(f"{state.dist / 'RELEASE_NOTES.md'}: cannot be written: No space left on device")
    assert "free space" in str(info.value)
    staged = sorted(p.name for p in (state.dist / ".wavrybuild" / "tmp").iterdir())
    assert staged == [f"first.md.{os.getpid()}.part"]  # the failed file's part is gone; nothing reached dist/
    assert [p.name for p in state.dist.iterdir()] == [".wavrybuild"]


def test_a_full_disk_in_the_atomic_writer_names_the_file_and_keeps_the_old_one(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "steps.json"
    dest.write_text("old")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(WavryError, match=f"{dest}: cannot be written: No space left on device"):
        write_atomic(dest, "new")
    assert dest.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["steps.json"]


def test_a_full_disk_anywhere_else_is_one_line_not_an_internal_error(capsys: pytest.CaptureFixture[str]) -> None:
    """The net under the write helpers: a stage writing a work file itself on a full disk."""
    from invoke import Context
    from invoke.exceptions import Exit

    from wavrybuild.tasks import _guarded

    def desktop(c: Context) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/tmp/work/app.ico")

    with pytest.raises(Exit) as info:
        _guarded(desktop)(Context())
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "/tmp/work/app.ico: cannot be written: No space left on device" in err and "internal error" not in err


def test_a_changelog_swapped_for_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    """[release] changelog is checked at load; the notes stage reads it later, just as carefully."""
    import threading

    from tests.unit.test_pipeline import fake_metadata
    from wavrybuild.config import parse
    from wavrybuild.env import Settings
    from wavrybuild.notes.stage import notes_text
    from wavrybuild.pipeline.stage import Run
    from wavrybuild.ui import UI

    (tmp_path / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.0.0"\n')
    (tmp_path / "CHANGELOG.md").write_text("## [1.0.0]\n- first\n")
    data = {"targets": {"x86_64-unknown-linux-gnu": {}}, "release": {"changelog": "CHANGELOG.md"}}
    cfg = parse(tmp_path / "targets.toml", data, fake_metadata, Settings())
    (tmp_path / "CHANGELOG.md").unlink()
    _fifo(tmp_path / "CHANGELOG.md")
    run = Run(cfg, UI(), cfg.targets)
    outcome: list[BaseException | str] = []

    def notes() -> None:
        try:
            outcome.append(notes_text(run, Manifest("demo", "demo", "1.0.0", {}, 0, "", {})))
        except BaseException as exc:  # handed to the test's thread
            outcome.append(exc)

    worker = threading.Thread(target=notes, daemon=True)
    worker.start()
    worker.join(timeout=HANG / 6)
    assert not worker.is_alive(), "reading the changelog hangs on a FIFO"
    assert isinstance(outcome[0], WavryError) and "is a FIFO (named pipe), not a regular file" in str(outcome[0])


def test_a_fifo_named_by_package_include_is_refused_by_name(tmp_path: Path) -> None:
    from tests.unit.test_pipeline import fake_metadata
    from wavrybuild.config import parse
    from wavrybuild.env import Settings
    from wavrybuild.package.plan import extra_files

    (tmp_path / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.0.0"\n')
    data = {"targets": {"x86_64-unknown-linux-gnu": {}}, "package": {"include": ["NEWS"]}}
    fifo = _fifo(tmp_path / "NEWS")
    cfg = parse(tmp_path / "targets.toml", data, fake_metadata, Settings())
    with pytest.raises(ConfigError, match=f"package.include: {fifo} is a FIFO \\(named pipe\\), not a regular file"):
        extra_files(cfg)
