"""The one HTTP layer (wavrybuild/net.py), against real HTTP(S) servers on 127.0.0.1 started by each
test (threaded http.server; TLS from a throw-away openssl certificate). What the servers RECEIVE is
asserted: a credential bound to one origin never reaches another (port, host or scheme), an
https→http redirect is never followed, a 500 that echoes the request's credentials leaves no secret
in the error in any encoding, and a server that never answers hits the timeout.

GitHub's and GitLab's APIs are remote services: here their destinations talk to a local server that
answers the few calls each test makes (the same code paths, real sockets)."""

from __future__ import annotations

import ast
import base64
import contextlib
import hashlib
import io
import json
import socket
import ssl
import subprocess
import tarfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import get_type_hints
from urllib.parse import quote, quote_plus, unquote

import pytest
import requests

from wavrybuild.config.npm import NpmConfig, NpmName
from wavrybuild.config.publish import GitHubConfig, GitLabConfig, GitLabProject, HttpConfig, PypiConfig
from wavrybuild.config.values import HttpUrl, RepoSlug
from wavrybuild.errors import WavryError
from wavrybuild.manifest import Artifact
from wavrybuild.net import Client, HttpError, Scrubber, Session, redirect_policy
from wavrybuild.publish.base import LocalFile, PublishError, ReleaseRef
from wavrybuild.publish.destinations import HttpDestination
from wavrybuild.publish.github import GitHubDestination
from wavrybuild.publish.gitlab import GitLabDestination
from wavrybuild.publish.npm import publish_npm
from wavrybuild.publish.pypi import PypiDestination

REPO = Path(__file__).resolve().parents[2]
# Characters that URL quoting and base64 both change: a mask of the raw form alone would miss them.
TOKEN = "tok/en+Secret=9Zq~x"
RELEASE = ReleaseRef("demo", "0.1.0", "a" * 40)


# --- servers ----------------------------------------------------------------------------------------------

@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]

    def carries(self, secret: str) -> bool:
        """Does any header carry `secret`, raw or in any encoding `forbidden` lists?"""
        text = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
        return any(form in text for form in forbidden(secret))


Reply = tuple[int, dict[str, str], bytes]


@dataclass
class Server:
    url: str
    seen: list[Seen] = field(default_factory=list)


def _handler(server: Server, respond: Callable[[BaseHTTPRequestHandler, Server], Reply]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            server.seen.append(Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
            status, headers, body = respond(self, server)
            self.send_response(status, headers.pop("x-reason", None))
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = _any

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextlib.contextmanager
def serve(respond: Callable[[BaseHTTPRequestHandler, Server], Reply], tls: ssl.SSLContext | None = None) -> Iterator[Server]:
    info = Server("")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(info, respond))
    httpd.daemon_threads = True
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    info.url = f"{'https' if tls else 'http'}://127.0.0.1:{httpd.server_address[1]}"
    # shutdown() waits for serve_forever's next poll: its default 0.5 s was half of most tests' time.
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    try:
        yield info
    finally:
        httpd.shutdown()
        httpd.server_close()


def redirect_to(target: Server, status: int = 302) -> Callable[[BaseHTTPRequestHandler, Server], Reply]:
    def respond(h: BaseHTTPRequestHandler, _: Server) -> Reply:
        return status, {"Location": target.url + h.path}, b""
    return respond


def json_reply(body: object, status: int = 200) -> Callable[[BaseHTTPRequestHandler, Server], Reply]:
    def respond(h: BaseHTTPRequestHandler, _: Server) -> Reply:
        return status, {"Content-Type": "application/json"}, json.dumps(body).encode()
    return respond


@contextlib.contextmanager
def silent_server(head: bytes = b"") -> Iterator[str]:
    """Accepts connections, reads nothing, answers `head` (or nothing) and then never another byte."""
    sock = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = sock.accept()
                held.append(conn)
                if head:
                    conn.sendall(head)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        sock.close()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    """A server context and the CA file clients trust: a self-signed certificate for 127.0.0.1."""
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / "key.pem"),
                    "-out", str(d / "cert.pem"), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "cert.pem", d / "key.pem")
    return ctx, d / "cert.pem"


