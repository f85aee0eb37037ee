"""A rolling track for non-Rust artifacts (issue 29 item 6): an app released at v0.1.0 (binaries, a
.deb in a signed apt repository, a GitHub release) with its website on the rolling tag
website-latest; then a commit changes the website only, and `invoke release --only artifacts` —
where running cargo, rustc, rustup, zig or cargo-zigbuild fails loudly (rust_shims) — publishes
the new website on website-latest, replacing the old asset, while the v0.1.0 release's assets,
dist/ and the apt repository keep every byte. pull-deploy follows the tag: it deploys the first
website, then the second. GitHub cannot be reached from here: its REST API is test_publish's fake,
with the public download URLs (<base>/download/<tag>/<asset>) added."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from tests.conftest import git_commit, invoke, rust_shims, write_project
from tests.integration.servers import local_server
from tests.integration.test_publish import TOKEN, FakeGitHub, _handler

pytestmark = pytest.mark.integration
TARGET = "x86_64-unknown-linux-gnu"
GPG_PASS = "rolling-pass-5e1b"
SITE = "website-build.tar.gz"
# The website's "build": its source file's text into site/dist (what `npm run build` is to a real site).
BUILD = ("import pathlib; d = pathlib.Path('site/dist'); d.mkdir(parents=True, exist_ok=True); "
         "(d / 'index.html').write_text('<h1>' + pathlib.Path('site/title.txt').read_text().strip() + '</h1>')")


BODIES: list[tuple[str, str, dict[str, Any]]] = []  # (method, path, JSON body) of the API's POST/PATCH calls


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    """test_publish's fake GitHub API, plus the public download URLs a release's assets have, and
    the JSON bodies sent to it kept (the fake itself ignores make_latest)."""
    fake = FakeGitHub(token=TOKEN)
    BODIES.clear()

    class Downloads(_handler(fake)):  # type: ignore[misc, valid-type]
        def keep_body(self) -> None:
            if self.path.startswith("/api/"):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                BODIES.append((self.command, urlsplit(self.path).path, json.loads(body or b"{}")))
                self.rfile = io.BytesIO(body)  # the fake reads it again

        def do_POST(self) -> None:
            self.keep_body()
            super().do_POST()

        def do_PATCH(self) -> None:
            self.keep_body()
            super().do_PATCH()

        def do_GET(self) -> None:
            m = re.fullmatch(r"/download/([^/]+)/([^/]+)", urlsplit(self.path).path)
            if m is None:
                super().do_GET()
                return
            with fake.lock:
                found = [a.data for r in fake.releases.values() if r.tag_name == m[1] and not r.draft
                         for a in fake.assets.values()
                         if a.release_id == r.id and a.name == unquote(m[2]) and a.state == "uploaded"]
            self.send(200, found[0]) if found else self.send(404, {"message": "Not Found"})

    with local_server(Downloads) as fake.base:
        yield fake


def _keys(base: Path) -> tuple[dict[str, str], str, Path, Path]:
    home = base / "gnupg"
    home.mkdir(mode=0o700)
    genv = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", GPG_PASS, "--quick-gen-key",
                    "Wavry Packages <packages@example.invalid>", "ed25519", "sign", "never"],
                   env=genv, check=True, capture_output=True)
    listing = subprocess.run(["gpg", "--batch", "--with-colons", "--list-secret-keys"], env=genv, check=True,
                             capture_output=True, text=True).stdout
    fpr = next(ln.split(":")[9] for ln in listing.splitlines() if ln.startswith("fpr:"))
    keys = base / "minisign"
    keys.mkdir()
    subprocess.run(["minisign", "-G", "-W", "-p", str(keys / "mini.pub"), "-s", str(keys / "mini.key")],
                   check=True, capture_output=True)
    return genv, fpr, home, keys


def _toml_text(doc: dict[str, Any], prefix: str = "") -> str:
    """TOML for a document of tables (dicts) and arrays of tables (lists of dicts) whose values are
    strings, lists of strings and booleans, which JSON spells as TOML does."""
    out = ""
    for name, value in doc.items():
        if isinstance(value, list):
            out += "".join(f"\n[[{prefix}{name}]]\n" + _pairs(table) for table in value)
        else:
            out += f"\n[{prefix}{name}]\n" + _pairs(value)
            out += _toml_text({k: v for k, v in value.items() if isinstance(v, dict)}, f"{prefix}{name}.")
    return out


def _pairs(table: dict[str, Any]) -> str:
    return "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items() if not isinstance(v, dict))


def _config(fake: FakeGitHub, fpr: str, home: Path, keys: Path) -> dict[str, Any]:
    """The app (host target, a .deb in a signed apt repository, GitHub releases) and its website."""
    return {
        "project": {"crate": "demo"},
        "defaults": {"smoke-expect": "{version} ({triple})"},
        "targets": {TARGET: {"builder": "cargo"}},
        "package": {"include": ["README.md", "LICENSE"]},
        "channels": {"deb": {"targets": [TARGET], "repository": True}},
        "sign": {"methods": ["gpg", "minisign"],
                 "gpg": {"key": fpr, "homedir": str(home), "passphrase-env": "TEST_GPG_PASS"},
                 "minisign": {"key": str(keys / "mini.key"), "public-key": str(keys / "mini.pub")}},
        "publish": {"github": {"repo": "o/n", "api-url": f"{fake.base}/api", "token-env": "WAVRY_TEST_GH_TOKEN",
                               "draft": False}},
        "artifacts": [{"name": SITE, "command": [sys.executable, "-c", BUILD], "directory": "site/dist",
                       "tag": "website-latest"}],
    }


def _tree(d: Path, skip: str = "") -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*"))
            if p.is_file() and not (skip and p.relative_to(d).parts[0] == skip)}


def _assets(fake: FakeGitHub, tag: str) -> dict[str, tuple[int, bytes]]:
    return {a.name: (a.id, a.data) for a in fake.release_assets(tag)}


def _pull(fake: FakeGitHub, deploy: Path, keys: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wavrybuild.pulldeploy", "--url", f"{fake.base}/download/website-latest",
                           "--asset", SITE, "--dir", str(deploy), "--minisign-key", str(keys / "mini.pub")],
                          capture_output=True, text=True, timeout=120, check=False)


def test_website_rolls_without_the_app(tmp_path: Path, github: FakeGitHub, cargo_target_dir: Path) -> None:
    genv, fpr, home, keys = _keys(tmp_path)
    config = _config(github, fpr, home, keys)
    assert tomllib.loads(_toml_text(config)) == config
    root = write_project(tmp_path / "p", _toml_text(config))
    (root / "site").mkdir()
    (root / "site/title.txt").write_text("first website\n")
    git_commit(root)
    env = {"CARGO_TARGET_DIR": str(cargo_target_dir), "WAVRY_TEST_GH_TOKEN": TOKEN, "TEST_GPG_PASS": GPG_PASS,
           "GNUPGHOME": genv["GNUPGHOME"]}

    done = invoke("release", cwd=root, env=env)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    dist = root / "dist"
    # The website is not part of the versioned release: neither in dist/ nor among v0.1.0's assets.
    listed = json.loads((dist / "manifest.json").read_text())["artifacts"]
    assert not [a for a in listed if a["kind"] == "extra"] and not (dist / SITE).exists()
    app = _assets(github, "v0.1.0")
    assert SITE not in app and any(n.endswith(".deb") for n in app) and "SHA256SUMS" in app
    site1 = _assets(github, "website-latest")
    assert sorted(site1) == sorted([SITE, "SHA256SUMS", "SHA256SUMS.asc", "SHA256SUMS.minisig", "manifest.json"])
    assert SITE in site1["SHA256SUMS"][1].decode() and "deb" not in site1["SHA256SUMS"][1].decode()
    first_commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    assert github.tags["website-latest"] == first_commit

    # The website's release never becomes GitHub's "Latest": /releases/latest/ stays the app's.
    (site_id,) = [r.id for r in github.releases.values() if r.tag_name == "website-latest"]
    made = [b for m, p, b in BODIES if m == "POST" and p.endswith("/releases")]
    assert [b.get("make_latest") for b in made] == [None, "false"] and made[1]["tag_name"] == "website-latest"
    published = [b for m, p, b in BODIES if m == "PATCH" and p.endswith(f"/releases/{site_id}")]
    assert [b.get("draft") for b in published] == [False] and published[0]["make_latest"] == "false"

    deploy = tmp_path / "srv"
    pulled = _pull(github, deploy, keys)
    assert pulled.returncode == 0, pulled.stderr
    assert (deploy / "current/index.html").read_text() == "<h1>first website</h1>"

    # A new commit changes the website only.
    before_dist, before_repo = _tree(dist, skip=".wavrybuild"), _tree(dist / "repo")
    assert before_repo and any(n.endswith("InRelease") for n in before_repo)
    (root / "site/title.txt").write_text("second website\n")
    when = {"GIT_AUTHOR_DATE": "2026-02-03T04:05:06Z", "GIT_COMMITTER_DATE": "2026-02-03T04:05:06Z"}
    subprocess.run(["git", "commit", "-q", "-am", "website: new title"], cwd=root, check=True,
                   env={**os.environ, **when, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"})
    second_commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()

    shims, mark = rust_shims(tmp_path / "norust")
    github.log.clear()
    done = invoke("release", "--only", "artifacts", cwd=root, env={**env, **shims})
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert not mark.exists(), f"a Rust tool ran:\n{mark.read_text()}\n{out}"
    assert "$ cargo" not in out and "cargo metadata" not in out, out

    site2 = _assets(github, "website-latest")
    assert site2[SITE][1] != site1[SITE][1] and site2[SITE][0] != site1[SITE][0]  # a new asset replaced the old
    assert github.calls("DELETE", rf"/releases/assets/{site1[SITE][0]}$") == 1
    assert sorted(site2) == sorted(site1) and github.tags["website-latest"] == second_commit
    assert json.loads(site2["manifest.json"][1])["git"]["commit"] == second_commit
    # The versioned release, dist/ and the apt repository: every byte as before.
    assert _assets(github, "v0.1.0") == app
    (app_release,) = [r.id for r in github.releases.values() if r.tag_name == "v0.1.0"]
    assert not [p for _, p in github.log if "v0.1.0" in p or re.search(rf"/releases/{app_release}(/|$)", p)]
    assert _tree(dist, skip=".wavrybuild") == before_dist and _tree(dist / "repo") == before_repo

    pulled = _pull(github, deploy, keys)
    assert pulled.returncode == 0, pulled.stderr
    assert (deploy / "current/index.html").read_text() == "<h1>second website</h1>"

    # Idempotent: the same commit again uploads nothing.
    github.log.clear()
    again = invoke("release", "--only", "artifacts", cwd=root, env={**env, **shims})
    assert again.returncode == 0, again.stdout + again.stderr
    assert github.calls("POST", r"^/uploads/") == 0 and github.calls("DELETE") == 0, github.log
    assert _assets(github, "website-latest") == site2 and "skipped" in again.stdout
    assert not mark.exists()
