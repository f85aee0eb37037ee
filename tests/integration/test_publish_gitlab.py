"""[publish.gitlab]: the packaged demo release into a generic package registry and a GitLab
Release with the notes and a link per file. gitlab.com cannot be reached from here, so its REST API
is a local FAKE (see FakeGitLab), shaped as the public API docs describe."""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from tests.conftest import invoke
from tests.integration.conftest import Release
from tests.integration.servers import local_server
from tests.integration.test_publish import BIG, MiB, add_publish, kill_when, make_project, release_files, run, start_publisher

TOKEN = "glpat-GitLabTokenNeverShown4e2b"
PROJECT = "group/demo"
ENC = "group%2Fdemo"


@dataclass
class FakeGitLab:
    """A FAKE of the GitLab REST API v4 (generic packages, releases, release links) on 127.0.0.1:

    - GET  /projects/:id/packages?package_type=generic&package_name=N   (paginated, X-Next-Page)
    - GET  /projects/:id/packages/:pid/package_files                    (paginated; file_sha256)
    - PUT  /projects/:id/packages/generic/:name/:version/:file?select=package_file (201 + the file;
      duplicates allowed, as GitLab's default; a body cut short stores nothing)
    - DELETE /projects/:id/packages/:pid/package_files/:fid
    - GET/PUT /projects/:id/releases/:tag, POST /projects/:id/releases   (409 if it exists; `ref`
      needed when the tag does not)
    - GET/POST /projects/:id/releases/:tag/assets/links, PUT …/links/:lid
    Every request needs PRIVATE-TOKEN or JOB-TOKEN (else 401 {"message": "401 Unauthorized"}).
    """

    token: str
    header: str = "PRIVATE-TOKEN"
    hold: str | None = None
    packages: dict[int, dict[str, Any]] = field(default_factory=dict)
    files: dict[int, dict[str, Any]] = field(default_factory=dict)  # with "data"
    releases: dict[str, dict[str, Any]] = field(default_factory=dict)
    links: dict[int, dict[str, Any]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    held: threading.Event = field(default_factory=threading.Event)
    resume: threading.Event = field(default_factory=threading.Event)
    aborted: threading.Event = field(default_factory=threading.Event)
    base: str = ""
    next_id: int = 1

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def file_json(self, f: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in f.items() if k != "data"}

    def files_named(self, name: str) -> list[dict[str, Any]]:
        return [f for f in self.files.values() if f["file_name"] == name]

    def calls(self, method: str, pattern: str = "") -> int:
        return sum(1 for m, p in self.log if m == method and re.search(pattern, p))


def _handler(fake: FakeGitLab) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def page(self, items: list[Any], query: dict[str, str]) -> None:
            per, page = int(query.get("per_page", 20)), int(query.get("page", 1))
            per = min(per, 3)  # a small server-side cap, to make the client follow X-Next-Page
            chunk = items[(page - 1) * per: page * per]
            self.send(200, chunk, {"X-Next-Page": str(page + 1) if page * per < len(items) else ""})

        def handle_any(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            with fake.lock:
                fake.log.append((self.command, self.path))
            if self.headers.get(fake.header) != fake.token:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send(401, {"message": "401 Unauthorized"})
                return
            path = url.path.removeprefix("/api/v4")
            prefix = f"/projects/{ENC}"
            if not path.startswith(prefix):
                self.send(404, {"message": "404 Project Not Found"})
                return
            route = f"{self.command} {path.removeprefix(prefix)}"
            if m := re.fullmatch(r"PUT /packages/generic/([^/]+)/([^/]+)/([^/]+)", route):
                self.upload(unquote(m[1]), unquote(m[2]), unquote(m[3]))
                return
            body = None
            if self.command in ("POST", "PUT"):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            with fake.lock:
                self.api(route, query, body)

        do_GET = do_POST = do_PUT = do_DELETE = handle_any

        def api(self, route: str, query: dict[str, str], body: Any) -> None:
            if route == "GET /packages":
                self.page([p for p in fake.packages.values() if p["package_type"] == query.get("package_type")
                           and query.get("package_name", p["name"]) in p["name"]], query)
            elif m := re.fullmatch(r"GET /packages/(\d+)/package_files", route):
                self.page([fake.file_json(f) for f in fake.files.values() if f["package_id"] == int(m[1])], query)
            elif m := re.fullmatch(r"DELETE /packages/(\d+)/package_files/(\d+)", route):
                gone = fake.files.pop(int(m[2]), None)
                self.send(204 if gone else 404, None if gone else {"message": "404 Not found"})
            elif m := re.fullmatch(r"GET /releases/([^/]+)", route):
                rel = fake.releases.get(unquote(m[1]))
                self.send(200, rel) if rel else self.send(404, {"message": "404 Not Found"})
            elif route == "POST /releases":
                tag = body["tag_name"]
                if tag in fake.releases:
                    self.send(409, {"message": "Release already exists"})
                    return
                if tag not in fake.tags:
                    if not body.get("ref"):
                        self.send(400, {"message": "Ref is not specified"})
                        return
                    fake.tags[tag] = body["ref"]
                fake.releases[tag] = {"tag_name": tag, "name": body.get("name"), "description": body.get("description")}
                self.send(201, fake.releases[tag])
            elif m := re.fullmatch(r"PUT /releases/([^/]+)", route):
                rel = fake.releases[unquote(m[1])]
                rel.update({k: v for k, v in body.items() if k in ("name", "description")})
                self.send(200, rel)
            elif m := re.fullmatch(r"GET /releases/([^/]+)/assets/links", route):
                self.page([x for x in fake.links.values() if x["tag"] == unquote(m[1])], query)
            elif m := re.fullmatch(r"POST /releases/([^/]+)/assets/links", route):
                tag = unquote(m[1])
                if any(x["tag"] == tag and x["name"] == body["name"] for x in fake.links.values()):
                    self.send(400, {"message": {"name": ["has already been taken"]}})
                    return
                link = {"id": fake.new_id(), "tag": tag, **body}
                fake.links[link["id"]] = link
                self.send(201, link)
            elif m := re.fullmatch(r"PUT /releases/([^/]+)/assets/links/(\d+)", route):
                fake.links[int(m[2])].update(body)
                self.send(200, fake.links[int(m[2])])
            else:
                self.send(404, {"message": "404 Not Found"})

        def upload(self, name: str, version: str, file_name: str) -> None:
            size = int(self.headers.get("Content-Length") or -1)
            received = bytearray()
            while len(received) < size:
                try:
                    chunk = self.rfile.read(min(size - len(received), MiB))
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                received += chunk
                if file_name == fake.hold and not fake.held.is_set():
                    fake.held.set()
                    fake.resume.wait(60)
            if len(received) < size:
                fake.aborted.set()  # GitLab keeps nothing of an upload that did not finish
                self.close_connection = True
                return
            with fake.lock:
                pkg = next((p for p in fake.packages.values() if p["name"] == name and p["version"] == version), None)
                if pkg is None:
                    pkg = {"id": fake.new_id(), "name": name, "version": version, "package_type": "generic"}
                    fake.packages[pkg["id"]] = pkg
                f = {"id": fake.new_id(), "package_id": pkg["id"], "file_name": file_name, "size": len(received),
                     "file_sha256": hashlib.sha256(received).hexdigest(), "data": bytes(received)}
                fake.files[f["id"]] = f
                self.send(201, fake.file_json(f))

    return Handler


@pytest.fixture
def gitlab() -> Iterator[FakeGitLab]:
    fake = FakeGitLab(token=TOKEN)
    with local_server(_handler(fake)) as fake.base:
        try:
            yield fake
        finally:
            fake.resume.set()  # a held upload must not keep the server from stopping


def gitlab_toml(fake: FakeGitLab, extra: str = "") -> str:
    return (f'[publish.gitlab]\nproject = "{PROJECT}"\napi-url = "{fake.base}/api/v4"\n'
            f'token-env = "TEST_GITLAB_TOKEN"\n{extra}')


def assert_package_is(fake: FakeGitLab, dist: Path, names: list[str]) -> None:
    have = sorted(f["file_name"] for f in fake.files.values())
    assert have == sorted(n.rsplit("/", 1)[-1] for n in names), "missing, extra or duplicated files"
    for f in fake.files.values():
        assert f["data"] == (dist / f["file_name"]).read_bytes(), f["file_name"]


def test_gitlab_package_release_links_and_rerun(tmp_path: Path, packaged: Release, gitlab: FakeGitLab,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path, packaged)
    add_publish(root, gitlab_toml(gitlab, 'package-version = "release-{date}"\ntag = "release-{date}"\n'))
    done = invoke("notes", cwd=root, env=packaged.env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert invoke("checksum", "--sidecars", cwd=root, env=packaged.env).returncode == 0
    dist = root / "dist"
    # What is published: every file of dist/ (the notes are new; SHA256SUMS's old signature is gone).
    names = sorted(p.name for p in dist.iterdir() if p.is_file() and not p.name.startswith("."))
    assert "RELEASE_NOTES.md" in names and "SHA256SUMS" in names
    monkeypatch.setenv("TEST_GITLAB_TOKEN", TOKEN)
    _results, lines = run(root)
    assert_package_is(gitlab, dist, names)
    manifest = json.loads((dist / "manifest.json").read_text())
    day = datetime.datetime.fromtimestamp(manifest["source_date_epoch"], datetime.UTC).strftime("%Y-%m-%d")
    (pkg,) = gitlab.packages.values()
    assert (pkg["name"], pkg["version"]) == ("wavry-demo", f"release-{day}")
    rel = gitlab.releases[f"release-{day}"]
    assert rel["description"] == (dist / "RELEASE_NOTES.md").read_text()
    assert gitlab.tags[f"release-{day}"] == manifest["git"]["commit"]
    links = sorted(x["name"] for x in gitlab.links.values())
    assert links == sorted(names)
    sums = next(x for x in gitlab.links.values() if x["name"] == "SHA256SUMS")
    assert sums["url"] == f"{gitlab.base}/api/v4/projects/{ENC}/packages/generic/wavry-demo/release-{day}/SHA256SUMS"
    assert sums["direct_asset_path"] == "/SHA256SUMS"
    for text in lines:
        assert TOKEN not in text

    gitlab.log.clear()
    again, _ = run(root)
    assert {r.action for r in again} == {"skipped"}
    assert gitlab.calls("PUT") == gitlab.calls("POST") == gitlab.calls("DELETE") == 0
    assert_package_is(gitlab, dist, names)


def test_gitlab_replaces_other_bytes_and_duplicates(tmp_path: Path, packaged: Release, gitlab: FakeGitLab,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path, packaged)
    add_publish(root, gitlab_toml(gitlab, "release = false\n"))
    dist = root / "dist"
    names = release_files(dist)
    pkg = {"id": gitlab.new_id(), "name": "wavry-demo", "version": "0.1.0", "package_type": "generic"}
    gitlab.packages[pkg["id"]] = pkg
    sums = (dist / "SHA256SUMS").read_bytes()
    for data in (b"stale", sums, sums):  # other bytes, then the right bytes twice
        fid = gitlab.new_id()
        gitlab.files[fid] = {"id": fid, "package_id": pkg["id"], "file_name": "SHA256SUMS", "size": len(data),
                             "file_sha256": hashlib.sha256(data).hexdigest(), "data": data}
    monkeypatch.setenv("TEST_GITLAB_TOKEN", TOKEN)
    results, _ = run(root)
    assert {r.file: r.action for r in results}["SHA256SUMS"] == "skipped"
    assert gitlab.calls("DELETE") == 2 and not gitlab.releases
    assert_package_is(gitlab, dist, names)


def test_gitlab_resumes_after_sigkill(tmp_path: Path, packaged: Release, gitlab: FakeGitLab,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path, packaged, big=32 * MiB)
    add_publish(root, gitlab_toml(gitlab))
    dist = root / "dist"
    names = release_files(dist)
    gitlab.hold = BIG
    proc = start_publisher(root, "gitlab", tmp_path, env={"TEST_GITLAB_TOKEN": TOKEN})
    kill_when(proc, gitlab.held.is_set, tmp_path)
    gitlab.resume.set()
    assert gitlab.aborted.wait(30)
    assert BIG not in {f["file_name"] for f in gitlab.files.values()} and not gitlab.releases
    monkeypatch.setenv("TEST_GITLAB_TOKEN", TOKEN)
    run(root)
    assert_package_is(gitlab, dist, names)
    assert len(gitlab.releases) == 1 and sorted(x["name"] for x in gitlab.links.values()) == sorted(names)


def test_gitlab_wrong_token_and_job_token(tmp_path: Path, packaged: Release, gitlab: FakeGitLab,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path, packaged)
    add_publish(root, gitlab_toml(gitlab).replace('token-env = "TEST_GITLAB_TOKEN"\n', ""))
    gitlab.header = "JOB-TOKEN"  # CI_JOB_TOKEN, the default, travels as JOB-TOKEN
    monkeypatch.setenv("CI_JOB_TOKEN", TOKEN.replace("Never", "Wrong"))
    from wavrybuild.publish.upload import PublishError

    with pytest.raises(PublishError) as exc:
        run(root)
    assert "HTTP 401" in str(exc.value) and "Wrong" not in str(exc.value)
    monkeypatch.setenv("CI_JOB_TOKEN", TOKEN)
    run(root)
    assert_package_is(gitlab, root / "dist", release_files(root / "dist"))
