"""Windows on ARM64 (issue 30 item 6), for real: aarch64-pc-windows-gnullvm cross-built here by
cargo-zigbuild (zig's lld and mingw-w64, std from source: the one new std build this needs), its
binaries Authenticode-signed by real osslsigncode (the throwaway certificate of test_sign.py) and
packaged as .zip; the smoke run is skipped with the reason (no Windows here). One `invoke release`
in the run's shared cargo target dir."""

from __future__ import annotations

import json
import struct
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, git_commit, invoke, write_project
from tests.integration.test_sign import PASS, Keys, keys  # noqa: F401  (the throwaway keys fixture)

ARM = "aarch64-pc-windows-gnullvm"
ZIP = f"wavry-demo-0.1.0-{ARM}.zip"
IMAGE_FILE_MACHINE_ARM64 = 0xAA64


def _coff(exe: bytes) -> tuple[int, int]:
    """The PE file header's Machine and TimeDateStamp fields."""
    assert exe[:2] == b"MZ"
    pe = struct.unpack_from("<I", exe, 0x3C)[0]
    assert exe[pe:pe + 4] == b"PE\0\0"
    machine, _sections, stamp = struct.unpack_from("<HHI", exe, pe + 4)
    return int(machine), int(stamp)


def _machine(exe: bytes) -> int:
    return _coff(exe)[0]


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory, cargo_target_dir: Path, keys: Keys):  # noqa: F811
    head = (REPO / "targets.toml").read_text().split("[targets.", 1)[0]
    text = head + f"""[targets.{ARM}]

[package]
format = "tar.gz"
include = ["README.md", "LICENSE"]

[sign]
methods = ["authenticode"]

[sign.authenticode]
pkcs12 = "{keys.dir / 'code.p12'}"
ca = "{keys.dir / 'code.pem'}"
"""
    root = write_project(tmp_path_factory.mktemp("winarm") / "p", text)
    git_commit(root)
    env = {"CARGO_TARGET_DIR": str(cargo_target_dir), "WAVRYBUILD_AUTHENTICODE_PASSWORD": PASS}
    done = invoke("release", "--no-publish", "--target", ARM, cwd=root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return root, done.stdout + done.stderr


def test_arm64_windows_is_built_signed_zipped_and_not_run(released, keys: Keys, tmp_path: Path) -> None:  # noqa: F811
    root, output = released
    dist = root / "dist"
    record = json.loads((dist / ".wavrybuild/build.json").read_text())["targets"][ARM]
    assert record["builder"] == "zigbuild"
    unsigned = (dist / ".wavrybuild/bin" / ARM / "wavry-demo.exe").read_bytes()
    assert _machine(unsigned) == IMAGE_FILE_MACHINE_ARM64
    # Reproducible: no link time in the header (lld's -Brepro; without it a rebuild differs by it).
    assert abs(_coff(unsigned)[1] - time.time()) > 30 * 86400, _coff(unsigned)
    with zipfile.ZipFile(dist / ZIP) as zf:
        names = zf.namelist()
        exe = zf.read(next(n for n in names if n.endswith("/wavry-demo.exe")))
    assert any(n.endswith("/wavry-hello.exe") for n in names) and any(n.endswith("/LICENSE") for n in names)
    assert exe != unsigned and _machine(exe) == IMAGE_FILE_MACHINE_ARM64  # the signed copy went in
    (tmp_path / "x.exe").write_bytes(exe)
    done = subprocess.run(["osslsigncode", "verify", "-in", str(tmp_path / "x.exe"), "-CAfile",
                           str(keys.dir / "code.pem")], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "Signature verification: ok" in done.stdout, done.stdout + done.stderr
    manifest = json.loads((dist / "manifest.json").read_text())
    (art,) = [a for a in manifest["artifacts"] if a["target"] == ARM and a["kind"] == "archive"]
    assert art["path"] == ZIP and art["authenticode"]
    assert ZIP in (dist / "SHA256SUMS").read_text()
    # No Windows here: the smoke run is skipped, saying why, and does not fail the release.
    assert "Windows binaries need Windows" in output
    assert PASS not in output
