"""The byte-identity check of verify/copies.py: which members are copies of a binary, how copies are
compared (each differing one named beside the first, with both artifacts and member paths), the
cpio reader .rpm payloads go through, and an artifact that cannot be read said so, never passed."""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from wavrybuild.verify import copies
from wavrybuild.verify.audit import Check, copies_checks

EXE = b"MZ signed bytes"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _tgz(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def _artifact(path: str, fmt: str, binaries: list[str], target: str = "x86_64-pc-windows-gnu") -> dict[str, object]:
    return {"path": path, "format": fmt, "target": target, "binaries": binaries}


def _release(tmp_path: Path, wheel_exe: bytes) -> list[dict[str, object]]:
    _zip(tmp_path / "a.zip", {"a/app.exe": EXE, "a/README.md": b"app.exe"})
    _zip(tmp_path / "a.whl", {"a-0.1.0.data/scripts/app.exe": wheel_exe, "a/app.exe.py": b"x"})
    _tgz(tmp_path / "a-win32-x64.tgz", {"package/bin/app.exe": EXE, "package/bin/app.js": b"launcher"})
    _tgz(tmp_path / "a.tgz", {"package/bin/app.js": b"main package"})
    return [_artifact("a.zip", "zip", ["app"]), _artifact("a.whl", "whl", ["app"]),
            _artifact("a-win32-x64.tgz", "tgz", ["app"]),
            {"path": "a.tgz", "format": "tgz", "target": "", "binaries": []},  # the main npm package: none
            {"path": "a.cdx.json", "format": "cdx.json", "target": "x86_64-pc-windows-gnu", "binaries": ["app"]}]


def test_identical_copies_pass_naming_where_they_are(tmp_path: Path) -> None:
    arts = _release(tmp_path, EXE)
    found = copies.collect(tmp_path, arts)
    assert [(c.artifact, c.member) for c in found.copies[("x86_64-pc-windows-gnu", "app")]] == [
        ("a.zip", "a/app.exe"), ("a.whl", "a-0.1.0.data/scripts/app.exe"), ("a-win32-x64.tgz", "package/bin/app.exe")]
    [verdict] = copies.compare(found)
    assert verdict.ok and verdict.name == "x86_64-pc-windows-gnu/app" and "3 identical copies" in verdict.detail


def test_one_differing_copy_fails_naming_both_artifacts_and_members(tmp_path: Path) -> None:
    arts = _release(tmp_path, EXE + b"!")
    [verdict] = copies.compare(copies.collect(tmp_path, arts))
    assert not verdict.ok
    assert "a.whl:a-0.1.0.data/scripts/app.exe" in verdict.detail and "a.zip:a/app.exe" in verdict.detail
    assert "a-win32-x64.tgz" not in verdict.detail  # the copy that agrees is not blamed
    [check] = copies_checks(tmp_path, arts)
    assert check == Check("x86_64-pc-windows-gnu/app", "copies-differ", verdict.detail) and not check.ok


def test_copies_are_compared_per_target_and_binary() -> None:
    a, b = copies.Copy("x.tar.gz", "x/app", _digest(b"1")), copies.Copy("y.tar.gz", "y/app", _digest(b"2"))
    found = copies.Found({("linux", "app"): [a], ("musl", "app"): [b]}, {})
    assert copies.compare(found) == []  # different targets: different binaries, nothing to compare
    found = copies.Found({("linux", "app"): [a, b]}, {})
    assert [v.ok for v in copies.compare(found)] == [False]


def test_member_names_match_the_binary_by_file_name_only() -> None:
    wanted = copies.member_names(["app"])
    assert wanted("dir/app") and wanted("dir/app.exe") and wanted("Program Files\\A\\app.exe") and wanted("app")
    assert not wanted("dir/app.js") and not wanted("dir/myapp") and not wanted("app/readme")
    assert copies.binary_of("Program Files\\A\\app.exe") == "app"


def _newc(entries: list[tuple[str, int, bytes]]) -> bytes:
    out = b""
    for name, mode, data in [*entries, ("TRAILER!!!", 0, b"")]:
        raw = name.encode() + b"\0"
        fields = [0, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(raw), 0]
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        out += header + raw
        out += b"\0" * (-len(out) % 4) + data
        out += b"\0" * (-len(out) % 4)
    return out


def test_cpio_reader_takes_regular_files_only() -> None:
    data = _newc([("./usr/bin", 0o040755, b""), ("./usr/bin/app", 0o100755, b"ELF bytes"),
                  ("./usr/bin/app-link", 0o120777, b"app"), ("./usr/share/doc/x", 0o100644, b"doc")])
    assert copies.cpio_members(data, copies.member_names(["app"])) == {"./usr/bin/app": _digest(b"ELF bytes")}
    with pytest.raises(copies.Unreadable):
        copies.cpio_members(b"x" * 200, lambda _: True)


def test_an_unreadable_artifact_is_said_not_passed(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "a.msi").write_bytes(b"not an msi")
    (tmp_path / "b.whl").write_bytes(b"not a zip")
    monkeypatch.setattr(copies.proc, "which", lambda _name: None)  # no msiextract on this machine
    arts = [_artifact("a.msi", "msi", ["app"]), _artifact("b.whl", "whl", ["app"])]
    checks = {c.name: c for c in copies_checks(tmp_path, arts)}
    assert checks["a.msi"].status == "not-compared" and "msiextract is not installed" in checks["a.msi"].detail
    assert "apt-get install msitools" in checks["a.msi"].detail
    assert checks["b.whl"].status == "not-compared"  # a damaged file: said, and SHA256SUMS judges its bytes


@pytest.mark.parametrize("hostile", ["../outside.zip", "/etc/outside.zip", "sub/../../outside.zip",
                                     ".wavrybuild/x.zip", "a\nb.zip", "link/app.zip"])
def test_a_manifest_path_outside_dist_is_refused_and_never_opened(tmp_path: Path, hostile: str) -> None:
    # The manifest is input: a path naming something outside dist/ (or through a symlink) fails
    # verify and is not read, even when a matching file exists there.
    dist = tmp_path / "dist"
    dist.mkdir()
    _zip(tmp_path / "outside.zip", {"app.exe": EXE})
    (dist / "link").symlink_to(tmp_path)
    _zip(tmp_path / "app.zip", {"app.exe": EXE})
    arts = [_artifact(hostile, "zip", ["app"]), *_release(dist, EXE)[:2]]
    checks = copies_checks(dist, arts)
    refused = [c for c in checks if not c.ok]
    assert len(refused) == 1 and "not opened" in refused[0].detail and "\n" not in refused[0].name
    assert all(c.ok for c in checks if c is not refused[0])  # the confined artifacts still compared
    found = copies.collect(dist, arts)
    assert all(c.artifact != hostile for cs in found.copies.values() for c in cs)


@pytest.mark.skipif(shutil.which("7z") is None, reason="7-Zip (p7zip-full) is not installed")
def test_a_hostile_image_writes_nothing_outside_the_private_dir(tmp_path: Path) -> None:
    """7-Zip picks the format from the bytes, not the name: a tar posing as a .dmg with a symlink
    (absolute and relative) and a member written through it, and a `../` member. Nothing lands outside
    verify's private directory; the image is unreadable, never passed."""
    outside = tmp_path / "outside"
    outside.mkdir()
    evil = tmp_path / "work" / "app.dmg"
    evil.parent.mkdir()
    with tarfile.open(evil, "w") as tf:
        for name, target in (("abs", str(outside)), ("rel", "../../../../../../../../" + str(outside))):
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.SYMTYPE, target
            tf.addfile(link)
        for name in ("abs/wavry-demo.exe", "rel/wavry-demo.exe", "../../outside/wavry-demo.exe"):
            member = tarfile.TarInfo(name)
            member.size = len(EXE)
            tf.addfile(member, io.BytesIO(EXE))
    try:
        found = copies.READERS["dmg"](evil, copies.member_names(["wavry-demo"]))
    except copies.Unreadable:
        found = {}
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside", "work"]
    assert all(".." not in m.split("/") for m in found)
