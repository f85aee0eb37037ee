"""Pull-deploy (wavrybuild/pulldeploy.py, standard library only) against a real nginx serving a
release directory over https (a throwaway certificate the script trusts through SSL_CERT_FILE):
first deploy, no-op rerun, a new version switched to atomically, a tampered asset, a bad signature
and a hostile archive refused with the served version untouched, a redirect followed within https
and refused from https down to http, a run SIGKILLed mid-download leaving the served directory
intact, and a reader that never misses a file while the live version is deployed again and again.
(Servers that misbehave on purpose: tests/unit/test_pulldeploy_hostile.py.)"""

from __future__ import annotations

import ast
import hashlib
import io
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port
from tests.integration.servers import nginx

pytestmark = pytest.mark.integration

SCRIPT = REPO / "wavrybuild/pulldeploy.py"
ASSET = "website-build.tar.gz"


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate for 127.0.0.1: nginx serves it, the script trusts it via SSL_CERT_FILE."""
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")], check=True, capture_output=True)
    return d


@dataclass
class Server:
    https: str  # https://127.0.0.1:<port>
    http: str  # the same files over plain http
    release: Path  # the directory served at /release/ (and /slow/, rate-limited)
    cert: Path


@pytest.fixture
def server(tmp_path: Path, cert: Path) -> Iterator[Server]:
    d = tmp_path / "nginx"
    (d / "www/release").mkdir(parents=True)
    tls, plain = free_port(), free_port()
    block = f"""
        listen 127.0.0.1:{tls} ssl;
        listen 127.0.0.1:{plain};
        ssl_certificate {cert}/cert.pem;
        ssl_certificate_key {cert}/key.pem;
        location /slow/ {{ alias {d}/www/release/; limit_rate 256k; }}
        location ~ ^/moved/(.*)$ {{ return 302 https://127.0.0.1:{tls}/release/$1; }}
        location ~ ^/downgrade/(.*)$ {{ return 302 http://127.0.0.1:{plain}/release/$1; }}
"""
    with nginx(d, block):
        yield Server(f"https://127.0.0.1:{tls}", f"http://127.0.0.1:{plain}", d / "www/release", cert / "cert.pem")


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


def argv(url: str, root: Path, *extra: str) -> list[str]:
    # The script alone, as copied onto a server: no wavrybuild on its path.
    return [sys.executable, "-I", str(SCRIPT), "--url", url, "--asset", ASSET, "--dir", str(root), *extra]


def deploy(srv: Server, url: str, root: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv(url, root, "--keep", "2", *extra), capture_output=True, text=True, timeout=120,
                          check=False, env={**os.environ, "SSL_CERT_FILE": str(srv.cert)})


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


def test_deploy_noop_switch_and_refusals(tmp_path: Path, server: Server) -> None:
    release = server.release
    url, root = f"{server.https}/release", tmp_path / "srv"
    v1 = publish(release, {"index.html": b"<h1>one</h1>", "assets/app.js": b"1"})
    done = deploy(server, url, root)
    assert done.returncode == 0, done.stderr
    assert served(root) == {"index.html": b"<h1>one</h1>", "assets/app.js": b"1"}
    assert os.readlink(root / "current") == f"versions/{v1[:16]}"
    again = deploy(server, url, root)
    assert again.returncode == 0 and "unchanged" in again.stdout

    v2 = publish(release, {"index.html": b"<h1>two</h1>"})
    assert deploy(server, url, root).returncode == 0
    assert served(root) == {"index.html": b"<h1>two</h1>"} and os.readlink(root / "current") == f"versions/{v2[:16]}"
    v3 = publish(release, {"index.html": b"<h1>three</h1>"})
    assert deploy(server, url, root).returncode == 0
    assert sorted(p.name for p in (root / "versions").iterdir()) == sorted([v2[:16], v3[:16]])  # --keep 2

    # Tampered: a new release whose asset's bytes no longer match its SHA256SUMS.
    publish(release, {"index.html": b"<h1>four</h1>"})
    data = bytearray((release / ASSET).read_bytes())
    data[-5] ^= 0xFF
    (release / ASSET).write_bytes(bytes(data))
    bad = deploy(server, url, root)
    assert bad.returncode == 1 and "does not match SHA256SUMS" in bad.stderr and "Traceback" not in bad.stderr
    assert served(root) == {"index.html": b"<h1>three</h1>"} and not list(root.glob(".incoming-*"))

    # Hostile archives, correctly checksummed: refused whole.
    up = tarfile.TarInfo("website-build/../../escape.txt")
    up.size = 1
    link = tarfile.TarInfo("website-build/passwd")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    for member, why in ((up, "outside the directory"), (link, "is a link")):
        publish(release, {"index.html": b"evil"}, members=[member])
        bad = deploy(server, url, root)
        assert bad.returncode == 1 and why in bad.stderr, bad.stderr
        assert served(root) == {"index.html": b"<h1>three</h1>"}
    assert not (tmp_path / "escape.txt").exists()


def test_minisign_signature_is_required_when_a_key_is_given(tmp_path: Path, server: Server) -> None:
    """Over plain http, which a key makes acceptable: the signature vouches for SHA256SUMS, and
    SHA256SUMS for the asset."""
    keys = tmp_path / "keys"
    keys.mkdir()
    subprocess.run(["minisign", "-G", "-W", "-p", str(keys / "k.pub"), "-s", str(keys / "k.key")], check=True,
                   capture_output=True)
    publish(server.release, {"index.html": b"signed"})
    subprocess.run(["minisign", "-S", "-s", str(keys / "k.key"), "-m", str(server.release / "SHA256SUMS")], check=True,
                   capture_output=True)
    root = tmp_path / "srv"
    done = deploy(server, f"{server.http}/release", root, "--minisign-key", str(keys / "k.pub"))
    assert done.returncode == 0, done.stderr
    # A new SHA256SUMS (for a swapped asset) that the key did not sign: refused.
    publish(server.release, {"index.html": b"swapped"})
    bad = deploy(server, f"{server.http}/release", root, "--minisign-key", str(keys / "k.pub"))
    assert bad.returncode == 1 and "signature does not verify" in bad.stderr and bad.stderr.count("\n") == 1
    assert served(root) == {"index.html": b"signed"}


def test_redirects_stay_on_https(tmp_path: Path, server: Server) -> None:
    """A release host's redirect within https is followed (GitHub sends downloads to another host);
    one from https down to http is refused, --insecure or not (today it is followed)."""
    root = tmp_path / "srv"
    publish(server.release, {"index.html": b"one"})
    done = deploy(server, f"{server.https}/moved", root)
    assert done.returncode == 0, done.stderr
    assert served(root) == {"index.html": b"one"}
    publish(server.release, {"index.html": b"two"})
    for extra in ((), ("--insecure",)):
        bad = deploy(server, f"{server.https}/downgrade", root, *extra)
        assert bad.returncode == 1 and "from https to plain http is refused" in bad.stderr, bad.stderr
        assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
        assert served(root) == {"index.html": b"one"}
    # A certificate the system does not trust: one line, not a traceback.
    untrusted = subprocess.run(argv(f"{server.https}/release", root), capture_output=True, text=True, timeout=60,
                               check=False, env={k: v for k, v in os.environ.items() if k != "SSL_CERT_FILE"})
    assert untrusted.returncode == 1 and "TLS certificate is not trusted" in untrusted.stderr, untrusted.stderr
    assert untrusted.stderr.count("\n") == 1
    # The same files over that plain http work when the operator says so: the refusal is the downgrade's.
    assert deploy(server, f"{server.http}/release", root, "--insecure").returncode == 0
    assert served(root) == {"index.html": b"two"}


def test_kill_mid_download_leaves_the_served_version(tmp_path: Path, server: Server) -> None:
    root = tmp_path / "srv"
    publish(server.release, {"index.html": b"old"})
    assert deploy(server, f"{server.https}/release", root).returncode == 0
    publish(server.release, {"index.html": b"new", "big.bin": os.urandom(4 << 20)})  # ~16 s at 256 KiB/s
    proc = subprocess.Popen(argv(f"{server.https}/slow", root), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "SSL_CERT_FILE": str(server.cert)})
    deadline = time.monotonic() + 60
    while not any(p.stat().st_size > 0 for p in root.glob(".incoming-*/asset")):
        assert proc.poll() is None and time.monotonic() < deadline, "the download never started"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert served(root) == {"index.html": b"old"}
    done = deploy(server, f"{server.https}/release", root)
    assert done.returncode == 0, done.stderr
    assert served(root)["index.html"] == b"new" and not list(root.glob(".incoming-*"))


def test_redeploying_the_live_version_never_breaks_a_reader(tmp_path: Path, server: Server) -> None:
    """Stage, switch, then prune: a reader going through `current` all along never misses a file
    while the live version is deployed again (--force, or because its marker is gone — today that
    removes the served directory before putting it back: 158 failed reads in 8,796) and then a new
    one."""
    url, root = f"{server.https}/release", tmp_path / "srv"
    one = {"index.html": b"<h1>one</h1>", "assets/app.js": b"1" * 4096}
    two = {"index.html": b"<h1>two</h1>", "assets/app.js": b"2" * 4096}
    publish(server.release, one)
    assert deploy(server, url, root).returncode == 0
    good = {rel: {one[rel], two[rel]} for rel in one}
    reads, failures, stop = [0], [], threading.Event()

    def reader() -> None:
        while not stop.is_set():
            for rel, ok in good.items():
                try:
                    data = (root / "current" / rel).read_bytes()
                except OSError as exc:
                    failures.append(f"{rel}: {exc}")
                    continue
                if data not in ok:
                    failures.append(f"{rel}: {data[:20]!r}")
                reads[0] += 1

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        for i in range(6):
            if i % 2:
                (root / "current/.pulldeploy-sha256").unlink()
                done = deploy(server, url, root)
            else:
                done = deploy(server, url, root, "--force")
            assert done.returncode == 0 and "deployed" in done.stdout, done.stderr
            assert served(root) == one
        publish(server.release, two)
        for extra in ((), ("--force",), ("--force",)):
            done = deploy(server, url, root, *extra)
            assert done.returncode == 0 and "deployed" in done.stdout, done.stderr
    finally:
        stop.set()
        thread.join()
    assert failures == [], f"{len(failures)} failed reads of {reads[0]}: {failures[:5]}"
    assert reads[0] > 500, reads[0]  # the reader really ran through the deploys
    assert served(root) == two
    # --keep 2, plus the version replaced by the last switch (it goes on the next run).
    assert len(list((root / "versions").iterdir())) <= 3
