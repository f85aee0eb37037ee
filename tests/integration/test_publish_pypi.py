"""[publish.pypi]: the release's wheels uploaded to a real pypiserver on localhost (with password
auth: only the right token may upload), idempotently; then installed with pip and run. Trusted
publishing is tested against a FAKE of GitHub Actions' OIDC token endpoint and of PyPI's
/_/oidc/ endpoints (neither can be reached from here), shaped as their public docs describe; the
minted token then has to be accepted by the real pypiserver."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import invoke
from tests.integration.conftest import Release
from tests.integration.servers import JsonReplies, pypiserver
from wavrybuild.config import load
from wavrybuild.errors import ConfigError
from wavrybuild.publish.upload import PublishError, publish

TOKEN = "pypi-AgEIcHlwaS5vcmcUploadToken5e1f"  # distinctive: a leak is found by a plain search
MINTED = "pypi-MintedShortLivedToken9b7c"
JWT = "eyJhbGciOiJSUzI1NiJ9.fake-github-actions-identity.sig"
REQUEST_TOKEN = "gha-request-token-0d4e"


@pytest.fixture(scope="module")
def wheels(packaged: Release, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pypi") / "p"
    shutil.copytree(packaged.root, root, symlinks=True)
    for task in ("wheel", "checksum"):
        done = invoke(task, cwd=root, env=packaged.env)
        assert done.returncode == 0, done.stdout + done.stderr
    return root


def _project(tmp_path: Path, wheels: Path, index: str, extra: str = "") -> Path:
    root = tmp_path / "p"
    shutil.copytree(wheels, root, symlinks=True)
    with (root / "targets.toml").open("a") as f:
        f.write(f'\n[publish.pypi]\nrepository-url = "{index}/"\ntoken-env = "TEST_PYPI_TOKEN"\n{extra}')
    return root


def _htpasswd(path: Path, password: str) -> Path:
    from passlib.apache import HtpasswdFile

    ht = HtpasswdFile(str(path), new=True)
    ht.set_password("__token__", password)
    ht.save()
    return path


def _run(root: Path) -> tuple[list[Any], list[str]]:
    cfg = load(root / "targets.toml")
    lines: list[str] = []
    return publish(cfg, cfg.project.dist_dir, only=("pypi",), log=lines.append), lines


def _wheel_names(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "dist").glob("*.whl"))


def test_upload_rerun_install_and_run(tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    packages = tmp_path / "index"
    with pypiserver(packages, auth=_htpasswd(tmp_path / "htpasswd", TOKEN)) as url:
        root = _project(tmp_path, wheels, url)
        monkeypatch.setenv("TEST_PYPI_TOKEN", TOKEN.replace("Upload", "Wrong"))
        with pytest.raises(PublishError) as refused:
            _run(root)
        assert "HTTP 403" in str(refused.value) and "Wrong" not in str(refused.value)

        monkeypatch.setenv("TEST_PYPI_TOKEN", TOKEN)
        results, lines = _run(root)
        names = _wheel_names(root)
        assert len(names) >= 4 and [r.file for r in results] == names
        assert {r.action for r in results} == {"uploaded"}
        assert sorted(p.name for p in packages.iterdir()) == names
        for name in names:
            assert (packages / name).read_bytes() == (root / "dist" / name).read_bytes()
        assert all(TOKEN not in line for line in lines)

        again, _ = _run(root)
        assert {r.action for r in again} == {"skipped"} and len(again) == len(names)

        venv = tmp_path / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = subprocess.run([str(venv / "bin/pip"), "install", "--no-cache-dir", "--index-url", url + "/simple/",
                              "wavry-demo==0.1.0"], capture_output=True, text=True, check=False)
        assert pip.returncode == 0, pip.stdout + pip.stderr
    out = subprocess.run([str(venv / "bin/wavry-demo")], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "wavry-demo 0.1.0 (x86_64-unknown-linux-gnu)"


def test_other_bytes_under_the_same_name_are_refused(tmp_path: Path, wheels: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    packages = tmp_path / "index"
    packages.mkdir()
    name = _wheel_names(wheels)[0]
    # What someone uploaded earlier under this file name: other bytes.
    with zipfile.ZipFile(packages / name, "w") as zf:
        zf.writestr("wavry_demo-0.1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: wavry-demo\nVersion: 0.1.0\n")
    with pypiserver(packages, auth=_htpasswd(tmp_path / "htpasswd", TOKEN)) as url:
        root = _project(tmp_path, wheels, url)
        monkeypatch.setenv("TEST_PYPI_TOKEN", TOKEN)
        with pytest.raises(PublishError) as exc:
            _run(root)
    assert f"pypi: {name} is already on" in str(exc.value) and "other contents" in str(exc.value)
    assert "never replaces" in (exc.value.hint or "")


def test_killed_publish_then_rerun_completes_without_duplicates(tmp_path: Path, wheels: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    packages = tmp_path / "index"
    with pypiserver(packages, auth=_htpasswd(tmp_path / "htpasswd", TOKEN)) as url:
        root = _project(tmp_path, wheels, url)
        env = {"TEST_PYPI_TOKEN": TOKEN}
        script = ("import sys\nfrom wavrybuild.config import load\nfrom wavrybuild.publish import publish\n"
                  "cfg = load(sys.argv[1])\npublish(cfg, cfg.project.dist_dir, only=('pypi',))\n")
        proc = subprocess.Popen([sys.executable, "-c", script, str(root / "targets.toml")],
                                env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not any(packages.glob("*.whl")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        first = sorted(p.name for p in packages.glob("*.whl"))
        monkeypatch.setenv("TEST_PYPI_TOKEN", TOKEN)
        results, _ = _run(root)
        names = _wheel_names(root)
        assert sorted(p.name for p in packages.iterdir()) == names  # complete, nothing extra or partial
        assert [r.action for r in results if r.file in first] == ["skipped"] * len(first)
        for name in names:
            assert (packages / name).read_bytes() == (root / "dist" / name).read_bytes()


class FakeOidc:
    """A FAKE (neither can run here) of GitHub Actions' ID-token endpoint
    (GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=…, Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN
    → {"count": …, "value": JWT}) and of PyPI's trusted-publishing endpoints (GET /_/oidc/audience →
    {"audience": "pypi"}; POST /_/oidc/mint-token {"token": JWT} → {"success": true, "token": …},
    or 422 {"message": "Token request failed", "errors": [{"code", "description"}]})."""

    def __init__(self, trusted: bool = True) -> None:
        self.trusted = trusted
        self.calls: list[str] = []
        fake = self

        class Handler(JsonReplies):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                fake.calls.append("GET " + url.path)
                if url.path == "/gha/token":
                    ok = self.headers.get("Authorization") == f"bearer {REQUEST_TOKEN}"
                    aud = parse_qs(url.query).get("audience", [""])[0]
                    self.send(200, {"count": 1, "value": JWT}) if ok and aud == "pypi" else self.send(401, {})
                elif url.path == "/_/oidc/audience":
                    self.send(200, {"audience": "pypi"})
                else:
                    self.send(404, {"message": "Not Found"})

            def do_POST(self) -> None:
                fake.calls.append("POST " + self.path)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                if self.path == "/_/oidc/mint-token" and body.get("token") == JWT and fake.trusted:
                    self.send(200, {"success": True, "token": MINTED, "expires": 900})
                else:
                    self.send(422, {"message": "Token request failed", "errors": [
                        {"code": "invalid-publisher", "description": "valid token, but no corresponding publisher"}]})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def oidc() -> Iterator[FakeOidc]:
    fake = FakeOidc()
    yield fake
    fake.close()


def test_trusted_publishing_mints_the_upload_token(tmp_path: Path, wheels: Path, oidc: FakeOidc,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    packages = tmp_path / "index"
    with pypiserver(packages, auth=_htpasswd(tmp_path / "htpasswd", MINTED)) as url:
        root = _project(tmp_path, wheels, url, extra=f'oidc-url = "{oidc.url}"\n')
        monkeypatch.delenv("TEST_PYPI_TOKEN", raising=False)
        # Outside CI: no token, no identity: one clear error naming both ways.
        with pytest.raises(ConfigError) as none:
            _run(root)
        assert "TEST_PYPI_TOKEN is not set" in str(none.value) and "id-token: write" in (none.value.hint or "")
        monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", f"{oidc.url}/gha/token?api-version=2.0")
        monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN)
        oidc.calls.clear()
        results, lines = _run(root)
        assert {r.action for r in results} == {"uploaded"}
        assert sorted(p.name for p in packages.iterdir()) == _wheel_names(root)
        assert oidc.calls == ["GET /_/oidc/audience", "GET /gha/token", "POST /_/oidc/mint-token"]
        for text in lines:
            assert MINTED not in text and JWT not in text and REQUEST_TOKEN not in text
        # GitLab CI: the job's ID token is in the variable `id_tokens:` names (PYPI_ID_TOKEN by default).
        monkeypatch.delenv("ACTIONS_ID_TOKEN_REQUEST_URL")
        monkeypatch.delenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        monkeypatch.setenv("PYPI_ID_TOKEN", JWT)
        oidc.calls.clear()
        again, _ = _run(root)
        assert {r.action for r in again} == {"skipped"}
        assert oidc.calls == ["GET /_/oidc/audience", "POST /_/oidc/mint-token"]
        oidc.trusted = False
        with pytest.raises(PublishError) as refused:
            _run(root)
        assert "trusted publishing refused" in str(refused.value) and "no corresponding publisher" in str(refused.value)
        assert JWT not in str(refused.value)
