"""Pull-deploy (wavrybuild/pulldeploy.py, standard library only) against a real nginx serving a
release directory: first deploy, no-op rerun, a new version switched to atomically, a tampered
asset, a bad signature and a hostile archive refused with the served version untouched, and a run
SIGKILLed mid-download leaving the served directory intact."""

from __future__ import annotations

import ast
import hashlib
import io
import os
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.servers import nginx

SCRIPT = REPO / "wavrybuild/pulldeploy.py"
ASSET = "website-build.tar.gz"
@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    d = tmp_path / "nginx"
    (d / "www/release").mkdir(parents=True)
    with nginx(d, "        location /slow/ { alias {d}/www/release/; limit_rate 256k; }") as url:
        yield url, d / "www/release"


def publish(release: Path, files: dict[str, bytes], *, extra: dict[str, bytes] | None = None,
            members: list[tarfile.TarInfo] | None = None) -> str:
    """A release directory: the website archive and SHA256SUMS (as `invoke release` publishes them)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(f"website-build/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for m in members or []:
            tar.addfile(m, io.BytesIO(b"x" * m.size) if m.isfile() else None)
    data = buf.getvalue()
    (release / ASSET).write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    sums = f"{sha}  {ASSET}\n" + "".join(f"{hashlib.sha256(v).hexdigest()}  {k}\n" for k, v in (extra or {}).items())
    (release / "SHA256SUMS").write_text(sums)
    return sha


def deploy(url: str, root: Path, *extra: str) -> subprocess.CompletedProcess:
    # The script alone, as copied onto a server: no wavrybuild on its path.
    return subprocess.run([sys.executable, "-I", str(SCRIPT), "--url", url, "--asset", ASSET, "--dir", str(root),
                           "--keep", "2", *extra], capture_output=True, text=True, timeout=120, check=False)


def served(root: Path) -> dict[str, bytes]:
    cur = root / "current"
    return {str(p.relative_to(cur)): p.read_bytes() for p in sorted(cur.rglob("*"))
            if p.is_file() and p.name != ".pulldeploy-sha256"}


def test_script_needs_only_the_standard_library() -> None:
    tree = ast.parse(SCRIPT.read_text())
    imported = {n.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for n in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert imported - {"__future__"} <= sys.stdlib_module_names, imported - sys.stdlib_module_names


def test_deploy_noop_switch_and_refusals(tmp_path: Path, server: tuple[str, Path]) -> None:
    base, release = server
    url, root = f"{base}/release", tmp_path / "srv"
    v1 = publish(release, {"index.html": b"<h1>one</h1>", "assets/app.js": b"1"})
    done = deploy(url, root)
    assert done.returncode == 0, done.stderr
    assert served(root) == {"index.html": b"<h1>one</h1>", "assets/app.js": b"1"}
    assert os.readlink(root / "current") == f"versions/{v1[:16]}"
    again = deploy(url, root)
    assert again.returncode == 0 and "unchanged" in again.stdout

    v2 = publish(release, {"index.html": b"<h1>two</h1>"})
    assert deploy(url, root).returncode == 0
    assert served(root) == {"index.html": b"<h1>two</h1>"} and os.readlink(root / "current") == f"versions/{v2[:16]}"
    v3 = publish(release, {"index.html": b"<h1>three</h1>"})
    assert deploy(url, root).returncode == 0
    assert sorted(p.name for p in (root / "versions").iterdir()) == sorted([v2[:16], v3[:16]])  # --keep 2

    # Tampered: a new release whose asset's bytes no longer match its SHA256SUMS.
    publish(release, {"index.html": b"<h1>four</h1>"})
    data = bytearray((release / ASSET).read_bytes())
    data[-5] ^= 0xFF
    (release / ASSET).write_bytes(bytes(data))
    bad = deploy(url, root)
    assert bad.returncode == 1 and "does not match SHA256SUMS" in bad.stderr and "Traceback" not in bad.stderr
    assert served(root) == {"index.html": b"<h1>three</h1>"} and not list(root.glob(".incoming-*"))

    # Hostile archives, correctly checksummed: refused whole.
    up = tarfile.TarInfo("website-build/../../escape.txt")
    up.size = 1
    link = tarfile.TarInfo("website-build/passwd")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    for member, why in ((up, "outside the directory"), (link, "is a link")):
        publish(release, {"index.html": b"evil"}, members=[member])
        bad = deploy(url, root)
        assert bad.returncode == 1 and why in bad.stderr, bad.stderr
        assert served(root) == {"index.html": b"<h1>three</h1>"}
    assert not (tmp_path / "escape.txt").exists()


def test_minisign_signature_is_required_when_a_key_is_given(tmp_path: Path, server: tuple[str, Path]) -> None:
    base, release = server
    keys = tmp_path / "keys"
    keys.mkdir()
    subprocess.run(["minisign", "-G", "-W", "-p", str(keys / "k.pub"), "-s", str(keys / "k.key")], check=True,
                   capture_output=True)
    publish(release, {"index.html": b"signed"})
    subprocess.run(["minisign", "-S", "-s", str(keys / "k.key"), "-m", str(release / "SHA256SUMS")], check=True,
                   capture_output=True)
    root = tmp_path / "srv"
    done = deploy(f"{base}/release", root, "--minisign-key", str(keys / "k.pub"))
    assert done.returncode == 0, done.stderr
    # A new SHA256SUMS (for a swapped asset) that the key did not sign: refused.
    publish(release, {"index.html": b"swapped"})
    bad = deploy(f"{base}/release", root, "--minisign-key", str(keys / "k.pub"))
    assert bad.returncode == 1 and "signature does not verify" in bad.stderr
    assert served(root) == {"index.html": b"signed"}


def test_kill_mid_download_leaves_the_served_version(tmp_path: Path, server: tuple[str, Path]) -> None:
    base, release = server
    root = tmp_path / "srv"
    publish(release, {"index.html": b"old"})
    assert deploy(f"{base}/release", root).returncode == 0
    publish(release, {"index.html": b"new", "big.bin": os.urandom(4 << 20)})  # ~16 s at 256 KiB/s
    proc = subprocess.Popen([sys.executable, "-I", str(SCRIPT), "--url", f"{base}/slow", "--asset", ASSET,
                             "--dir", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not any(p.stat().st_size > 0 for p in root.glob(f".incoming-*/{ASSET}")):
        assert proc.poll() is None and time.monotonic() < deadline, "the download never started"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert served(root) == {"index.html": b"old"}
    done = deploy(f"{base}/release", root)
    assert done.returncode == 0, done.stderr
    assert served(root)["index.html"] == b"new" and not list(root.glob(".incoming-*"))
