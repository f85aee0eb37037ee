"""verify is as strict as `sha256sum -c` (and install.sh): nothing it would read otherwise passes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from wavrybuild.checksum import SumsError, parse_sums
from wavrybuild.errors import WavryError
from wavrybuild.verify import verify_dir

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
