"""Retries of the one HTTP layer (net.py: urllib3's Retry on the session), against real HTTP servers
on 127.0.0.1 (http.server in a thread) that answer from a script: what the server RECEIVED is
counted. Waits are kept to milliseconds (RetryPolicy's backoff) except where a Retry-After of 1 s is
the point. The GitLab destination talks to such a server in place of GitLab (a remote service)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from wavrybuild.config.npm import NpmConfig, NpmName
from wavrybuild.config.publish import GitLabConfig, GitLabProject
from wavrybuild.config.values import HttpUrl
from wavrybuild.errors import ConfigError, WavryError
from wavrybuild.net import Client, RetryPolicy
from wavrybuild.publish.base import LocalFile, ReleaseRef
from wavrybuild.publish.gitlab import GitLabDestination
from wavrybuild.publish.npm import NpmTarball
from wavrybuild.publish.npm import _publish_one as npm_publish_one

TOKEN = "tok-Retry/Secret+9Zq"
FAST = RetryPolicy(retries=3, backoff=0.01, max_wait=5)

# One scripted answer: (status, headers, body), or None to close the connection without answering.
Answer = tuple[int, dict[str, str], bytes] | None


@dataclass
class Script:
    answers: list[Answer]
    seen: list[tuple[str, str, bytes, float]] = field(default_factory=list)  # method, path, body, when
    last: Answer = (200, {}, b"ok")

    def next(self) -> Answer:
        return self.answers.pop(0) if self.answers else self.last


@contextlib.contextmanager
def server(script: Script, delay: float = 0) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(size) if size else b""
            script.seen.append((self.command, self.path, body, time.monotonic()))
            answer = script.next()
            if delay:
                time.sleep(delay)
            if answer is None:  # the request arrived, the answer never does
                self.close_connection = True
                return
            status, headers, payload = answer
            self.send_response(status)
            for k, v in {"Content-Length": str(len(payload)), **headers}.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                with contextlib.suppress(OSError):  # a client that timed out has gone
                    self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def client(policy: RetryPolicy = FAST, kind: str = "github") -> Client:
    return Client(kind, retry=policy)


def unavailable(**headers: str) -> Answer:
    return 503, headers, b"down"


# --- what is tried again -------------------------------------------------------------------------------------

def test_503_twice_then_200_is_one_success() -> None:
    script = Script([unavailable(), unavailable()])
    with server(script) as url:
        c = client()
        resp = c.call("GET", url + "/releases", "list releases")
        c.close()
    assert resp.status_code == 200 and resp.text == "ok"
    assert [s[0] for s in script.seen] == ["GET", "GET", "GET"]


def test_429_with_retry_after_waits_that_long_even_for_a_post() -> None:
    """429 says the request was not carried out: safe to send again, whatever the method."""
    script = Script([(429, {"Retry-After": "1"}, b"slow down")])
    with server(script) as url:
        c = client()
        resp = c.call("POST", url + "/releases", "create release", expect=(201, 200), json={"tag": "v1"})
        c.close()
    assert resp.status_code == 200
    assert [s[0] for s in script.seen] == ["POST", "POST"]
    assert script.seen[1][2] == script.seen[0][2] == b'{"tag": "v1"}'  # the same body, whole
    assert 1.0 <= script.seen[1][3] - script.seen[0][3] < 3


def test_githubs_secondary_rate_limit_403_with_retry_after_is_waited() -> None:
    script = Script([(403, {"Retry-After": "1"}, b'{"message": "You have exceeded a secondary rate limit"}')])
    with server(script) as url:
        c = client()
        assert c.call("GET", url + "/x", "read").status_code == 200
        c.close()
    assert len(script.seen) == 2 and script.seen[1][3] - script.seen[0][3] >= 1.0


def test_an_exhausted_rate_limit_is_not_waited_for_but_named() -> None:
    """GitHub's primary limit: 403, X-RateLimit-Remaining 0, the reset time (an hour away here)."""
    reset = str(int(time.time()) + 3600)
    script = Script([], last=(403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset,
                                    "Content-Type": "application/json"}, b'{"message": "API rate limit exceeded"}'))
    with server(script) as url:
        c = client()
        with pytest.raises(WavryError) as err:
            c.call("GET", url + "/x", "read")
        c.close()
    assert len(script.seen) == 1
    assert "HTTP 403 Forbidden (rate limit exhausted until " in err.value.message
    assert "API rate limit exceeded" in err.value.message
    assert "rate limit" in (err.value.hint or "")


