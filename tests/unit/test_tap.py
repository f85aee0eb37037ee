"""The Homebrew formula committed to a tap repository (issue 30 item 3: [channels.homebrew] tap).

GitHub cannot be reached from here: FakeTap is a FAKE of the GitHub REST API's repository contents
endpoints, written from GitHub's public docs ("Repository contents": GET and PUT
/repos/{owner}/{repo}/contents/{path}), served on 127.0.0.1. What matters for idempotence is kept:
a file's `sha` is its git blob sha; a PUT over an existing file must carry that sha (missing: 422,
another: 409 Conflict), a PUT of a new file creates it (201), of an existing one updates it (200);
`ref` (GET) and `branch` (PUT) choose the branch; every request needs the bearer token (401).
The formula itself is the real one the package-managers stage writes (test_package_managers' dist/)."""

from __future__ import annotations

import base64
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

from tests.integration.servers import JsonReplies, local_server
from tests.unit.test_package_managers import _config, _release
from wavrybuild.errors import ConfigError
from wavrybuild.publish import publish
from wavrybuild.publish.base import PublishError
from wavrybuild.publish.tap import git_blob_sha

TOKEN = "ghp_tapSecretToken0123456789abcdefABCDEF"


def _blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob " + str(len(data)).encode() + b"\0" + data).hexdigest()


@dataclass
class FakeTap:
    """The FAKE GitHub contents API of one repository, example/homebrew-tap (see the module docstring)."""

    token: str
    files: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (branch, path) -> bytes
    log: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    default_branch: str = "main"

    def calls(self, method: str) -> list[dict[str, Any]]:
        return [body for m, _, body in self.log if m == method]


