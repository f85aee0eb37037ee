"""[publish.crates]: a workspace of a library and a binary depending on it (a path dependency with a
version). The part job packages both with real `cargo package` (which verifies each by building
the packaged sources); the release job, where every Rust tool is a shim that leaves a mark and
exits 99, uploads the two `.crate` files through the registry web API in dependency order.

The registry is a FAKE on localhost, because crates.io cannot be reached from here. It follows the
public documents: a sparse index (config.json naming the web API, one JSON line per version with
its cksum; https://doc.rust-lang.org/cargo/reference/registry-index.html) and the web API's publish
endpoint (https://doc.rust-lang.org/cargo/reference/registry-web-api.html#publish: PUT
/api/v1/crates/new, body = u32 LE JSON length, JSON metadata, u32 LE .crate length, .crate bytes;
`Authorization: <token>`; answer {"warnings": …}, errors as {"errors": [{"detail": …}]}). Like
crates.io it refuses a version twice and a dependency it does not have yet."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git_commit, invoke, rust_shims, write_files
from tests.integration.servers import local_server
from wavrybuild.publish.crates import index_path

pytestmark = pytest.mark.integration
TOKEN = "cio-CratesTokenNeverShown7c1d"
TARGET = "x86_64-unknown-linux-gnu"
DEP_FIELDS = {"name", "version_req", "features", "optional", "default_features", "target", "kind", "registry",
              "explicit_name_in_toml"}


@dataclass
class FakeRegistry:
    """A FAKE cargo registry (see the module docstring). `hold`: a crate whose upload waits until `resume`.
    `flaky`: crate name -> "lost" (stored, then the connection closed with no answer) or "503" (not
    stored, HTTP 503), each once."""

    token: str
    base: str = ""
    crates: dict[tuple[str, str], bytes] = field(default_factory=dict)
    index: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    published: list[str] = field(default_factory=list)
    hold: str | None = None
    flaky: dict[str, str] = field(default_factory=dict)
    held: threading.Event = field(default_factory=threading.Event)
    resume: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def refusal(self, meta: dict[str, Any]) -> str | None:
        """Why crates.io would refuse this metadata, or None."""
        if (meta["name"], meta["vers"]) in self.crates:
            return f"crate version `{meta['vers']}` is already uploaded"
        for d in meta["deps"]:
            if set(d) != DEP_FIELDS:
                return f"dependency {d.get('name')}: fields {sorted(d)}"
            if d["registry"] is None and d["kind"] != "dev" and not self.index.get(index_path(d["name"])):
                return f"no known crate named `{d['name']}`"
        return None

    def entry(self, meta: dict[str, Any], data: bytes) -> dict[str, Any]:
        deps = []
        for d in meta["deps"]:
            dep = {"name": d.get("explicit_name_in_toml") or d["name"], "req": d["version_req"],
                   "features": d["features"], "optional": d["optional"], "default_features": d["default_features"],
                   "target": d["target"], "kind": d["kind"], "registry": d["registry"]}
            if d.get("explicit_name_in_toml"):
                dep["package"] = d["name"]
            deps.append(dep)
        return {"name": meta["name"], "vers": meta["vers"], "deps": deps, "cksum": hashlib.sha256(data).hexdigest(),
                "features": meta.get("features", {}), "yanked": False, "links": meta.get("links")}


def _handler(fake: FakeRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def send(self, status: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def error(self, status: int, detail: str) -> None:
            self.send(status, json.dumps({"errors": [{"detail": detail}]}).encode())

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == "/index/config.json":
                self.send(200, json.dumps({"dl": f"{fake.base}/api/v1/crates", "api": fake.base}).encode())
            elif path.startswith("/index/"):
                with fake.lock:
                    lines = fake.index.get(path.removeprefix("/index/"))
                    body = "".join(json.dumps(x) + "\n" for x in lines or []).encode()
                self.send(200, body, "text/plain") if lines else self.send(404, b"not found", "text/plain")
            elif path.startswith("/api/v1/crates/") and path.endswith("/download"):
                name, version = path.split("/")[4:6]
                data = fake.crates.get((name, version))
                self.send(200, data, "application/octet-stream") if data else self.send(404, b"{}")
            else:
                self.send(404, b"{}")

        def do_PUT(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/api/v1/crates/new":
                self.error(404, "not found")
                return
            if self.headers.get("Authorization") != fake.token:
                self.error(403, "authentication failed: invalid or missing API token")
                return
            (n,) = struct.unpack("<I", raw[:4])
            meta = json.loads(raw[4:4 + n])
            (m,) = struct.unpack("<I", raw[4 + n:8 + n])
            data = raw[8 + n:]
            if len(data) != m:
                self.error(400, f"the body holds {len(data)} bytes of crate, its length says {m}")
                return
            if meta["name"] == fake.hold and not fake.held.is_set():
                fake.held.set()  # the publisher is killed now: nothing is stored
                fake.resume.wait(60)
                self.close_connection = True
                return
            flaw = fake.flaky.pop(meta["name"], None)
            if flaw == "503":
                self.error(503, "try again later")
                return
            with fake.lock:
                why = fake.refusal(meta)
                if why is None:
                    fake.crates[(meta["name"], meta["vers"])] = data
                    fake.index.setdefault(index_path(meta["name"]), []).append(fake.entry(meta, data))
                    fake.published.append(f"{meta['name']}@{meta['vers']}")
            if why is not None:
                self.error(400, why)
                return
            if flaw == "lost":
                self.close_connection = True
                self.connection.shutdown(2)  # stored, but the publisher never hears so
                return
            self.send(200, json.dumps({"warnings": {"invalid_categories": [], "invalid_badges": [],
                                                    "other": ["a fake registry"]}}).encode())

    return Handler


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    fake = FakeRegistry(token=TOKEN)
    with local_server(_handler(fake)) as fake.base:
        try:
            yield fake
        finally:
            fake.resume.set()  # a held upload must not keep the server from stopping


def workspace(root: Path, reg: FakeRegistry) -> Path:
    files = {
        "Cargo.toml": '[workspace]\nmembers = ["core", "cli"]\nresolver = "2"\n',
        ".cargo/config.toml": f'[registries.fake]\nindex = "sparse+{reg.base}/index/"\n',
        "core/Cargo.toml": '[package]\nname = "p2p-core"\nversion = "0.7.0"\nedition = "2021"\nlicense = "MIT"\n'
                           'description = "the core"\nauthors = ["Wavry <a@wavry.example>"]\npublish = ["fake"]\n'
                           '\n[features]\ndefault = ["fast"]\nfast = []\n',
        "core/src/lib.rs": "pub fn id() -> u32 { 7 }\n",
        "cli/Cargo.toml": '[package]\nname = "p2p"\nversion = "0.7.0"\nedition = "2021"\nlicense = "MIT"\n'
                          'description = "the tool"\npublish = ["fake"]\n\n[dependencies]\n'
                          'p2p-core = { path = "../core", version = "0.7.0", registry = "fake" }\n',
        "cli/src/main.rs": 'fn main() { println!("p2p {} {}", env!("CARGO_PKG_VERSION"), p2p_core::id() * 6); }\n',
        "targets.toml": f'[project]\npackage = "p2p"\n\n[targets.{TARGET}]\nbuilder = "cargo"\n\n'
                        # Listed out of order: p2p needs p2p-core published first.
                        '[publish.crates]\npackages = ["p2p", "p2p-core"]\nregistry = "fake"\n'
                        f'index = "sparse+{reg.base}/index/"\n',
        "tasks.py": "from wavrybuild import ns  # noqa: F401\n",
    }
    write_files(root, files)
    git_commit(root)
    return root


def _part(root: Path, parts: Path, target_dir: Path) -> dict[str, Any]:
    """The part job (it builds: a normal environment), its files copied as a CI artifact would be."""
    built = invoke("release", "--part", "--target", TARGET, cwd=root, env={"CARGO_TARGET_DIR": str(target_dir)})
    assert built.returncode == 0, built.stdout + built.stderr
    # cargo package verified both, the binary against the library as packaged (nothing is published yet).
    assert "Verifying p2p-core v0.7.0" in built.stdout + built.stderr and "Verifying p2p v0.7.0" in built.stdout + built.stderr
    manifest_path = root / f"dist/manifest-part-{TARGET}.json"
    manifest = json.loads(manifest_path.read_text())
    parts.mkdir(parents=True)
    for a in manifest["artifacts"]:
        shutil.copy2(root / "dist" / a["path"], parts / a["path"])
    shutil.copy2(manifest_path, parts / manifest_path.name)
    return manifest


def _ok(done: subprocess.CompletedProcess, mark: Path, what: str) -> str:
    out = done.stdout + done.stderr
    assert done.returncode == 0, f"{what}:\n{out}"
    assert not mark.exists(), f"{what} ran a Rust tool:\n{mark.read_text()}\n{out}"
    assert TOKEN not in out
    return out


def test_crates_packaged_by_the_part_published_with_no_cargo(tmp_path: Path, registry: FakeRegistry) -> None:
    origin = workspace(tmp_path / "origin", registry)
    manifest = _part(origin, tmp_path / "parts/part-1", tmp_path / "target")
    crates = {a["path"]: a for a in manifest["artifacts"] if a["kind"] == "crate"}
    assert sorted(crates) == ["p2p-0.7.0.crate", "p2p-0.7.0.crate.json", "p2p-core-0.7.0.crate",
                              "p2p-core-0.7.0.crate.json"], manifest["artifacts"]
    meta = json.loads((origin / "dist/p2p-0.7.0.crate.json").read_text())
    assert meta["deps"] == [{"name": "p2p-core", "version_req": "^0.7.0", "features": [], "optional": False,
                             "default_features": True, "target": None, "kind": "normal", "registry": None,
                             "explicit_name_in_toml": None}], meta
    core_meta = json.loads((origin / "dist/p2p-core-0.7.0.crate.json").read_text())
    assert (core_meta["features"], core_meta["authors"]) == ({"default": ["fast"], "fast": []}, ["Wavry <a@wavry.example>"])

    env, mark = rust_shims(tmp_path / "rustless")
    env["CARGO_REGISTRIES_FAKE_TOKEN"] = TOKEN
    merger = subprocess.run(["git", "clone", "-q", str(origin), str(tmp_path / "merger")], check=True)
    assert merger.returncode == 0
    merger_root = tmp_path / "merger"
    dry = _ok(invoke("publish", "--to", "crates", "--dry", cwd=origin, env=env), mark, "dry publish")
    assert f"PUT {registry.base}/api/v1/crates/new" not in dry  # a dry run asks no index for its API
    assert "p2p-core@0.7.0: would publish" in dry and not registry.published, dry

    # The release job: merge the part and publish, in dependency order, with no Rust anywhere.
    out = _ok(invoke("release", "--merge", str(tmp_path / "parts"), cwd=merger_root, env=env), mark, "release job")
    assert registry.published == ["p2p-core@0.7.0", "p2p@0.7.0"], out
    assert f"crates: PUT {registry.base}/api/v1/crates/new p2p-core 0.7.0" in out
    assert "registry warning: other: a fake registry" in out
    for name in ("p2p-core-0.7.0.crate", "p2p-0.7.0.crate"):
        stored = registry.crates[tuple(name.removesuffix(".crate").rsplit("-", 1))]  # type: ignore[index]
        assert hashlib.sha256(stored).hexdigest() == crates[name]["sha256"]
        assert name in (merger_root / "dist/SHA256SUMS").read_text()
    assert registry.index[index_path("p2p")][0]["deps"][0]["req"] == "^0.7.0"

    # A second publish is a no-op success: each version is there with the same checksum.
    again = _ok(invoke("publish", "--to", "crates", cwd=merger_root, env=env), mark, "second publish")
    assert again.count("skipped (already published with the same checksum)") == 2, again
    assert registry.published == ["p2p-core@0.7.0", "p2p@0.7.0"]

    # A changed library with the same version: other bytes for p2p-core 0.7.0 are an error.
    (origin / "core/src/lib.rs").write_text("pub fn id() -> u32 { 8 }\n")
    subprocess.run(["git", "commit", "-qam", "change"], cwd=origin, check=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"})
    repacked = invoke("crates", cwd=origin, env={"CARGO_TARGET_DIR": str(tmp_path / "target")})
    assert repacked.returncode == 0, repacked.stdout + repacked.stderr
    changed = invoke("publish", "--to", "crates", cwd=origin, env=env)
    out = changed.stdout + changed.stderr
    assert changed.returncode == 1 and "p2p-core@0.7.0 is already published with other bytes" in out, out
    assert registry.published == ["p2p-core@0.7.0", "p2p@0.7.0"] and not mark.exists() and TOKEN not in out


def test_killed_publish_then_rerun(tmp_path: Path, registry: FakeRegistry) -> None:
    root = workspace(tmp_path / "w", registry)
    target = {"CARGO_TARGET_DIR": str(tmp_path / "target")}
    out = {}
    for task in ("build --all", "package", "crates --dry", "crates"):
        done = invoke(*task.split(), cwd=root, env=target)
        assert done.returncode == 0, done.stdout + done.stderr
        out[task] = [line.removeprefix("(dry) ") for line in (done.stdout + done.stderr).splitlines()
                     if line.startswith(("$ cargo", "(dry) $ cargo"))]
        assert task != "crates --dry" or not list((root / "dist").glob("*.crate*")), "the dry run wrote to dist/"
    # The crates stage runs the one command its dry run shows.
    assert out["crates"] == out["crates --dry"] and out["crates"][0].startswith(
        f"$ cargo package --manifest-path {root / 'Cargo.toml'} --package p2p-core --package p2p --registry fake")
    registry.hold = "p2p"
    env, mark = rust_shims(tmp_path / "rustless")
    env = {**os.environ, **env, "CARGO_REGISTRIES_FAKE_TOKEN": TOKEN}
    proc = subprocess.Popen([sys.executable, "-m", "invoke", "publish", "--to", "crates"], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    assert registry.held.wait(120), "the upload of p2p never started"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    registry.resume.set()
    assert registry.published == ["p2p-core@0.7.0"]
    registry.hold = None
    done = invoke("publish", "--to", "crates", cwd=root, env=env)
    out = _ok(done, mark, "publish after the kill")
    assert "p2p-core@0.7.0: skipped (already published with the same checksum)" in out, out
    assert registry.published == ["p2p-core@0.7.0", "p2p@0.7.0"]


def test_missing_token_and_unknown_crate(tmp_path: Path, registry: FakeRegistry) -> None:
    root = workspace(tmp_path / "w", registry)
    # Nothing packaged yet: the release job says what to run first (it never packages itself).
    done = invoke("publish", "--to", "crates", cwd=root, env={"CARGO_REGISTRIES_FAKE_TOKEN": TOKEN})
    assert done.returncode == 2 and "no part manifest or dist/manifest.json records" in done.stderr, done.stderr
    toml = root / "targets.toml"
    toml.write_text(toml.read_text().replace('"p2p-core"]', '"p2p-cor"]'))
    done = invoke("crates", "--dry", cwd=root)
    assert done.returncode == 2 and "did you mean 'p2p-core'?" in done.stderr, done.stderr
    assert not registry.published