def forbidden(secret: str, user: str = "__token__") -> list[str]:
    """Every encoding a request may carry `secret` in — what no message may contain."""
    raw = secret.encode()
    pair = f"{user}:{secret}".encode()
    forms = [secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1],
             base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("="),
             base64.b64encode(pair).decode()]
    # base64 of the secret inside a longer blob, at each alignment: the run that depends on it alone.
    for prefix in (b'{"t":"', b'{"to":"', b'{"tok":"'):
        enc = base64.b64encode(prefix + raw + b'"}').decode()
        first = -(-8 * len(prefix) // 6)
        forms.append(enc[first:(8 * (len(prefix) + len(raw))) // 6])
    return [f for f in forms if f]


def http_config(url: str, **keys: str) -> HttpConfig:
    # The url's boundary type (a checked URL template), whatever the config layer calls it.
    return HttpConfig(url=get_type_hints(HttpConfig)["url"].parse(url), **keys)  # type: ignore[arg-type]


def local_file(tmp_path: Path, name: str, data: bytes) -> LocalFile:
    path = tmp_path / name
    path.write_bytes(data)
    return LocalFile(name, path, len(data), hashlib.sha256(data).hexdigest())


# --- the redirect rule --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("old", "new", "want"), [
    ("https://a.example/x", "https://a.example/y", "keep"),
    ("https://a.example/x", "https://a.example:443/y", "keep"),  # the default port, written out
    ("http://a.example/x", "http://a.example:80/y", "keep"),
    ("https://a.example/x", "https://A.EXAMPLE/y", "keep"),  # host names are case-insensitive
    ("https://a.example/x", "https://a.example:8443/y", "drop"),  # another port
    ("http://127.0.0.1:8000/x", "http://127.0.0.1:8001/y", "drop"),
    ("https://a.example/x", "https://b.example/y", "drop"),  # another host
    ("https://a.example/x", "https://a.example.evil/y", "drop"),
    ("http://a.example/x", "https://a.example/y", "drop"),  # another scheme, even an upgrade
    ("https://a.example/x", "http://a.example/y", "refuse"),  # a downgrade
    ("https://a.example/x", "http://b.example:80/y", "refuse"),
    ("https://a.example/x", "ftp://a.example/y", "refuse"),
])
def test_redirect_policy(old: str, new: str, want: str) -> None:
    assert redirect_policy(old, new) == want


# --- credentials stay with their origin ---------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["job", "private"])
def test_gitlab_token_not_sent_to_another_port(kind: str) -> None:
    """The issue's case: GitLab's JOB-TOKEN / PRIVATE-TOKEN followed a 302 to another port."""
    header = "job-token" if kind == "job" else "private-token"
    with serve(json_reply([])) as other, serve(redirect_to(other)) as api:
        config = GitLabConfig(project=GitLabProject.parse("g/p"), token_env="GL_TOKEN", token_kind=kind)
        dest = GitLabDestination(config, RELEASE, TOKEN, "g/p", api.url + "/api/v4")
        try:
            dest.start()
        finally:
            dest.close()
    assert api.seen and all(s.headers.get(header) == TOKEN for s in api.seen)  # the API itself gets it
    assert other.seen, "the redirect was not followed: the test proves nothing"
    assert not [s for s in other.seen if s.carries(TOKEN)]


def test_github_token_not_sent_to_another_port() -> None:
    def api_of_other(h: BaseHTTPRequestHandler, _: Server) -> Reply:
        if "/releases/tags/" in h.path:
            return 404, {"Content-Type": "application/json"}, b'{"message": "Not Found"}'
        return 200, {"Content-Type": "application/json"}, b"[]"

    with serve(api_of_other) as other, serve(redirect_to(other, 307)) as api:
        dest = GitHubDestination(GitHubConfig(repo=RepoSlug.parse("o/r"), api_url=HttpUrl.parse(api.url)), RELEASE, TOKEN)
        try:
            assert dest._find_release() is None
        finally:
            dest.close()
    assert api.seen and all(s.headers.get("authorization") == f"Bearer {TOKEN}" for s in api.seen)
    assert len(other.seen) == len(api.seen)
    assert not [s for s in other.seen if s.carries(TOKEN)]


def test_github_token_reaches_the_upload_host_the_api_names(tmp_path: Path) -> None:
    """Binding credentials to origins must not break GitHub: uploads.github.com is another origin."""
    def uploads_reply(h: BaseHTTPRequestHandler, _: Server) -> Reply:
        return 201, {"Content-Type": "application/json"}, json.dumps({"name": "a.txt", "size": 3, "state": "uploaded"}).encode()

    with serve(uploads_reply) as uploads:
        def api_reply(h: BaseHTTPRequestHandler, _: Server) -> Reply:
            if "/releases/tags/" in h.path:
                rel = {"id": 7, "draft": False, "upload_url": uploads.url + "/repos/o/r/releases/7/assets{?name,label}"}
                return 200, {"Content-Type": "application/json"}, json.dumps(rel).encode()
            return 200, {"Content-Type": "application/json"}, b"[]"

        with serve(api_reply) as api:
            dest = GitHubDestination(GitHubConfig(repo=RepoSlug.parse("o/r"), api_url=HttpUrl.parse(api.url)), RELEASE, TOKEN)
            try:
                dest.start()
                assert dest.put(local_file(tmp_path, "a.txt", b"abc")) == ("uploaded", "")
            finally:
                dest.close()
    assert [s.headers.get("authorization") for s in uploads.seen] == [f"Bearer {TOKEN}"]


@pytest.mark.parametrize("auth", ["bearer", "basic"])
def test_http_put_credentials_not_sent_to_another_port(auth: str, tmp_path: Path) -> None:
    def server_reply(h: BaseHTTPRequestHandler, _: Server) -> Reply:
        return (302, {"Location": other.url + h.path}, b"") if h.command == "HEAD" else (201, {}, b"")

    with serve(lambda h, s: (404, {}, b"")) as other, serve(server_reply) as server:
        dest = HttpDestination(http_config(server.url + "/rel/{version}", token_env="T"), RELEASE,
                               TOKEN if auth == "bearer" else None, ("ci", TOKEN) if auth == "basic" else None)
        try:
            assert dest.put(local_file(tmp_path, "a.txt", b"abc")) == ("uploaded", "")
        finally:
            dest.close()
    assert [s.method for s in server.seen] == ["HEAD", "PUT"]
    assert all(s.headers.get("authorization", "").startswith("Bearer " if auth == "bearer" else "Basic ") for s in server.seen)
    assert [s.method for s in other.seen] == ["HEAD"]
    assert not other.seen[0].carries(TOKEN) and "authorization" not in other.seen[0].headers


def test_pypi_token_not_sent_to_the_file_host_the_index_links(tmp_path: Path) -> None:
    """The simple page links files on another host (files.pythonhosted.org); the upload token is for the index."""
    wheel = local_file(tmp_path, "demo-0.1.0-py3-none-any.whl", b"wheel bytes")
    with serve(lambda h, s: (200, {}, wheel.path.read_bytes())) as files:
        page = f'<a href="{files.url}/f/{wheel.name}">{wheel.name}</a>'.encode()
        with serve(lambda h, s: (200, {"Content-Type": "text/html"}, page)) as index:
            dest = _pypi(index.url)
            try:
                dest.start()
                assert dest.put(wheel)[0] == "skipped"
            finally:
                dest.close()
    basic = "Basic " + base64.b64encode(f"__token__:{TOKEN}".encode()).decode()
    assert [s.headers.get("authorization") for s in index.seen] == [basic]
    assert len(files.seen) == 1 and not files.seen[0].carries(TOKEN)


def _npm_dist(tmp_path: Path) -> tuple[Path, Artifact, str]:
    """A dist/ with one npm tarball; (dist, its artifact, its integrity)."""
    data = json.dumps({"name": "@wavry/demo", "version": "0.1.0"}).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("package/package.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "wavry-demo-0.1.0.tgz").write_bytes(buf.getvalue())
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(buf.getvalue()).digest()).decode()
    art = Artifact("", "", "npm", "tgz", "wavry-demo-0.1.0.tgz", len(buf.getvalue()), hashlib.sha256(buf.getvalue()).hexdigest())
    return dist, art, integrity


def test_npm_registry_token_not_sent_to_another_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """publish_npm asks the registry what it has through the layer: already there → skipped, npm not run."""
    dist, art, integrity = _npm_dist(tmp_path)
    monkeypatch.setenv("WAVRY_TEST_NPM_TOKEN", TOKEN)
    packument = {"name": "@wavry/demo", "versions": {"0.1.0": {"dist": {"integrity": integrity}}}}
    with serve(json_reply(packument)) as other, serve(redirect_to(other)) as registry:
        nc = NpmConfig(NpmName.parse("@wavry/demo"), None, HttpUrl.parse(registry.url + "/"), "WAVRY_TEST_NPM_TOKEN",
                       None, None)
        rows = publish_npm(nc, dist, [art], dry=False, log=lambda _: None)
    assert rows == [("wavry-demo-0.1.0.tgz", "skipped", "@wavry/demo@0.1.0 already published")]
    assert [unquote(s.path) for s in registry.seen] == ["/@wavry/demo"]
    assert registry.seen[0].headers.get("authorization") == f"Bearer {TOKEN}"
    assert len(other.seen) == 1 and not other.seen[0].carries(TOKEN)


def test_a_call_may_send_its_own_header_but_not_along_a_redirect() -> None:
    """Trusted publishing sends a one-off Authorization to the CI's token URL: it too stays behind."""
    with serve(json_reply({"value": "x"})) as other, serve(redirect_to(other)) as ci:
        client = Client("pypi")
        client.call("GET", ci.url + "/token", "OIDC token", headers={"Authorization": f"bearer {TOKEN}"})
        client.close()
    assert ci.seen[0].headers["authorization"] == f"bearer {TOKEN}"
    assert not other.seen[0].carries(TOKEN)


# --- https → http --------------------------------------------------------------------------------------------

def _trust_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests prefers these variables over a session's own `verify`.
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)


