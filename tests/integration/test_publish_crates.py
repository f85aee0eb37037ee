"""[publish.crates]: two workspace library crates (one depending on the other) verified by real
`cargo package` and sent by real `cargo publish` — to a FAKE cargo registry on localhost, because
crates.io cannot be reached from here. The fake implements the documented registry protocols: a
sparse index (config.json, index files, https://doc.rust-lang.org/cargo/reference/registry-index.html)
and the web API's publish and download endpoints (https://doc.rust-lang.org/cargo/reference/registry-web-api.html)."""

from __future__ import annotations

import hashlib
import json
import os
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

from tests.conftest import git_commit, invoke, write_files
from tests.integration.servers import local_server
from wavrybuild.publish.crates import index_path

TOKEN = "cio-CratesTokenNeverShown7c1d"


@dataclass
class FakeRegistry:
    """A FAKE cargo registry: GET /index/config.json, GET /index/<layout path> (one JSON line per
    version), PUT /api/v1/crates/new (u32 LE JSON length, JSON, u32 LE .crate length, .crate;
    `Authorization: <token>` required, else 403 {"errors": [{"detail": …}]}), GET
    /api/v1/crates/<name>/<version>/download. `hold`: a crate whose upload waits until `resume`."""

    token: str
    base: str = ""
    crates: dict[tuple[str, str], bytes] = field(default_factory=dict)
    index: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    published: list[str] = field(default_factory=list)
    hold: str | None = None
    held: threading.Event = field(default_factory=threading.Event)
    resume: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def entry(self, meta: dict[str, Any], data: bytes) -> dict[str, Any]:
        deps = []
        for d in meta["deps"]:
            own = d.get("registry") in (None, f"sparse+{self.base}/index/", f"{self.base}/index/")
            dep = {"name": d.get("explicit_name_in_toml") or d["name"], "req": d["version_req"],
                   "features": d["features"], "optional": d["optional"], "default_features": d["default_features"],
                   "target": d["target"], "kind": d["kind"], "registry": None if own else d["registry"]}
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
            if self.path != "/api/v1/crates/new":
                self.send(404, b"{}")
                return
            if self.headers.get("Authorization") != fake.token:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send(403, json.dumps({"errors": [{"detail": "invalid or missing API token"}]}).encode())
                return
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            (n,) = struct.unpack("<I", raw[:4])
            meta = json.loads(raw[4:4 + n])
            (m,) = struct.unpack("<I", raw[4 + n:8 + n])
            data = raw[8 + n:8 + n + m]
            if meta["name"] == fake.hold and not fake.held.is_set():
                fake.held.set()  # the publisher is killed now: nothing is stored
                fake.resume.wait(60)
                self.close_connection = True
                return
            with fake.lock:
                if (meta["name"], meta["vers"]) in fake.crates:
                    self.send(400, json.dumps({"errors": [{"detail": "crate version already exists"}]}).encode())
                    return
                fake.crates[(meta["name"], meta["vers"])] = data
                fake.index.setdefault(index_path(meta["name"]), []).append(fake.entry(meta, data))
                fake.published.append(f"{meta['name']}@{meta['vers']}")
            self.send(200, json.dumps({"warnings": {"invalid_categories": [], "invalid_badges": [], "other": []}}).encode())

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
        "Cargo.toml": '[workspace]\nmembers = ["core", "net", "cli"]\nresolver = "2"\n',
        ".cargo/config.toml": f'[registries.fake]\nindex = "sparse+{reg.base}/index/"\n',
        "core/Cargo.toml": '[package]\nname = "p2p-core"\nversion = "0.7.0"\nedition = "2021"\nlicense = "MIT"\n'
                           'description = "the core"\npublish = ["fake"]\n',
        "core/src/lib.rs": "pub fn id() -> u32 { 7 }\n",
        "net/Cargo.toml": '[package]\nname = "p2p-net"\nversion = "0.7.0"\nedition = "2021"\nlicense = "MIT"\n'
                          'description = "the network"\npublish = ["fake"]\n\n[dependencies]\n'
                          'p2p-core = { path = "../core", version = "0.7.0", registry = "fake" }\n',
        "net/src/lib.rs": "pub fn peer() -> u32 { p2p_core::id() * 6 }\n",
        "cli/Cargo.toml": '[package]\nname = "p2p"\nversion = "0.7.0"\nedition = "2021"\npublish = false\n\n'
                          '[dependencies]\np2p-net = { path = "../net" }\n',
        "cli/src/main.rs": 'fn main() { println!("p2p {} {}", env!("CARGO_PKG_VERSION"), p2p_net::peer()); }\n',
        "targets.toml": '[project]\npackage = "p2p"\n\n[targets.x86_64-unknown-linux-gnu]\nbuilder = "cargo"\n\n'
                        # Listed out of order: p2p-net needs p2p-core published first.
                        '[publish.crates]\npackages = ["p2p-net", "p2p-core"]\nregistry = "fake"\n'
                        f'index = "sparse+{reg.base}/index/"\n',
        "tasks.py": "from wavrybuild import ns  # noqa: F401\n",
    }
    write_files(root, files)
    git_commit(root)
    return root