def failing_get(script: Script, policy: RetryPolicy) -> tuple[WavryError, float]:
    """The error of a GET that fails in the end, and how long it took."""
    with server(script) as url:
        c = client(policy)
        started = time.monotonic()
        with pytest.raises(WavryError) as err:
            c.call("GET", url + "/x", "read")
        c.close()
    return err.value, time.monotonic() - started


def test_a_429_whose_reset_is_beyond_the_cap_gives_up_at_once() -> None:
    script = Script([], last=(429, {"Retry-After": "600"}, b"later"))
    err, took = failing_get(script, RetryPolicy(retries=3, backoff=0.01, max_wait=5))
    assert took < 2 and len(script.seen) == 1
    assert "HTTP 429 Too Many Requests (the next try was 600 s away, beyond the 5 s of WAVRYBUILD_HTTP_MAX_WAIT)" \
        in err.message


def test_backoff_waits_add_up_to_at_most_the_cap() -> None:
    """backoff 0.2 s: waits 0, 0.4, 0.8 … — a 0.6 s cap allows the first two again, not the third."""
    script = Script([], last=unavailable())
    err, took = failing_get(script, RetryPolicy(retries=5, backoff=0.2, max_wait=0.6))
    assert len(script.seen) == 3 and 0.4 <= took < 2
    assert "after 3 tries (the next try was " in err.message


def test_the_last_try_names_service_request_status_and_tries_never_a_secret() -> None:
    basic = base64.b64encode(f"__token__:{TOKEN}".encode()).decode()
    script = Script([], last=(503, {"Content-Type": "application/json"},
                              f'{{"message": "token {TOKEN} basic {basic} rejected"}}'.encode()))
    with server(script) as url:
        c = client(kind="pypi")
        c.authorize(url, basic=("__token__", TOKEN))
        with pytest.raises(WavryError) as err:
            c.call("GET", url + "/simple/demo/", "demo: list files")
        c.close()
    assert len(script.seen) == 4  # the first try and 3 more
    text = str(err.value)
    assert text.startswith(f"pypi: demo: list files: GET {url}/simple/demo/: HTTP 503 Service Unavailable after 4 tries: ")
    assert TOKEN not in text and basic not in text and "***" in text


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_post_that_may_have_been_carried_out_is_not_sent_again(status: int) -> None:
    script = Script([(status, {}, b"oops")])
    with server(script) as url:
        c = client()
        with pytest.raises(WavryError, match=rf"HTTP {status}"):
            c.call("POST", url + "/releases", "create release", expect=(201,), json={})
        c.close()
    assert len(script.seen) == 1


def test_a_503_with_retry_after_says_not_done_so_a_post_is_sent_again() -> None:
    script = Script([unavailable(**{"Retry-After": "0"})])
    with server(script) as url:
        c = client()
        assert c.call("POST", url + "/x", "create", json={}).status_code == 200
        c.close()
    assert len(script.seen) == 2


def test_a_lost_answer_retries_a_put_of_a_whole_file_not_a_post(tmp_path: Path) -> None:
    data = b"whole file " * 1000
    (tmp_path / "f").write_bytes(data)
    script = Script([None])
    with server(script) as url:
        c = client()
        with (tmp_path / "f").open("rb") as body:
            c.call("PUT", url + "/f", "upload", expect=(200,), data=body).close()
        assert [s[2] for s in script.seen] == [data, data]  # the body sent again from its start
        script.answers = [None]
        with pytest.raises(WavryError, match=r"create: POST .* failed: "):
            c.call("POST", url + "/x", "create", json={})
        c.close()
    assert len(script.seen) == 3