def test_https_to_http_redirect_is_refused(tls: tuple[ssl.SSLContext, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, ca = tls
    _trust_only(monkeypatch)
    with serve(lambda h, s: (200, {}, b"plain")) as plain, serve(redirect_to(plain), tls=ctx) as secure:
        client = Client("http")
        client.session.verify = str(ca)
        client.authorize(secure.url, bearer=TOKEN)
        with pytest.raises(HttpError) as err:
            client.call("GET", secure.url + "/file", "download")
        client.close()
    assert secure.seen and secure.seen[0].headers["authorization"] == f"Bearer {TOKEN}"  # TLS worked
    assert plain.seen == []  # the downgraded request was never sent, with or without the token
    assert "refused a redirect from https to plain http" in str(err.value)


def test_pypi_index_redirect_to_http_is_refused(tls: tuple[ssl.SSLContext, Path], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The simple page is read without following redirects (a fallback index is "no such file"), and
    the same rule decides: a downgrade is an error, not a fallback."""
    ctx, ca = tls
    _trust_only(monkeypatch)
    wheel = local_file(tmp_path, "demo-0.1.0-py3-none-any.whl", b"wheel bytes")
    with serve(lambda h, s: (200, {}, b"")) as plain, serve(redirect_to(plain, 301), tls=ctx) as index:
        dest = _pypi(index.url)
        dest.http.session.verify = str(ca)
        with pytest.raises(PublishError) as err:
            dest.put(wheel)
        dest.close()
    assert plain.seen == []
    assert "refused a redirect from https to plain http" in str(err.value)


# --- one scrubber ---------------------------------------------------------------------------------------------

def _echo_credentials(h: BaseHTTPRequestHandler, _: Server) -> Reply:
    """A 500 that echoes what the request carried: the raw headers in the reason phrase, and the
    secret decoded and re-encoded every way in the JSON message."""
    carried = {k: v for k, v in h.headers.items() if k.lower() in ("authorization", "job-token", "private-token")}
    value = next(iter(carried.values()), "")
    secret = value.split(" ", 1)[1] if " " in value else value
    if value.startswith("Basic "):
        secret = base64.b64decode(secret).decode().split(":", 1)[1]
    blob = base64.b64encode(b'{"t":"' + secret.encode() + b'"}').decode()
    message = " ".join([secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode(), blob])
    reason = "Internal Error; you sent " + "; ".join(f"{k}={v}" for k, v in carried.items())
    return 500, {"Content-Type": "application/json", "x-reason": reason}, json.dumps({"message": message}).encode()


def _pypi(url: str) -> PypiDestination:
    index = PypiConfig(repository_url=HttpUrl.parse(url + "/"), index_url=HttpUrl.parse(url + "/simple/"))
    return PypiDestination(index, RELEASE, TOKEN)


def _gitlab(url: str) -> GitLabDestination:
    return GitLabDestination(GitLabConfig(project=GitLabProject.parse("g/p"), token_env="GL_TOKEN"), RELEASE, TOKEN, "g/p", url)


def _http(url: str) -> HttpDestination:
    config = http_config(url + "/rel", user_env="U", password_env="P")
    return HttpDestination(config, RELEASE, None, ("__token__", TOKEN))


def _github(url: str) -> GitHubDestination:
    return GitHubDestination(GitHubConfig(repo=RepoSlug.parse("o/r"), api_url=HttpUrl.parse(url)), RELEASE, TOKEN)


@pytest.mark.parametrize("make", [_pypi, _gitlab, _http, _github], ids=["pypi", "gitlab", "http", "github"])
def test_error_echoing_credentials_shows_no_secret(make: Callable[[str], object], tmp_path: Path) -> None:
    wheel = local_file(tmp_path, "demo-0.1.0-py3-none-any.whl", b"wheel bytes")
    with serve(_echo_credentials) as server:
        dest = make(server.url)
        with pytest.raises(WavryError) as err:
            dest.start()  # type: ignore[attr-defined]
            dest.put(wheel)  # type: ignore[attr-defined]
        dest.close()  # type: ignore[attr-defined]
    text = str(err.value)
    assert "HTTP 500" in text and "you sent" in text, text  # the server's words did reach the message
    assert server.seen[0].carries(TOKEN), "the request carried no credential: the test proves nothing"
    leaked = [form for form in forbidden(TOKEN) if form in text]
    assert leaked == [], text


def test_scrubber_masks_every_form_and_userinfo() -> None:
    scrub = Scrubber()
    scrub.add(TOKEN, user="__token__")
    for form in forbidden(TOKEN):
        assert scrub(f"before {form} after") == "before *** after"
    assert scrub("GET https://ci:pa55@host.example/x") == "GET https://***@host.example/x"
    signed = "https://s3.example/b/k?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=9f8e&partNumber=2&sig=ab#f"
    assert scrub(signed) == "https://s3.example/b/k?X-Amz-Credential=***&X-Amz-Signature=***&partNumber=2&sig=***#f"
    assert scrub("nothing secret here") == "nothing secret here"


def test_pypi_upload_refusal_is_scrubbed(tmp_path: Path) -> None:
    """A 400 on upload is reported with the server's message (it says why): through the scrubber too."""
    wheel = tmp_path / "demo-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("demo-0.1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: demo\nVersion: 0.1.0\n")
    f = LocalFile(wheel.name, wheel, wheel.stat().st_size, hashlib.sha256(wheel.read_bytes()).hexdigest())

    def index_reply(h: BaseHTTPRequestHandler, s: Server) -> Reply:
        if h.command == "GET":
            return 404, {}, b""
        return 400, {"Content-Type": "application/json"}, json.dumps(
            {"message": "bad token " + base64.b64encode(f"__token__:{TOKEN}".encode()).decode()}).encode()

    with serve(index_reply) as index:
        dest = _pypi(index.url)
        with pytest.raises(PublishError) as err:
            dest.put(f)
        dest.close()
    assert "HTTP 400" in str(err.value) and "bad token ***" in str(err.value)
    assert [form for form in forbidden(TOKEN) if form in str(err.value)] == []


# --- timeouts ---------------------------------------------------------------------------------------------------

def test_a_server_that_never_answers_times_out() -> None:
    with silent_server() as url:
        client = Client("http", timeout=(2, 1))
        started = time.monotonic()
        with pytest.raises(HttpError) as err:
            client.call("GET", url + "/x", "probe")
        client.close()
    assert time.monotonic() - started < 10
    assert str(err.value).splitlines()[0] == f"http: probe: GET {url}/x: no answer within 1 s (timed out)"


def test_a_destination_hits_the_timeout(tmp_path: Path) -> None:
    with silent_server() as url:
        dest = HttpDestination(http_config(url + "/rel"), RELEASE, None, None)
        dest.http.timeout = dest.http.transfer_timeout = (2, 1)
        with pytest.raises(PublishError) as err:
            dest.put(local_file(tmp_path, "a.txt", b"abc"))
        dest.close()
    assert "no answer within 1 s (timed out)" in str(err.value)


def test_a_body_that_stops_times_out() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nfirst bytes"
    with silent_server(head) as url:
        client = Client("pypi", timeout=(2, 1), transfer_timeout=(2, 1))
        with pytest.raises(HttpError) as err:
            client.sha256_of(url + "/f.whl", "download to compare")
        client.close()
    assert "no answer within 1 s (timed out)" in str(err.value)
    assert len(str(err.value).splitlines()) <= 2  # the message and its hint: no traceback, no urllib3 repr


def test_every_request_of_the_session_has_a_timeout() -> None:
    """Even a request sent without `timeout=` (requests' default is to wait forever)."""
    with silent_server() as url:
        session = Session(timeout=(2, 1))
        started = time.monotonic()
        with pytest.raises(requests.Timeout):
            session.get(url)
        session.close()
    assert time.monotonic() - started < 10


# --- nothing goes around the layer ------------------------------------------------------------------------------

SENDING = {"requests", "urllib.request", "http.client", "urllib3", "httpx", "aiohttp", "pycurl"}
# pulldeploy.py is copied alone to servers and uses the standard library only (its own redirect rule
# and deadline, tested in tests/integration/test_pulldeploy.py); storage talks S3 through boto3.
OUTSIDE_THE_LAYER = {"wavrybuild/net.py", "wavrybuild/pulldeploy.py"}


def test_only_the_layer_sends_http() -> None:
    offenders = []
    for path in sorted((REPO / "wavrybuild").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel in OUTSIDE_THE_LAYER:
            continue
        tree = ast.parse(path.read_text(), rel)
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            offenders += [f"{rel}:{node.lineno}: {n}" for n in names if n in SENDING or n.split(".")[0] in SENDING - {"urllib"}]
            if isinstance(node, ast.Attribute) and node.attr == "auth" and isinstance(node.ctx, ast.Store):
                offenders.append(f"{rel}:{node.lineno}: sets .auth (credentials go through Client.authorize)")
    assert offenders == []


def test_destinations_talk_through_the_layer() -> None:
    for dest in (_pypi("https://index.example"), _gitlab("https://gitlab.example/api/v4"), _http("https://put.example"),
                 _github("https://api.github.example")):
        assert isinstance(dest.http, Client)
        assert dest.http.session.auth is None and "authorization" not in {h.lower() for h in dest.http.session.headers}
        dest.http.close()


def test_storage_client_keeps_the_layers_timeouts() -> None:
    """S3 traffic goes through boto3 (signed requests: the secret key never travels), with the
    layer's (connect, read) timeouts rather than botocore's 60 s and 5 attempts."""
    from wavrybuild.ci.storage import client
    from wavrybuild.config.storage import StorageConfig
    from wavrybuild.config.values import Component
    from wavrybuild.net import API_TIMEOUT

    s3 = client(StorageConfig(Component.parse("bucket"), "", HttpUrl.parse("http://127.0.0.1:9"), None))
    assert (s3.meta.config.connect_timeout, s3.meta.config.read_timeout) == API_TIMEOUT
    assert s3.meta.config.retries["total_max_attempts"] == 3
