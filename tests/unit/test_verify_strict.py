"""verify is as strict as `sha256sum -c` (and install.sh): nothing it would read otherwise passes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from wavrybuild.checksum import SumsError, parse_sums
from wavrybuild.errors import WavryError
from wavrybuild.verify.audit import verify_dir

D = "a" * 64


@pytest.mark.parametrize("text, why", [
    (f"{D}  x.tar.gz\n{'b' * 64}  x.tar.gz\n", "a second entry for x.tar.gz (the first is on line 1)"),
    (f"{D}  ../x.tar.gz\n", "the file name has an empty, '.' or '..' segment"),
    (f"{D}  /etc/passwd\n", "the file name is an absolute path"),
    (f"{D}  a\\b\n", "the file name contains a backslash"),
    (f"{D}  a\x01b\n", "the file name contains a control character"),
    ("not a line\n", "not a checksum line"),
])
def test_sums_that_would_read_otherwise_are_refused(text: str, why: str) -> None:
    with pytest.raises(SumsError) as info:
        parse_sums(text)
    assert why in str(info.value)


def _release(d: Path) -> Path:
    d.mkdir()
    (d / "x.tar.gz").write_bytes(b"archive")
    digest = hashlib.sha256(b"archive").hexdigest()
    (d / "SHA256SUMS").write_text(f"{digest}  x.tar.gz\n")
    (d / "manifest.json").write_text(json.dumps({"artifacts": [{"path": "x.tar.gz", "sha256": digest}],
                                                 "signatures": []}))
    return d


def test_empty_sums_fail(tmp_path: Path) -> None:
    d = _release(tmp_path / "r")
    (d / "SHA256SUMS").write_text("")
    with pytest.raises(WavryError, match="no checksum lines"):
        verify_dir(d)


def test_a_stray_signature_file_is_unexpected(tmp_path: Path) -> None:
    d = _release(tmp_path / "r")
    assert all(c.ok for c in verify_dir(d))
    (d / "SHA256SUMS.asc").write_text("-----BEGIN PGP SIGNATURE-----\n")
    bad = [c for c in verify_dir(d) if not c.ok]
    assert [(c.name, c.status) for c in bad] == [("SHA256SUMS.asc", "unexpected")]


def test_a_manifest_that_is_a_list_is_a_clear_failure(tmp_path: Path) -> None:
    d = _release(tmp_path / "r")
    (d / "manifest.json").write_text("[1, 2]")
    bad = [c for c in verify_dir(d) if not c.ok]
    assert [(c.name, c.status) for c in bad] == [("manifest.json", "manifest-disagrees")]


# --- verify agrees with `sha256sum -c --strict`, line for line (issue 26, item 7) ---------------

X, Y = b"archive", b"other"
DX, DY = hashlib.sha256(X).hexdigest(), hashlib.sha256(Y).hexdigest()

# (SHA256SUMS bytes, the files present). Each is run through the real `sha256sum -c --strict` and
# through verify: both pass or both fail.
AGREE = [
    (f"{DX}  x\n{DY}  y\n", "xy"),
    (f"{DX}  x\n{DY}  y", "xy"),  # no final newline
    (f"{DX}  x\r\n{DY}  y\r\n", "xy"),  # CRLF
    (f"{DX}  x\r\n{DY}  y\r", "xy"),  # CRLF, and a CR at the very end
    (f"{DX}  x\n\n{DY}  y\n\n", "xy"),  # empty lines
    (f"{DX}  x\n\r\n{DY}  y\n", "xy"),  # an empty CRLF line
    (f"# made by hand\n{DX}  x\n{DY}  y\n", "xy"),  # a comment
    (f" \t{DX}  x\n{DY} *y\n", "xy"),  # leading blanks; binary mode
    (f"{DX.upper()}  x\n{DY}  y\n", "xy"),  # upper-case digest
    (f"\\{DX}  x\n{DY}  y\n", "xy"),  # an escaped name that needs no escape
    # Before: str.splitlines broke these lines in two, so verify saw x and y and passed; sha256sum
    # sees one line naming a file "x<sep><digest>  y", which does not exist.
    (f"{DX}  x\u2028{DY}  y\n", "xy"),
    (f"{DX}  x\u2029{DY}  y\n", "xy"),
    (f"{DX}  x\x85{DY}  y\n", "xy"),
    (f"{DX}  x\x0b{DY}  y\n", "xy"),
    (f"{DX}  x\x0c{DY}  y\n", "xy"),
    (f"{DX}  x\x1c{DY}  y\n", "xy"),
    (f"{DX}  x\x1e{DY}  y\n", "xy"),
    (f"{DX}  x\r{DY}  y\n", "xy"),  # a lone CR (text-mode reading would have made it a line break)
    (f"{DX}  x\r\r\n{DY}  y\n", "xy"),  # only one CR is dropped
    # Lines sha256sum --strict refuses that verify skipped as blank.
    (f"{DX}  x\n \n{DY}  y\n", "xy"),
    (f"{DX}  x\n\t\n{DY}  y\n", "xy"),
    (f"{DX}  x\n\x0b\n{DY}  y\n", "xy"),
    (f"{DX}  x\n\x0c\n{DY}  y\n", "xy"),
    (f"{DX}  x\n\u2028\n{DY}  y\n", "xy"),
    (f"{DX}  x\n #indented comment\n{DY}  y\n", "xy"),
    # Trailing blanks belong to the name.
    (f"{DX}  x \n{DY}  y\n", "xy"),
    (f"{DX}  x\t\n{DY}  y\n", "xy"),
    (f"{DX}   x\n{DY}  y\n", "xy"),
    # Wrong digests, missing files, bad lines.
    (f"{DY}  x\n{DY}  y\n", "xy"),
    (f"{DX}  x\n{DY}  y\n", "x"),
    (f"{DX}0  x\n{DY}  y\n", "xy"),
    (f"{DX[:-1]}  x\n{DY}  y\n", "xy"),
    (f"{DX}  \n{DY}  y\n", "xy"),
    ("", "xy"),
    ("\n\n", "xy"),
    ("# only a comment\n", "xy"),
]

# Forms `sha256sum` also reads that wavrybuild never writes and install.sh does not read: verify
# refuses them (stricter, never laxer) with a message naming the line.
STRICTER = [
    (f"SHA256 (x) = {DX}\nSHA256 (y) = {DY}\n", "xy"),  # BSD tags
    (f"{DX} x\n{DY} y\n", "xy"),  # one blank: the "reversed" BSD form
    (f"{DX}  ./x\n{DY}  y\n", "xy"),
    (f"{DX}  x\x00\n{DY}  y\n", "xy"),  # sha256sum stops the name at the NUL
    (f"{DX}  x\n{DX}  x\n{DY}  y\n", "xy"),  # the same entry twice
]


def _id(sums: str) -> str:
    return repr(sums.replace(DX, "DX").replace(DY, "DY").replace(DX.upper(), "DX.upper"))


def _dir(base: Path, sums: str, files: str) -> Path:
    d = base / "r"
    d.mkdir()
    for name in files:
        (d / name).write_bytes({"x": X, "y": Y}[name])
    (d / "SHA256SUMS").write_bytes(sums.encode())
    return d


def _sha256sum_passes(d: Path) -> bool:
    done = subprocess.run(["sha256sum", "-c", "--strict", "SHA256SUMS"], cwd=d, capture_output=True, timeout=30,
                          check=False)
    return done.returncode == 0


def _verify_passes(d: Path) -> bool:
    try:
        return all(c.ok for c in verify_dir(d))
    except WavryError as exc:
        assert "line " in str(exc) or "no checksum lines" in str(exc), str(exc)  # a clear reason, naming the line
        return False


@pytest.mark.parametrize("sums, files", AGREE, ids=[_id(s) for s, _ in AGREE])
def test_verify_agrees_with_sha256sum_strict(tmp_path: Path, sums: str, files: str) -> None:
    d = _dir(tmp_path, sums, files)
    assert _verify_passes(d) == _sha256sum_passes(d)


def test_the_agreement_cases_are_not_all_passes_or_all_failures(tmp_path: Path) -> None:
    results = []
    for i, (sums, files) in enumerate(AGREE):
        base = tmp_path / str(i)
        base.mkdir()
        results.append(_sha256sum_passes(_dir(base, sums, files)))
    assert results.count(True) == 10 and results.count(False) == len(AGREE) - 10


@pytest.mark.parametrize("sums, files", STRICTER, ids=[_id(s) for s, _ in STRICTER])
def test_verify_is_stricter_only_on_forms_wavrybuild_never_writes(tmp_path: Path, sums: str, files: str) -> None:
    d = _dir(tmp_path, sums, files)
    assert _sha256sum_passes(d)
    with pytest.raises(WavryError, match=r"SHA256SUMS: line \d"):
        verify_dir(d)


@pytest.mark.parametrize("sep", ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\r"])
def test_parse_sums_splits_on_newline_only(sep: str) -> None:
    with pytest.raises(SumsError):
        parse_sums(f"{DX}  x{sep}{DY}  y\n")


def test_sums_that_are_not_a_regular_file_are_refused_without_hanging(tmp_path: Path) -> None:
    d = _release(tmp_path / "r")
    (d / "x.tar.gz.sha256").unlink(missing_ok=True)
    (d / "SHA256SUMS").unlink()
    os.mkfifo(d / "SHA256SUMS")
    with pytest.raises(WavryError, match="SHA256SUMS: missing"):
        verify_dir(d)
