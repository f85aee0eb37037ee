"""Publishing the packaged demo release: to a directory, to a real nginx (WebDAV PUT) and to GitHub.

Every destination is published to, checked byte for byte, published to again (everything skipped),
and interrupted with SIGKILL in the middle of a large upload, after which a rerun completes the
release with nothing missing, partial, extra or duplicated. GitHub cannot be reached from here, so
its REST API is a local fake (see FakeGitHub).
"""

from __future__ import annotations

import filecmp
import hashlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import REPO, invoke
from tests.integration import servers
from tests.integration.conftest import Release
from tests.integration.servers import local_server
from wavrybuild.checksum import SIDECAR_SUFFIX, SIGNATURE_SUFFIXES, SUMS_NAME
from wavrybuild.config import load
from wavrybuild.errors import ConfigError
from wavrybuild.manifest import MANIFEST_NAME, Artifact, Manifest
from wavrybuild.publish.upload import PublishError, PublishResult, publish

MiB = 1 << 20
BIG = "wavry-demo-0.1.0-big.bin"  # sorts between the aarch64 and x86_64 archives: mid-release
TOKEN = "ghp_T0kenThatMustNeverBeSeen7f3a9cQ"  # distinctive, so a leak is found by a plain search

# Runs publish() the way the coming `invoke publish` task will, in its own process so it can be killed.
PUBLISHER = """
import sys
from wavrybuild.config import load
from wavrybuild.publish import publish
cfg = load(sys.argv[1])
publish(cfg, cfg.project.dist_dir, only=(sys.argv[2],), log=lambda line: print(line, flush=True))
"""


# --- the release under test ---------------------------------------------------------------------------