def _publish(root: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return invoke("publish", "--to", "crates", *extra, cwd=root,
                  env={"CARGO_REGISTRIES_FAKE_TOKEN": TOKEN, "CARGO_TARGET_DIR": str(root / "target"), **(env or {})})


def test_crates_in_dependency_order_then_rerun(tmp_path: Path, registry: FakeRegistry) -> None:
    root = workspace(tmp_path / "w", registry)
    dry = _publish(root, "--dry")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "cargo package --manifest-path" in dry.stdout + dry.stderr and not registry.published
    done = _publish(root)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert registry.published == ["p2p-core@0.7.0", "p2p-net@0.7.0"]
    assert "Verifying p2p-net v0.7.0" in out  # `cargo package` built it against the published p2p-core
    assert TOKEN not in out
    net = registry.index[index_path("p2p-net")][0]
    assert [(d["name"], d["req"], d["registry"]) for d in net["deps"]] == [("p2p-core", "^0.7.0", None)]
    again = _publish(root)
    assert again.returncode == 0, again.stdout + again.stderr
    assert registry.published == ["p2p-core@0.7.0", "p2p-net@0.7.0"]
    assert (again.stdout + again.stderr).count("skipped (already published)") == 2


def test_killed_publish_then_rerun(tmp_path: Path, registry: FakeRegistry) -> None:
    root = workspace(tmp_path / "w", registry)
    registry.hold = "p2p-net"
    env = {**os.environ, "CARGO_REGISTRIES_FAKE_TOKEN": TOKEN, "CARGO_TARGET_DIR": str(root / "target")}
    proc = subprocess.Popen([sys.executable, "-m", "invoke", "publish", "--to", "crates"], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    assert registry.held.wait(300), "the upload of p2p-net never started"
    os.killpg(proc.pid, signal.SIGKILL)  # invoke, and the cargo it runs
    proc.wait()
    registry.resume.set()
    assert registry.published == ["p2p-core@0.7.0"]
    registry.hold = None
    done = _publish(root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert registry.published == ["p2p-core@0.7.0", "p2p-net@0.7.0"]


def test_missing_token_and_unknown_crate(tmp_path: Path, registry: FakeRegistry) -> None:
    root = workspace(tmp_path / "w", registry)
    done = invoke("publish", "--to", "crates", cwd=root, env={"CARGO_REGISTRIES_FAKE_TOKEN": ""})
    assert done.returncode == 2 and "CARGO_REGISTRIES_FAKE_TOKEN is not set" in done.stderr
    toml = root / "targets.toml"
    toml.write_text(toml.read_text().replace('"p2p-core"]', '"p2p-cor"]'))
    done = _publish(root)
    assert done.returncode == 2 and "did you mean 'p2p-core'?" in done.stderr, done.stderr
    assert not registry.published
