"""npm publishing through the HTTP layer, against a real registry (verdaccio on localhost), checked
with the real npm CLI: what `publish_npm` PUTs is what `npm publish` would, so npm can view and
install it. Small hand-made tarballs: no cargo, no Rust (test_npm.py covers the built packages)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.servers import Registry, verdaccio
from wavrybuild.config.npm import NpmConfig, NpmName
from wavrybuild.config.values import HttpUrl
from wavrybuild.errors import WavryError
from wavrybuild.manifest import Artifact
from wavrybuild.publish.npm import publish_npm

pytestmark = pytest.mark.integration
TOKEN_ENV = "WAVRY_TEST_NPM_HTTP_TOKEN"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with verdaccio(tmp_path_factory.mktemp("verdaccio")) as reg:
        yield reg


def tarball(dist: Path, name: str, version: str, note: str = "") -> Artifact:
    """A package like `invoke npm` writes: package/package.json and a file, gzipped tar."""
    pkg = {"name": name, "version": version, "description": "a test package" + note, "license": "MIT",
           "files": ["index.js"]}
    files = {"package/package.json": json.dumps(pkg).encode(), "package/index.js": f"module.exports = {json.dumps(note)};\n".encode()}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    file = f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / file).write_bytes(buf.getvalue())
    return Artifact("", "", "npm", "tgz", file, len(buf.getvalue()), hashlib.sha256(buf.getvalue()).hexdigest())


def config(registry: Registry, name: str) -> NpmConfig:
    return NpmConfig(NpmName.parse(name), None, HttpUrl.parse(registry.url), TOKEN_ENV, "public", None)


def npm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "npm_config_cache": str(cwd / ".npm-cache"), "npm_config_update_notifier": "false"}
    return subprocess.run(["npm", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_publish_view_install_and_rerun(registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, registry.token)
    dist = tmp_path / "dist"
    art = tarball(dist, "@wavry/http-tiny", "0.1.0", "one")
    logged: list[str] = []
    rows = publish_npm(config(registry, "@wavry/http-tiny"), dist, [art], dry=False, log=logged.append)
    assert rows == [(art.path, "published", f"@wavry/http-tiny@0.1.0 → {registry.url}")]
    assert registry.token not in "\n".join(logged)

    # npm itself sees the version with our integrity, and installs it.
    view = npm("view", "@wavry/http-tiny@0.1.0", "dist.integrity", "dist-tags.latest", "--json", "--registry", registry.url,
               cwd=tmp_path)
    assert view.returncode == 0, view.stderr
    integrity = "sha512-" + base64.b64encode(hashlib.sha512((dist / art.path).read_bytes()).digest()).decode()
    assert json.loads(view.stdout) == {"dist.integrity": integrity, "dist-tags.latest": "0.1.0"}
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text('{"name": "app", "version": "1.0.0"}')
    done = npm("install", "@wavry/http-tiny@0.1.0", "--registry", registry.url, cwd=app)
    assert done.returncode == 0, done.stderr
    assert (app / "node_modules/@wavry/http-tiny/index.js").read_text() == 'module.exports = "one";\n'

    # A rerun sends nothing: the registry already has these bytes.
    rows = publish_npm(config(registry, "@wavry/http-tiny"), dist, [art], dry=False, log=logged.append)
    assert rows == [(art.path, "skipped", "@wavry/http-tiny@0.1.0 already published")]


def test_other_bytes_under_a_published_version_are_refused(registry: Registry, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, registry.token)
    first = tarball(tmp_path / "a", "http-tiny-plain", "1.0.0", "first")
    publish_npm(config(registry, "http-tiny-plain"), tmp_path / "a", [first], dry=False, log=lambda _: None)
    other = tarball(tmp_path / "b", "http-tiny-plain", "1.0.0", "second")
    with pytest.raises(WavryError) as err:
        publish_npm(config(registry, "http-tiny-plain"), tmp_path / "b", [other], dry=False, log=lambda _: None)
    assert f"already on {registry.url} with other contents" in str(err.value)


def test_prerelease_goes_under_next_and_a_bad_token_is_one_clear_error(registry: Registry, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, registry.token)
    art = tarball(tmp_path / "dist", "@wavry/http-pre", "2.0.0-rc.1")
    publish_npm(config(registry, "@wavry/http-pre"), tmp_path / "dist", [art], dry=False, log=lambda _: None)
    view = npm("view", "@wavry/http-pre", "dist-tags", "--json", "--registry", registry.url, cwd=tmp_path)
    # (verdaccio also points `latest` at a package's only version, whatever tag it came with)
    assert json.loads(view.stdout)["next"] == "2.0.0-rc.1"

    bad = "not-a-token/" + registry.token[::-1]
    monkeypatch.setenv(TOKEN_ENV, bad)
    art = tarball(tmp_path / "dist2", "@wavry/http-refused", "1.0.0")
    with pytest.raises(WavryError) as err:
        publish_npm(config(registry, "@wavry/http-refused"), tmp_path / "dist2", [art], dry=False, log=lambda _: None)
    text = str(err.value)
    assert "npm: @wavry/http-refused@1.0.0" in text and "HTTP 40" in text, text
    assert bad not in text and base64.b64encode(bad.encode()).decode() not in text