def make_project(tmp_path: Path, packaged: Release, big: int = 0) -> Path:
    """A copy of the packaged demo (never write to the shared fixture) with sidecars and a real ssh
    signature of SHA256SUMS; `big` bytes of random data as an extra artifact make uploads slow."""
    root = tmp_path / "project"
    shutil.copytree(packaged.root, root, symlinks=True)
    dist = root / "dist"
    if big:
        path = dist / BIG
        h = hashlib.sha256()
        with path.open("wb") as f:
            for _ in range(big // MiB):
                chunk = os.urandom(MiB)
                h.update(chunk)
                f.write(chunk)
        manifest = Manifest.load(dist)
        assert manifest is not None
        manifest.artifacts.append(Artifact(target="big", triple="x86_64-unknown-linux-gnu", kind="archive",
                                           format="bin", path=BIG, size=big, sha256=h.hexdigest()))
        manifest.save(dist)
    done = invoke("checksum", "--sidecars", cwd=root, env=packaged.env)
    assert done.returncode == 0, done.stderr
    key = tmp_path / "id_ed25519"
    for argv in (["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "release", "-f", str(key)],
                 ["ssh-keygen", "-q", "-Y", "sign", "-f", str(key), "-n", "file", str(dist / SUMS_NAME)]):
        ran = subprocess.run(argv, capture_output=True, text=True, check=False)
        assert ran.returncode == 0, ran.stderr
    return root


def add_publish(root: Path, toml: str) -> None:
    with (root / "targets.toml").open("a") as f:
        f.write("\n" + toml)


def release_files(dist: Path) -> list[str]:
    """What must be published, in the required order: artifacts, their sidecars and signatures,
    SHA256SUMS' signatures, SHA256SUMS, manifest.json."""
    manifest = Manifest.load(dist)
    assert manifest is not None
    artifacts = [a.path for a in manifest.artifacts]
    extras = [n + s for n in artifacts for s in (SIDECAR_SUFFIX, *SIGNATURE_SUFFIXES) if (dist / (n + s)).exists()]
    extras += [SUMS_NAME + s for s in SIGNATURE_SUFFIXES if (dist / (SUMS_NAME + s)).exists()]
    names = artifacts + extras + [SUMS_NAME, MANIFEST_NAME]
    # Independently of that recipe: every (non-hidden) file in dist/ is in it.
    assert sorted(names) == sorted(p.name for p in dist.iterdir() if p.is_file() and not p.name.startswith("."))
    assert any(n.endswith(SIDECAR_SUFFIX) for n in names) and SUMS_NAME + ".sig" in names
    return names


def files_under(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())


def assert_same_files(published: Path, dist: Path, names: list[str]) -> None:
    assert files_under(published) == sorted(names), "missing or extra files"
    for n in names:
        assert filecmp.cmp(published / n, dist / n, shallow=False), n


def sha256sum_check(directory: Path) -> None:
    done = subprocess.run(["sha256sum", "--strict", "-c", SUMS_NAME], cwd=directory, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": OK") == len(done.stdout.splitlines()) > 0


def run(root: Path, only: tuple[str, ...] = (), dry: bool = False) -> tuple[list[PublishResult], list[str]]:
    cfg = load(root / "targets.toml")
    lines: list[str] = []
    results = publish(cfg, cfg.project.dist_dir, only=only, dry=dry, log=lines.append)
    assert len(lines) == len(results)
    return results, lines


def uploads(results: list[PublishResult]) -> list[PublishResult]:
    """The results for files (not the rows about the GitHub release itself)."""
    return [r for r in results if not r.file.startswith("release ")]


def actions(results: list[PublishResult]) -> dict[str, str]:
    return {r.file: r.action for r in results}


def start_publisher(root: Path, only: str, tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    full = {**os.environ, **(env or {})}
    full.pop("GITHUB_ACTIONS", None)
    with (tmp_path / "publisher.out").open("wb") as out:
        return subprocess.Popen([sys.executable, "-c", PUBLISHER, str(root / "targets.toml"), only],
                                cwd=REPO, env=full, stdout=out, stderr=subprocess.STDOUT)


def kill_when(proc: subprocess.Popen, ready: Callable[[], bool], tmp_path: Path, timeout: float = 180) -> None:
    """SIGKILL the publisher as soon as `ready()` says it is in the middle of the big upload."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if ready():
                break
        except FileNotFoundError:  # a temp file vanished while we looked
            pass
        if proc.poll() is not None:
            pytest.fail("the publisher ended before it could be killed mid-upload:\n"
                        + (tmp_path / "publisher.out").read_text())
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the big upload never started")
        time.sleep(0.001)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


def big_file_in(directory: Path) -> bool:
    return directory.is_dir() and any(p.is_file() and p.stat().st_size > 8 * MiB for p in directory.rglob("*"))


# --- directory -------------------------------------------------------------------------------------------

def directory_layout(root: Path) -> Path:
    manifest = Manifest.load(root / "dist")
    assert manifest is not None and manifest.git["commit"]
    return root.parent / "releases" / "wavry-demo" / "0.1.0" / str(manifest.git["commit"])


def test_directory_publish_rerun_and_replace(tmp_path: Path, packaged: Release) -> None:
    root = make_project(tmp_path, packaged)
    (tmp_path / "releases").mkdir()
    add_publish(root, '[publish.directory]\npath = "../releases"\n')
    dist = root / "dist"
    names = release_files(dist)
    out = directory_layout(root)

    results, lines = run(root)
    assert [r.file for r in results] == names  # the order a partial release stays honest in
    assert {r.action for r in results} == {"uploaded"} and {r.destination for r in results} == {"directory"}
    assert lines[0] == f"directory: {names[0]}: uploaded"
    assert_same_files(out, dist, names)
    sha256sum_check(out)
    assert not (tmp_path / "releases" / ".wavrybuild-tmp").exists()

    again, _ = run(root)
    assert {r.action for r in again} == {"skipped"} and len(again) == len(names)

    # Someone changed a published file (same size, different bytes): it is put back, nothing else moves.
    victim = out / names[0]
    data = bytearray(victim.read_bytes())
    data[100] ^= 0xFF
    victim.write_bytes(bytes(data))
    third, _ = run(root)
    assert actions(third)[names[0]] == "replaced"
    assert [r.action for r in third if r.file != names[0]] == ["skipped"] * (len(names) - 1)
    assert_same_files(out, dist, names)


def test_dry_run_and_only(tmp_path: Path, packaged: Release, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path, packaged)
    (tmp_path / "releases").mkdir()
    # Nothing listens on port 9 and no token is set: a dry run needs neither.
    add_publish(root, '[publish.directory]\npath = "../releases"\n'
                      '[publish.github]\nrepo = "o/n"\napi-url = "http://127.0.0.1:9"\ntoken-env = "NOT_SET_TOKEN"\n')
    monkeypatch.delenv("NOT_SET_TOKEN", raising=False)
    names = release_files(root / "dist")
    results, _ = run(root, dry=True)
    assert [(r.destination, r.action) for r in results] == (
        [("directory", "would upload")] * len(names) + [("github", "would upload")] * len(names)
        + [("github", "would publish")])  # the draft, once every asset is there
    assert results[len(names)].detail == f"o/n release v0.1.0: asset {names[0]}"
    assert files_under(tmp_path / "releases") == []

    only, _ = run(root, only=("directory",))
    assert {r.destination for r in only} == {"directory"} and len(only) == len(names)
    with pytest.raises(ConfigError, match="did you mean 'github'"):
        run(root, only=("gihub",))
    with pytest.raises(ConfigError, match="NOT_SET_TOKEN is not set"):
        run(root, only=("github",))


def test_directory_resumes_after_sigkill(tmp_path: Path, packaged: Release) -> None:
    root = make_project(tmp_path, packaged, big=200 * MiB)
    releases = tmp_path / "releases"
    releases.mkdir()
    add_publish(root, '[publish.directory]\npath = "../releases"\n')
    dist = root / "dist"
    names = release_files(dist)
    out = directory_layout(root)

    proc = start_publisher(root, "directory", tmp_path)
    kill_when(proc, lambda: big_file_in(releases / ".wavrybuild-tmp"), tmp_path)
    # Killed while copying the big file: nothing under a final name is partial, and the release
    # is visibly incomplete (no SHA256SUMS yet), not wrong.
    present = files_under(out)
    assert BIG not in present and SUMS_NAME not in present and MANIFEST_NAME not in present
    assert present, "nothing was published before the kill"
    for n in present:
        assert filecmp.cmp(out / n, dist / n, shallow=False), n

    results, _ = run(root)
    done = actions(results)
    assert all(done[n] == "skipped" for n in present)
    assert all(done[n] == "uploaded" for n in names if n not in present)
    assert_same_files(out, dist, names)
    sha256sum_check(out)
    assert not (releases / ".wavrybuild-tmp").exists(), "the killed run's temp file was not cleaned up"


# --- HTTP PUT to a real nginx (WebDAV) ----------------------------------------------------------------------

@dataclass
class Nginx:
    url: str
    www: Path
    body_temp: Path
    token: str



# Stands in for Artifactory/Nexus auth: only the configured bearer token may read or write.
NGINX_DAV = """        if ($http_authorization != "Bearer {token}") {{ return 401; }}
        location / {{
            dav_methods PUT DELETE MKCOL;
            dav_access user:rw group:r all:r;
            create_full_put_path on;
            client_max_body_size 0;
        }}"""


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Nginx]:
    """A real nginx with WebDAV PUT on 127.0.0.1 (package `nginx`, which has http_dav_module)."""
    d = tmp_path / "nginx"
    token = "http-" + TOKEN
    with servers.nginx(d, NGINX_DAV.format(token=token)) as url:
        yield Nginx(url, d / "www", d / "client_body_temp", token)


def http_toml(server: Nginx) -> str:
    return f'[publish.http]\nurl = "{server.url}/releases/{{name}}/{{version}}"\ntoken-env = "WAVRY_TEST_PUT_TOKEN"\n'


def test_http_put_publish_rerun_and_replace(tmp_path: Path, packaged: Release, nginx: Nginx,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path, packaged)
    add_publish(root, http_toml(nginx))
    monkeypatch.setenv("WAVRY_TEST_PUT_TOKEN", nginx.token)
    dist = root / "dist"
    names = release_files(dist)
    out = nginx.www / "releases" / "wavry-demo" / "0.1.0"

    results, lines = run(root)
    assert [r.file for r in results] == names and {r.action for r in results} == {"uploaded"}
    assert_same_files(out, dist, names)
    sha256sum_check(out)
    assert files_under(nginx.www) == sorted(f"releases/wavry-demo/0.1.0/{n}" for n in names)

    again, lines2 = run(root)
    assert {r.action for r in again} == {"skipped"} and len(again) == len(names)

    # Same length, different bytes: only the download-and-hash comparison can tell. It is replaced.
    victim = out / names[1]
    data = bytearray(victim.read_bytes())
    data[-10] ^= 0xFF
    victim.write_bytes(bytes(data))
    third, lines3 = run(root)
    assert actions(third)[names[1]] == "replaced"
    assert sum(r.action == "skipped" for r in third) == len(names) - 1
    assert_same_files(out, dist, names)
    for line in lines + lines2 + lines3:
        assert nginx.token not in line


def test_http_put_wrong_token(tmp_path: Path, packaged: Release, nginx: Nginx, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path, packaged)
    add_publish(root, http_toml(nginx))
    wrong = "wrong-" + TOKEN
    monkeypatch.setenv("WAVRY_TEST_PUT_TOKEN", wrong)
    lines: list[str] = []
    cfg = load(root / "targets.toml")
    with pytest.raises(PublishError) as info:
        publish(cfg, cfg.project.dist_dir, log=lines.append)
    message = str(info.value)
    assert "HTTP 401" in message and message.startswith("http: ") and release_files(root / "dist")[0] in message
    assert "$WAVRY_TEST_PUT_TOKEN" in message  # the hint names the variable, not its value
    assert wrong not in message and wrong not in "".join(lines)
    assert info.value.exit_code == 1
    assert files_under(nginx.www) == []


def test_http_put_resumes_after_sigkill(tmp_path: Path, packaged: Release, nginx: Nginx,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path, packaged, big=200 * MiB)
    add_publish(root, http_toml(nginx))
    dist = root / "dist"
    names = release_files(dist)
    out = nginx.www / "releases" / "wavry-demo" / "0.1.0"

    proc = start_publisher(root, "http", tmp_path, env={"WAVRY_TEST_PUT_TOKEN": nginx.token})
    # nginx spools a PUT body to client_body_temp and renames it into www only when complete.
    kill_when(proc, lambda: big_file_in(nginx.body_temp), tmp_path)
    present = files_under(out)
    assert present and BIG not in present and SUMS_NAME not in present and MANIFEST_NAME not in present
    output = (tmp_path / "publisher.out").read_text()
    assert nginx.token not in output

    monkeypatch.setenv("WAVRY_TEST_PUT_TOKEN", nginx.token)
    results, _ = run(root)
    done = actions(results)
    assert all(done[n] == "skipped" for n in present)
    assert all(done[n] == "uploaded" for n in names if n not in present)
    # Exactly the release: nothing partial, extra or duplicated anywhere under www/.
    assert files_under(nginx.www) == sorted(f"releases/wavry-demo/0.1.0/{n}" for n in names)
    assert_same_files(out, dist, names)
    sha256sum_check(out)


# --- GitHub Releases, against a fake --------------------------------------------------------------------------

@dataclass
class FakeAsset:
    id: int
    name: str
    release_id: int
    state: str = "starter"
    data: bytes = b""


@dataclass
class FakeRelease:
    id: int
    tag_name: str
    name: str
    draft: bool
    prerelease: bool
    body: str = ""
    target_commitish: str = "main"


@dataclass
class FakeGitHub:
    """A fake of a remote service that cannot be reached from here: the GitHub REST API endpoints
    publish.py uses, served on 127.0.0.1, with the behaviour that matters for idempotence.

    - GET  /api/repos/{o}/{r}/releases/tags/{tag}   (drafts are not found by tag, as on GitHub)
    - GET  /api/repos/{o}/{r}/releases               (paginated; drafts included)
    - POST /api/repos/{o}/{r}/releases               (422 if the tag has a release)
    - PATCH /api/repos/{o}/{r}/releases/{id}          (publishing a draft makes its tag at target_commitish)
    - PATCH /api/repos/{o}/{r}/git/refs/tags/{tag}    (422 "Reference does not exist"), POST …/git/refs
    - GET  /api/repos/{o}/{r}/releases/{id}/assets   (per_page capped at `per_page_max`, Link headers)
    - GET  /api/repos/{o}/{r}/releases/assets/{id}   (Accept: application/octet-stream: the bytes)
    - DELETE /api/repos/{o}/{r}/releases/assets/{id}
    - POST /uploads/repos/{o}/{r}/releases/{id}/assets?name=N: the host-less `upload_url` each release
      advertises (like uploads.github.com); 422 if an asset of that name exists in any state. The
      asset exists in state "starter" from the first byte and becomes "uploaded" only when the whole
      body arrived: a client killed mid-upload leaves a "starter" asset behind, as GitHub does.

    Every request needs `Authorization: Bearer <token>` (else 401 "Bad credentials").
    """

    token: str
    per_page_max: int = 5
    digests: bool = True  # False: assets without a `digest` field, like older GitHub Enterprise
    link_headers: bool = True
    hold: str | None = None  # asset name whose upload pauses after its first MiB, until `resume` is set
    releases: dict[int, FakeRelease] = field(default_factory=dict)
    assets: dict[int, FakeAsset] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    held: threading.Event = field(default_factory=threading.Event)
    resume: threading.Event = field(default_factory=threading.Event)
    aborted: threading.Event = field(default_factory=threading.Event)
    base: str = ""
    next_id: int = 100
    tags: dict[str, str] = field(default_factory=dict)  # tag -> commit sha

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def release_json(self, r: FakeRelease) -> dict[str, Any]:
        return {"id": r.id, "tag_name": r.tag_name, "name": r.name, "draft": r.draft, "prerelease": r.prerelease,
                "body": r.body, "target_commitish": r.target_commitish,
                "upload_url": f"{self.base}/uploads/repos/o/n/releases/{r.id}/assets{{?name,label}}"}

    def asset_json(self, a: FakeAsset) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": a.id, "name": a.name, "state": a.state, "size": len(a.data), "content_type": "application/octet-stream",
            "url": f"{self.base}/api/repos/o/n/releases/assets/{a.id}",
            "browser_download_url": f"{self.base}/download/{a.name}",
        }
        if self.digests:
            out["digest"] = "sha256:" + hashlib.sha256(a.data).hexdigest() if a.state == "uploaded" else None
        return out

    def add_release(self, tag: str, draft: bool = False) -> FakeRelease:
        r = FakeRelease(self.new_id(), tag, tag, draft, False)
        self.releases[r.id] = r
        return r

    def add_asset(self, release: FakeRelease, name: str, data: bytes, state: str = "uploaded") -> FakeAsset:
        a = FakeAsset(self.new_id(), name, release.id, state, data)
        self.assets[a.id] = a
        return a

    def release_assets(self, tag: str) -> list[FakeAsset]:
        (rel,) = [r for r in self.releases.values() if r.tag_name == tag]
        return [a for a in self.assets.values() if a.release_id == rel.id]

    def calls(self, method: str, pattern: str = "") -> int:
        return sum(1 for m, p in self.log if m == method and re.search(pattern, p))


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
            data = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream" if isinstance(body, bytes) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def drain(self) -> None:
            left = int(self.headers.get("Content-Length") or 0)
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)

        def handle_any(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            with fake.lock:
                fake.log.append((self.command, self.path))
            if self.headers.get("Authorization") != f"Bearer {fake.token}":
                self.drain()
                self.send(401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
                return
            route = self.command + " " + url.path
            if m := re.fullmatch(r"POST /uploads/repos/o/n/releases/(\d+)/assets", route):
                self.upload(int(m[1]), query.get("name", ""))
                return
            body = None
            if self.command in ("POST", "PATCH"):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            with fake.lock:
                self.api(route, query, body)

        do_GET = do_POST = do_DELETE = do_HEAD = do_PATCH = handle_any

        def page(self, items: list[dict[str, Any]], path: str, query: dict[str, str]) -> None:
            per_page = min(int(query.get("per_page", 30)), fake.per_page_max)
            page = int(query.get("page", 1))
            chunk = items[(page - 1) * per_page: page * per_page]
            headers = {}
            if fake.link_headers and page * per_page < len(items):
                headers["Link"] = f'<{fake.base}{path}?per_page={per_page}&page={page + 1}>; rel="next"'
            self.send(200, chunk, headers)

        def api(self, route: str, query: dict[str, str], body: Any) -> None:
            path = route.split(" ", 1)[1]
            if m := re.fullmatch(r"GET /api/repos/o/n/releases/tags/(.+)", route):
                found = [r for r in fake.releases.values() if r.tag_name == m[1] and not r.draft]
                self.send(200, fake.release_json(found[0])) if found else self.send(404, {"message": "Not Found"})
            elif route == "GET /api/repos/o/n/releases":
                self.page([fake.release_json(r) for r in fake.releases.values()], path, query)
            elif route == "POST /api/repos/o/n/releases":
                if any(r.tag_name == body["tag_name"] for r in fake.releases.values()):
                    self.send(422, {"message": "Validation Failed", "errors": [{"code": "already_exists"}]})
                    return
                rel = FakeRelease(fake.new_id(), body["tag_name"], body.get("name", ""), bool(body.get("draft")),
                                  bool(body.get("prerelease")), body.get("body") or "",
                                  body.get("target_commitish") or "main")
                fake.releases[rel.id] = rel
                if not rel.draft:
                    fake.tags.setdefault(rel.tag_name, rel.target_commitish)
                self.send(201, fake.release_json(rel))
            elif m := re.fullmatch(r"PATCH /api/repos/o/n/releases/(\d+)", route):
                rel = fake.releases.get(int(m[1]))
                if rel is None:
                    self.send(404, {"message": "Not Found"})
                    return
                for key in ("tag_name", "name", "body", "target_commitish", "draft", "prerelease"):
                    if key in body:
                        setattr(rel, key, body[key])
                if not rel.draft:
                    fake.tags.setdefault(rel.tag_name, rel.target_commitish)
                self.send(200, fake.release_json(rel))
            elif m := re.fullmatch(r"PATCH /api/repos/o/n/git/refs/tags/(.+)", route):
                if m[1] not in fake.tags:
                    self.send(422, {"message": "Reference does not exist"})
                    return
                fake.tags[m[1]] = body["sha"]
                self.send(200, {"ref": f"refs/tags/{m[1]}", "object": {"type": "commit", "sha": body["sha"]}})
            elif route == "POST /api/repos/o/n/git/refs":
                fake.tags[body["ref"].removeprefix("refs/tags/")] = body["sha"]
                self.send(201, {"ref": body["ref"], "object": {"type": "commit", "sha": body["sha"]}})
            elif m := re.fullmatch(r"GET /api/repos/o/n/releases/(\d+)/assets", route):
                items = [fake.asset_json(a) for a in fake.assets.values() if a.release_id == int(m[1])]
                self.page(items, path, query)
            elif m := re.fullmatch(r"GET /api/repos/o/n/releases/assets/(\d+)", route):
                asset = fake.assets.get(int(m[1]))
                if asset is None:
                    self.send(404, {"message": "Not Found"})
                elif self.headers.get("Accept") == "application/octet-stream":
                    self.send(200, asset.data)
                else:
                    self.send(200, fake.asset_json(asset))
            elif m := re.fullmatch(r"DELETE /api/repos/o/n/releases/assets/(\d+)", route):
                found = fake.assets.pop(int(m[1]), None)
                self.send(204 if found else 404, None if found else {"message": "Not Found"})
            else:
                self.send(404, {"message": "Not Found"})

        def upload(self, release_id: int, name: str) -> None:
            size = int(self.headers.get("Content-Length") or -1)
            with fake.lock:
                clash = any(a.release_id == release_id and a.name == name for a in fake.assets.values())
                ok = release_id in fake.releases and name and size >= 0 and not clash \
                    and self.headers.get("Content-Type") == "application/octet-stream"
                asset = FakeAsset(fake.new_id(), name, release_id) if ok else None
                if asset:
                    fake.assets[asset.id] = asset
            if asset is None:
                self.drain()
                self.send(422, {"message": "Validation Failed", "errors": [{"resource": "ReleaseAsset",
                                                                           "code": "already_exists", "field": "name"}]})
                return
            received = bytearray()
            while len(received) < size:
                try:
                    chunk = self.rfile.read(min(size - len(received), MiB))
                except OSError:  # reset by the dying client
                    chunk = b""
                if not chunk:
                    break
                received += chunk
                if name == fake.hold and not fake.held.is_set():
                    fake.held.set()
                    fake.resume.wait(60)
            if len(received) < size:
                # The client went away: the asset stays behind, incomplete, in state "starter".
                fake.aborted.set()
                self.close_connection = True
                return
            with fake.lock:
                asset.data = bytes(received)
                asset.state = "uploaded"
                self.send(201, fake.asset_json(asset))

    return Handler


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(token=TOKEN)
    with local_server(_handler(fake)) as fake.base:
        try:
            yield fake
        finally:
            fake.resume.set()  # a held upload must not keep the server from stopping


def github_toml(fake: FakeGitHub, draft: bool = False) -> str:
    return (f'[publish.github]\nrepo = "o/n"\napi-url = "{fake.base}/api"\ntoken-env = "WAVRY_TEST_GH_TOKEN"\n'
            f"draft = {'true' if draft else 'false'}\n")


def assert_release_is(fake: FakeGitHub, dist: Path, names: list[str], tag: str = "v0.1.0") -> None:
    assets = fake.release_assets(tag)
    assert sorted(a.name for a in assets) == sorted(names), "missing, extra or duplicated assets"
    for a in assets:
        assert a.state == "uploaded" and a.data == (dist / a.name).read_bytes(), a.name


def test_github_first_publish_then_rerun(tmp_path: Path, packaged: Release, github: FakeGitHub,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path, packaged)
    add_publish(root, github_toml(github))
    monkeypatch.setenv("WAVRY_TEST_GH_TOKEN", TOKEN)
    dist = root / "dist"
    names = release_files(dist)

    results, lines = run(root)
    assert [r.file for r in uploads(results)] == names and {r.action for r in uploads(results)} == {"uploaded"}
    assert len(github.releases) == 1 and github.calls("POST", r"/api/repos/o/n/releases$") == 1
    assert github.calls("POST", r"^/uploads/") == len(names)  # to the advertised upload_url
    assert_release_is(github, dist, names)
    # Draft → upload → publish: created as a draft at the manifest's commit, published after the last asset.
    (rel,) = github.releases.values()
    commit = json.loads((dist / MANIFEST_NAME).read_text())["git"]["commit"]
    assert not rel.draft and rel.target_commitish == commit and github.tags == {"v0.1.0": commit}
    assert results[-1].file == "release v0.1.0" and results[-1].action == "published"
    patch = next(i for i, (m, p) in enumerate(github.log) if m == "PATCH")
    assert all(i < patch for i, (m, p) in enumerate(github.log) if p.startswith("/uploads/"))

    github.log.clear()
    again, lines2 = run(root)
    assert {r.action for r in again} == {"skipped"} and len(again) == len(names)
    assert github.calls("POST") == github.calls("DELETE") == 0
    # 5 assets a page: the Link header was followed through every page.
    assert github.calls("GET", r"/assets\?") == math.ceil(len(names) / 5) > 1
    assert_release_is(github, dist, names)
    for text in lines + lines2 + [r.detail for r in results + again]:
        assert TOKEN not in text


def test_github_without_digest_or_link_header(tmp_path: Path, packaged: Release, github: FakeGitHub,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    github.digests = False
    github.link_headers = False
    root = make_project(tmp_path, packaged)
    add_publish(root, github_toml(github))
    monkeypatch.setenv("WAVRY_TEST_GH_TOKEN", TOKEN)
    dist = root / "dist"
    names = release_files(dist)
    run(root)
    github.log.clear()
    again, _ = run(root)
    assert {r.action for r in again} == {"skipped"}
    # No digest field: each asset was downloaded and hashed; no Link header: pages until an empty one.
    assert github.calls("GET", r"/releases/assets/\d+$") == len(names)
    assert github.calls("GET", r"/assets\?") == math.ceil(len(names) / 5) + 1
    assert_release_is(github, dist, names)


def test_github_replaces_different_asset_and_reuses_draft(tmp_path: Path, packaged: Release, github: FakeGitHub,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path, packaged)
    add_publish(root, github_toml(github, draft=True))
    monkeypatch.setenv("WAVRY_TEST_GH_TOKEN", TOKEN)
    dist = root / "dist"
    names = release_files(dist)
    # A draft from an earlier attempt (invisible to the tag lookup) holding a stale SHA256SUMS.
    draft = github.add_release("v0.1.0", draft=True)
    github.add_asset(draft, SUMS_NAME, b"0" * 64 + b"  something-else.tar.gz\n")

    results, _ = run(root)
    assert actions(results)[SUMS_NAME] == "replaced"
    assert [r.action for r in uploads(results) if r.file != SUMS_NAME] == ["uploaded"] * (len(names) - 1)
    assert draft.draft  # draft = true: left for a person to publish
    assert len(github.releases) == 1 and github.calls("POST", r"/api/repos/o/n/releases$") == 0
    assert github.calls("DELETE") == 1
    assert_release_is(github, dist, names)


def test_github_starter_asset_from_killed_upload(tmp_path: Path, packaged: Release, github: FakeGitHub,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path, packaged, big=32 * MiB)
    add_publish(root, github_toml(github))
    dist = root / "dist"
    names = release_files(dist)
    github.hold = BIG

    proc = start_publisher(root, "github", tmp_path, env={"WAVRY_TEST_GH_TOKEN": TOKEN})
    kill_when(proc, github.held.is_set, tmp_path)
    github.resume.set()
    assert github.aborted.wait(30), "the fake never saw the upload break off"
    (big,) = [a for a in github.release_assets("v0.1.0") if a.name == BIG]
    assert big.state == "starter"
    uploaded_before = {a.name for a in github.release_assets("v0.1.0") if a.state == "uploaded"}
    assert uploaded_before and SUMS_NAME not in uploaded_before
    assert TOKEN not in (tmp_path / "publisher.out").read_text()

    monkeypatch.setenv("WAVRY_TEST_GH_TOKEN", TOKEN)
    results, _ = run(root)
    done = {r.file: r for r in uploads(results)}
    assert done[BIG].action == "replaced" and "incomplete" in done[BIG].detail
    assert all(done[n].action == "skipped" for n in uploaded_before)
    assert all(done[n].action == "uploaded" for n in names if n not in uploaded_before and n != BIG)
    assert_release_is(github, dist, names)
    assert len(github.releases) == 1


def test_github_rolling_tag_moves_and_drops_stale_assets(tmp_path: Path, packaged: Release, github: FakeGitHub,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path, packaged)
    add_publish(root, github_toml(github).replace('repo = "o/n"', 'repo = "o/n"\ntag = "nightly"\nrolling = true'))
    monkeypatch.setenv("WAVRY_TEST_GH_TOKEN", TOKEN)
    dist = root / "dist"
    names = release_files(dist)
    # Last night's release: its tag at an older commit, an asset this release does not have.
    old = github.add_release("nightly")
    github.tags["nightly"] = "0" * 40
    github.add_asset(old, "wavry-demo-0.0.9-x86_64-unknown-linux-gnu.tar.gz", b"old")
    results, _ = run(root)
    commit = json.loads((dist / MANIFEST_NAME).read_text())["git"]["commit"]
    assert github.tags["nightly"] == commit and old.target_commitish == commit
    assert actions(results)["wavry-demo-0.0.9-x86_64-unknown-linux-gnu.tar.gz"] == "removed"
    assert_release_is(github, dist, names, tag="nightly")
    github.log.clear()
    again, _ = run(root)
    assert {r.action for r in again} == {"skipped"}
    assert github.calls("DELETE") == 0 and github.calls("POST") == 0
    assert_release_is(github, dist, names, tag="nightly")


def test_github_release_body_is_the_notes(tmp_path: Path, packaged: Release, github: FakeGitHub,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path, packaged)
    (root / "CHANGELOG.md").write_text("# Changelog\n\n## [0.1.0] - 2026-01-02\n### Added\n- the demo\n\n"
                                       "## [0.0.1] - 2025-01-01\n- older\n")
    add_publish(root, github_toml(github) + '\n[release]\nchangelog = "CHANGELOG.md"\n')
    for task in ("notes", "checksum"):
        done = invoke(task, cwd=root, env=packaged.env)
        assert done.returncode == 0, done.stdout + done.stderr
    notes = (root / "dist/RELEASE_NOTES.md").read_text()
    assert "### Added\n- the demo" in notes and "older" not in notes
    assert "| wavry-demo-0.1.0-x86_64-unknown-linux-gnu.tar.gz | Linux x86_64 (glibc) | archive |" in notes
    assert "RELEASE_NOTES.md" in (root / "dist" / SUMS_NAME).read_text()
    monkeypatch.setenv("WAVRY_TEST_GH_TOKEN", TOKEN)
    run(root)
    (rel,) = github.releases.values()
    assert rel.body == notes and not rel.prerelease and not rel.draft


def test_github_wrong_token(tmp_path: Path, packaged: Release, github: FakeGitHub,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path, packaged)
    add_publish(root, github_toml(github))
    wrong = TOKEN.replace("T0ken", "Wr0ng")
    monkeypatch.setenv("WAVRY_TEST_GH_TOKEN", wrong)
    lines: list[str] = []
    cfg = load(root / "targets.toml")
    with pytest.raises(PublishError) as info:
        publish(cfg, cfg.project.dist_dir, log=lines.append)
    message = str(info.value)
    assert message.startswith("github: release v0.1.0:") and "HTTP 401" in message and "Bad credentials" in message
    assert "$WAVRY_TEST_GH_TOKEN" in message
    assert wrong not in message and wrong not in repr(info.value.__dict__) and not lines
    assert github.releases == {}

    monkeypatch.delenv("WAVRY_TEST_GH_TOKEN")
    with pytest.raises(ConfigError) as missing:
        publish(cfg, cfg.project.dist_dir, log=lines.append)
    assert "publish.github.token-env: environment variable WAVRY_TEST_GH_TOKEN is not set" in str(missing.value)


def _snapshot(d: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(d)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(d.rglob("*")) if p.is_file()}


def test_invokes_own_dry_flag_publishes_and_writes_nothing(tmp_path: Path, packaged: Release) -> None:
    """`invoke --dry publish` / `invoke --dry release` are the tasks' own --dry: no upload, no file."""
    root = make_project(tmp_path, packaged)
    (tmp_path / "releases").mkdir()
    add_publish(root, '[publish.directory]\npath = "../releases"\n')
    before = _snapshot(root / "dist")
    for argv in (["--dry", "publish"], ["--dry", "release"], ["--dry", "checksum"], ["--dry", "sign", "--method", "ssh"]):
        done = invoke(*argv, cwd=root, env=packaged.env)
        assert done.returncode == 0, (argv, done.stdout + done.stderr)
        assert files_under(tmp_path / "releases") == [], argv
        assert _snapshot(root / "dist") == before, argv
    done = invoke("--dry", "publish", cwd=root, env=packaged.env)
    assert "would upload" in done.stdout + done.stderr
    # And without --dry it does publish: the dry run above was not a no-op by accident.
    done = invoke("publish", cwd=root, env=packaged.env)
    assert done.returncode == 0, done.stderr
    assert files_under(tmp_path / "releases")


def test_publish_typo_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    from tests.conftest import write_project

    root = write_project(tmp_path, '[project]\ncrate = "demo"\n[targets.x86_64-unknown-linux-gnu]\n'
                                   '[publish.github]\nrepo = "o/n"\ntokn-env = "GITHUB_TOKEN"\n')
    done = invoke("release", cwd=root)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "publish.github.tokn-env: unknown key; did you mean 'token-env'?" in done.stderr
    assert "Traceback" not in done.stderr and not (root / "dist").exists()


def test_unknown_invoke_setting_is_refused(tmp_path: Path) -> None:
    from tests.conftest import write_project

    root = write_project(tmp_path, '[project]\ncrate = "demo"\n[targets.x86_64-unknown-linux-gnu]\n')
    (root / "invoke.yaml").write_text("wavrybuild:\n  parallel: 4\n")
    done = invoke("build", "--all", cwd=root)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "invoke setting wavrybuild.parallel: unknown" in done.stderr
    assert not (root / "dist").exists()