def test_idempotent_false_keeps_a_put_from_being_sent_again() -> None:
    script = Script([unavailable(), None])
    with server(script) as url:
        c = client()
        with pytest.raises(WavryError, match="HTTP 503"):
            c.call("PUT", url + "/new", "publish", idempotent=False)
        with pytest.raises(WavryError, match=r"publish: PUT .* failed: "):
            c.call("PUT", url + "/new", "publish", idempotent=False)
        assert c.call("PUT", url + "/new", "publish").status_code == 200  # the default for PUT: retried
        c.close()
    assert len(script.seen) == 3


def test_a_refused_connection_is_tried_again_then_one_error() -> None:
    with server(Script([])) as url:
        pass  # the port is free again: nothing listens there
    c = client()
    with pytest.raises(WavryError) as err:
        c.call("GET", url + "/x", "read")
    c.close()
    assert err.value.message.startswith(f"github: read: GET {url}/x failed after 4 tries: ")
    assert "Traceback" not in str(err.value) and "object at 0x" not in str(err.value)


def test_a_timeout_is_not_tried_again() -> None:
    script = Script([], last=(200, {}, b"late"))
    with server(script, delay=1.5) as url:
        c = Client("github", retry=FAST, timeout=(2, 0.3))
        with pytest.raises(WavryError, match=r"no answer within 0.3 s \(timed out\)"):
            c.call("GET", url + "/x", "read")
        c.close()
    assert len(script.seen) == 1


def test_an_unreadable_retry_after_falls_back_to_the_backoff() -> None:
    script = Script([unavailable(**{"Retry-After": "soon, maybe"}), unavailable(**{"Retry-After": "-5"})])
    with server(script) as url:
        c = client()
        assert c.call("GET", url + "/x", "read").status_code == 200
        c.close()
    assert len(script.seen) == 3


# --- per destination ---------------------------------------------------------------------------------------

def test_gitlab_upload_is_not_sent_twice_but_its_release_read_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GitLab keeps every PUT of a generic package file (a retry would leave a duplicate)."""
    monkeypatch.setenv("WAVRYBUILD_HTTP_BACKOFF", "0.01")
    data = b"archive"
    (tmp_path / "a.tar.gz").write_bytes(data)
    f = LocalFile("a.tar.gz", tmp_path / "a.tar.gz", len(data), hashlib.sha256(data).hexdigest())
    script = Script([unavailable()])
    with server(script) as url:
        dest = GitLabDestination(GitLabConfig(project=GitLabProject.parse("g/p"), token_env="GL_TOKEN"),
                                 ReleaseRef("demo", "0.1.0", "a" * 40), TOKEN, "g/p", url + "/api/v4")
        with pytest.raises(WavryError, match=r"a.tar.gz: upload: PUT .*: HTTP 503"):
            dest.put(f)
        dest.close()
    assert [s[0] for s in script.seen] == ["PUT"]


def test_npm_publish_is_not_sent_twice(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A lost answer to npm's publish PUT: not sent again blindly (the registry refuses a second
    publish of a version); the error says so and the rerun asks the registry first."""
    script = Script([(404, {}, b"{}"), None], last=(404, {}, b"{}"))
    with server(script) as url:
        nc = NpmConfig(name=NpmName.parse("@demo/cli"), targets=None, registry=HttpUrl.parse(url + "/"),
                       token_env="NPM_TOKEN", access=None, tag=None)
        it = NpmTarball(tmp_path / "cli.tgz", "@demo/cli", "0.1.0", "sha512-x")
        monkeypatch.setattr("wavrybuild.publish.npm.publish_body", lambda *a, **k: {"name": "@demo/cli"})
        c = Client("npm", retry=FAST)
        with pytest.raises(WavryError, match=r"@demo/cli@0.1.0: publish: PUT .* failed: "):
            npm_publish_one(c, nc, it)
        c.close()
    assert [s[0] for s in script.seen] == ["GET", "PUT"]