def _handler(fake: FakeTap) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonReplies):
        def handle_any(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.loads(raw) if raw else {}
            with fake.lock:
                fake.log.append((self.command, self.path, body))
            if self.headers.get("Authorization") != f"Bearer {fake.token}":
                self.send(401, {"message": "Bad credentials"})
                return
            m = re.fullmatch(r"/repos/example/homebrew-tap/contents/(.+)", url.path)
            if m is None:
                self.send(404, {"message": "Not Found"})
                return
            path = unquote(m[1])
            with fake.lock:
                if self.command == "GET":
                    self.get(path, query.get("ref", fake.default_branch))
                elif self.command == "PUT":
                    self.put(path, body)
                else:
                    self.send(405, {"message": "Method Not Allowed"})

        do_GET = do_PUT = do_POST = handle_any

        def get(self, path: str, branch: str) -> None:
            data = fake.files.get((branch, path))
            if data is None:
                self.send(404, {"message": "Not Found"})
                return
            # The docs' shape: base64 content wrapped at 60 characters, as GitHub sends it.
            b64 = base64.b64encode(data).decode()
            self.send(200, {"type": "file", "encoding": "base64", "size": len(data), "name": path.rsplit("/", 1)[-1],
                            "path": path, "sha": _blob_sha(data),
                            "content": "\n".join(b64[i:i + 60] for i in range(0, len(b64), 60)) + "\n"})

        def put(self, path: str, body: dict[str, Any]) -> None:
            branch = body.get("branch", fake.default_branch)
            if not isinstance(body.get("message"), str) or not isinstance(body.get("content"), str):
                self.send(422, {"message": "Invalid request."})
                return
            old = fake.files.get((branch, path))
            if old is not None and "sha" not in body:
                self.send(422, {"message": 'Invalid request.\n\n"sha" wasn\'t supplied.'})
                return
            if old is not None and body["sha"] != _blob_sha(old):
                self.send(409, {"message": f"{path} does not match {body['sha']}"})
                return
            data = base64.b64decode(body["content"])
            fake.files[(branch, path)] = data
            self.send(201 if old is None else 200, {"content": {"path": path, "sha": _blob_sha(data)},
                                                    "commit": {"message": body["message"]}})

    return Handler


@pytest.fixture
def tap() -> Iterator[tuple[FakeTap, str]]:
    fake = FakeTap(TOKEN)
    with local_server(_handler(fake)) as url:
        yield fake, url


def _tapped(root: Path, url: str, description: str = "A demo", **keys: Any):
    cfg = _config(root, {"homebrew": {"tap": "example/homebrew-tap", "tap-api-url": url, **keys}},
                  description=description)
    _release(cfg)
    return cfg


def _publish(cfg, monkeypatch: pytest.MonkeyPatch, env: str = "HOMEBREW_TAP_TOKEN") -> tuple[list, list[str]]:
    monkeypatch.setenv(env, TOKEN)
    lines: list[str] = []
    results = publish(cfg, cfg.project.dist_dir, only=("homebrew",), log=lines.append)
    return results, lines


def test_git_blob_sha_is_gits() -> None:
    assert git_blob_sha(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"  # `echo hello | git hash-object --stdin`
    assert git_blob_sha(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # git's empty blob


def test_first_run_creates_second_changes_nothing_a_new_formula_updates(tmp_path: Path, tap,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    fake, url = tap
    cfg = _tapped(tmp_path / "p", url)
    formula = (cfg.project.dist_dir / "demo.rb").read_bytes()
    results, lines = _publish(cfg, monkeypatch)
    assert [(r.destination, r.file, r.action) for r in results] == [("homebrew", "demo.rb", "uploaded")]
    assert fake.files == {("main", "Formula/demo.rb"): formula}
    (created,) = fake.calls("PUT")
    assert "sha" not in created and created["message"] == "demo 1.2.3"
    # Second run: the same bytes are there, nothing is written.
    results, _ = _publish(cfg, monkeypatch)
    assert [r.action for r in results] == ["skipped"]
    assert len(fake.calls("PUT")) == 1 and len(fake.calls("GET")) == 2
    # A changed formula: one PUT carrying the sha of the blob it replaces.
    cfg2 = _tapped(tmp_path / "p", url, description="A better demo")
    new = (cfg2.project.dist_dir / "demo.rb").read_bytes()
    assert new != formula
    results, _ = _publish(cfg2, monkeypatch)
    assert [r.action for r in results] == ["updated"]
    update = fake.calls("PUT")[-1]
    assert update["sha"] == _blob_sha(formula) and base64.b64decode(update["content"]) == new
    assert fake.files == {("main", "Formula/demo.rb"): new}
    # The token never reaches the output; only the Authorization header carried it.
    assert not any(TOKEN in line for line in lines)
    assert not any(TOKEN in json.dumps(body) or TOKEN in path for _, path, body in fake.log)


def test_branch_and_path_are_the_configured_ones(tmp_path: Path, tap, monkeypatch: pytest.MonkeyPatch) -> None:
    fake, url = tap
    cfg = _tapped(tmp_path / "p", url, **{"tap-path": "Casks/x/{name}.rb", "tap-branch": "formulae",
                                          "tap-token-env": "MY_TAP_TOKEN"})
    _publish(cfg, monkeypatch, env="MY_TAP_TOKEN")
    assert list(fake.files) == [("formulae", "Casks/x/demo.rb")]
    assert [p for m, p, _ in fake.log if m == "GET"] == ["/repos/example/homebrew-tap/contents/Casks/x/demo.rb?ref=formulae"]
    assert fake.calls("PUT")[0]["branch"] == "formulae"


def test_dry_run_reads_no_token_and_sends_nothing(tmp_path: Path, tap, monkeypatch: pytest.MonkeyPatch) -> None:
    fake, url = tap
    cfg = _tapped(tmp_path / "p", url)
    monkeypatch.delenv("HOMEBREW_TAP_TOKEN", raising=False)
    results = publish(cfg, cfg.project.dist_dir, only=("homebrew",), dry=True, log=lambda _: None)
    assert [(r.action, r.detail) for r in results] == [("would upload", "example/homebrew-tap: Formula/demo.rb")]
    assert fake.log == []


def test_missing_token_fails_before_any_request(tmp_path: Path, tap, monkeypatch: pytest.MonkeyPatch) -> None:
    fake, url = tap
    cfg = _tapped(tmp_path / "p", url)
    monkeypatch.delenv("HOMEBREW_TAP_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"channels\.homebrew\.tap-token-env: environment variable HOMEBREW_TAP_TOKEN"):
        publish(cfg, cfg.project.dist_dir, only=("homebrew",), log=lambda _: None)
    assert fake.log == []


def test_a_refused_token_is_one_error_without_the_token(tmp_path: Path, tap, monkeypatch: pytest.MonkeyPatch) -> None:
    fake, url = tap
    fake.token = "another"
    cfg = _tapped(tmp_path / "p", url)
    with pytest.raises(PublishError) as err:
        _publish(cfg, monkeypatch)
    text = f"{err.value.message} {err.value.hint}"
    assert "401" in text and "HOMEBREW_TAP_TOKEN" in text and TOKEN not in text


def test_a_formula_changed_after_the_stage_is_not_sent(tmp_path: Path, tap, monkeypatch: pytest.MonkeyPatch) -> None:
    fake, url = tap
    cfg = _tapped(tmp_path / "p", url)
    (cfg.project.dist_dir / "demo.rb").write_text('class Demo < Formula\n  system "id"\nend\n')
    with pytest.raises(PublishError, match="changed since it was written"):
        _publish(cfg, monkeypatch)
    assert fake.log == []


BAD = [
    ({"tap": "../x"}, "channels.homebrew.tap: expected"),
    ({"tap": "o/r\n"}, "channels.homebrew.tap: expected"),
    ({"tap": "o/r", "tap-path": "../../etc/demo.rb"}, "channels.homebrew.tap-path"),
    ({"tap": "o/r", "tap-path": "/abs/demo.rb"}, "channels.homebrew.tap-path"),
    ({"tap": "o/r", "tap-path": "Formula/{version}.rb"}, "channels.homebrew.tap-path"),
    ({"tap": "o/r", "tap-path": "Formula/demo.rb\nx.rb"}, "channels.homebrew.tap-path"),
    ({"tap": "o/r", "tap-path": "Formula/demo.txt"}, "channels.homebrew.tap-path"),
    ({"tap": "o/r", "tap-token-env": "ghp_0123456789abcdef0123456789abcdef0123"}, "channels.homebrew.tap-token-env"),
    ({"tap": "o/r", "tap-api-url": "https://u:p@api.example"}, "channels.homebrew.tap-api-url"),
    ({"tap": "o/r", "tap-api-url": "ftp://api.example"}, "channels.homebrew.tap-api-url"),
    ({"tap": "o/r", "tap-branch": "main..x"}, "channels.homebrew.tap-branch"),
    ({"tap": "o/r", "tap-pth": "x.rb"}, "did you mean 'tap-path'"),
    ({"tap-path": "Formula/demo.rb"}, "channels.homebrew.tap: missing"),
    ({"tap": "o/r", "tap-token": "s3cret"}, "secrets never go in targets.toml"),
]


@pytest.mark.parametrize(("homebrew", "message"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_tap_config_is_one_clear_error(tmp_path: Path, homebrew: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        _config(tmp_path / "p", {"homebrew": homebrew})
    assert message in err.value.message
    assert "s3cret" not in err.value.message and "ghp_0123" not in err.value.message


def test_doctor_and_dry_check_the_tap_token_before_the_build(tmp_path: Path) -> None:
    """The release's up-front check of credentials (publish.credentials, pipeline/requirements.py)
    names the tap's token variable, unless `--only` leaves the tap out."""
    from wavrybuild.pipeline.requirements import EnvVar
    from wavrybuild.publish.upload import credentials

    cfg = _config(tmp_path / "p", {"homebrew": {"tap": "example/homebrew-tap", "tap-token-env": "MY_TAP_TOKEN"}})
    assert EnvVar("MY_TAP_TOKEN", "channels.homebrew.tap-token-env") in credentials(cfg)
    assert EnvVar("MY_TAP_TOKEN", "channels.homebrew.tap-token-env") in credentials(cfg, ("homebrew",))
    assert not any(e.name == "MY_TAP_TOKEN" for e in credentials(cfg, ("github",)) if isinstance(e, EnvVar))
