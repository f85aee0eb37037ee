"""gpg verification without a public-key file checks the signer exactly: a fingerprint, a full
user id, or an e-mail address; never a substring of one. Real gpg, real keys."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import write_project
from wavrybuild.config import load
from wavrybuild.sign.signatures import verify_detached


def _gpg(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", *args],
                          env={**os.environ, "GNUPGHOME": str(home)}, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    fprs = {}
    for uid in ("Release <rel@example.com>", "Look Alike <notrel@example.com>"):
        assert _gpg(home, "--quick-gen-key", uid, "ed25519", "sign", "never").returncode == 0
        listing = _gpg(home, "--with-colons", "--list-keys", uid).stdout
        fprs[uid] = next(ln.split(":")[9] for ln in listing.splitlines() if ln.startswith("fpr:"))
    return home, fprs


def _check(tmp_path: Path, home: Path, key: str, signer_fpr: str) -> bool:
    root = write_project(tmp_path, f'[project]\ncrate = "demo"\n[targets.x86_64-unknown-linux-gnu]\n'
                                   f'[sign]\nmethods = ["gpg"]\n[sign.gpg]\nkey = "{key}"\nhomedir = "{home}"\n')
    subject = tmp_path / "SHA256SUMS"
    subject.write_text("0" * 64 + "  x.tar.gz\n")
    sig = tmp_path / "SHA256SUMS.asc"
    made = _gpg(home, "--local-user", signer_fpr, "--armor", "--output", str(sig), "--detach-sign", str(subject))
    assert made.returncode == 0, made.stderr
    ok, _ = verify_detached("gpg", subject, sig, load(root / "targets.toml"))
    return ok


@pytest.mark.parametrize("key, signer, expected", [
    ("rel@example.com", "Look Alike <notrel@example.com>", False),  # the look-alike: refused
    ("rel@example.com", "Release <rel@example.com>", True),
    ("Release <rel@example.com>", "Release <rel@example.com>", True),
    ("Release", "Release <rel@example.com>", False),  # part of a user id is not the user id
    ("FPR:Release <rel@example.com>", "Look Alike <notrel@example.com>", False),
    ("FPR:Release <rel@example.com>", "Release <rel@example.com>", True),
])
def test_gpg_signer_is_matched_exactly(tmp_path: Path, keyring: tuple[Path, dict[str, str]], key: str, signer: str,
                                       expected: bool) -> None:
    home, fprs = keyring
    if key.startswith("FPR:"):
        key = fprs[key[4:]]
    assert _check(tmp_path, home, key, fprs[signer]) is expected