# --- the knobs --------------------------------------------------------------------------------------------------

def test_policy_from_the_environment() -> None:
    assert RetryPolicy.read({}) == RetryPolicy(4, 1.0, 120.0)
    assert RetryPolicy.read({"WAVRYBUILD_HTTP_RETRIES": "0", "WAVRYBUILD_HTTP_BACKOFF": "0.25",
                             "WAVRYBUILD_HTTP_MAX_WAIT": "30", }) == RetryPolicy(0, 0.25, 30.0)
    assert RetryPolicy.read({"WAVRYBUILD_HTTP_RETRIES": ""}) == RetryPolicy()


@pytest.mark.parametrize(("name", "value"), [
    ("WAVRYBUILD_HTTP_RETRIES", "-1"), ("WAVRYBUILD_HTTP_RETRIES", "3.5"), ("WAVRYBUILD_HTTP_RETRIES", "11"),
    ("WAVRYBUILD_HTTP_RETRIES", "1e3"), ("WAVRYBUILD_HTTP_RETRIES", "٣"), ("WAVRYBUILD_HTTP_RETRIES", " 3"),
    ("WAVRYBUILD_HTTP_BACKOFF", "nan"), ("WAVRYBUILD_HTTP_BACKOFF", "inf"), ("WAVRYBUILD_HTTP_BACKOFF", "1e309"),
    ("WAVRYBUILD_HTTP_BACKOFF", "61"), ("WAVRYBUILD_HTTP_BACKOFF", "1\n2"), ("WAVRYBUILD_HTTP_BACKOFF", "0x10"),
    ("WAVRYBUILD_HTTP_BACKOFF", "-0.5"), ("WAVRYBUILD_HTTP_MAX_WAIT", "3601"),
    ("WAVRYBUILD_HTTP_MAX_WAIT", "../../etc/passwd"), ("WAVRYBUILD_HTTP_MAX_WAIT", "9" * 500),
])
def test_a_hostile_knob_is_one_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        RetryPolicy.read({name: value})
    message = str(err.value)
    assert message.startswith(f"environment variable {name}: ")
    assert "\n2" not in message.split("\n  hint:")[0] and len(message) < 400  # one line, cut short
    assert "unset it for the default" in (err.value.hint or "")


def test_a_misspelt_knob_gets_a_did_you_mean() -> None:
    with pytest.raises(ConfigError) as err:
        RetryPolicy.read({"WAVRYBUILD_HTTP_BACKOF": "0.1"})
    assert str(err.value).startswith("environment variable WAVRYBUILD_HTTP_BACKOF: not a setting wavrybuild knows")
    assert (err.value.hint or "").startswith("did you mean WAVRYBUILD_HTTP_BACKOFF? ")
    with pytest.raises(ConfigError, match="WAVRYBUILD_HTTP_PROXY: not a setting"):
        RetryPolicy.read({"WAVRYBUILD_HTTP_PROXY": "x"})
    assert RetryPolicy.read({"WAVRYBUILD_HTTPS": "1", "HTTP_PROXY": "x"}) == RetryPolicy()


def test_a_client_reads_the_knobs_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAVRYBUILD_HTTP_RETRIES", "1")
    monkeypatch.setenv("WAVRYBUILD_HTTP_BACKOFF", "0")
    script = Script([], last=unavailable())
    with server(script) as url:
        c = Client("http")
        monkeypatch.setenv("WAVRYBUILD_HTTP_RETRIES", "5")
        with pytest.raises(WavryError, match="after 2 tries"):
            c.call("GET", url + "/x", "read")
        c.close()
    assert len(script.seen) == 2
    monkeypatch.setenv("WAVRYBUILD_HTTP_BACKOFF", "fast")
    with pytest.raises(ConfigError, match="WAVRYBUILD_HTTP_BACKOFF: 'fast' is not a number of seconds"):
        Client("http")
