"""Real servers on localhost for the channel tests: verdaccio (an npm registry) and pypiserver."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import REPO, free_port

VERDACCIO = REPO / "tests/npm-registry/node_modules/.bin/verdaccio"
PASSWORD = "npm-test-pass-4c1d"


@dataclass
class Registry:
    url: str
    token: str


class JsonReplies(BaseHTTPRequestHandler):
    """A fake API's handler base: quiet, HTTP/1.1, `send(status, body)` answers JSON."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextlib.contextmanager
def local_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server on a free 127.0.0.1 port for a test's fake of a remote API; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def verdaccio(home: Path) -> Iterator[Registry]:
    """verdaccio with no uplinks (nothing leaves localhost) and one user, whose token it yields."""
    if not VERDACCIO.exists():
        pytest.fail(f"{VERDACCIO} missing: run .ci/setup (npm ci --prefix tests/npm-registry)")
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yaml").write_text(
        "storage: ./storage\n"
        "auth:\n  htpasswd:\n    file: ./htpasswd\n    max_users: 10\n"
        "packages:\n  '**':\n    access: $all\n    publish: $authenticated\n"
        "log: { type: stdout, format: pretty, level: warn }\n")
    port = free_port()
    # In a session of its own: verdaccio runs as a child of its launcher, and the whole group is stopped.
    server = subprocess.Popen([str(VERDACCIO), "--config", str(home / "config.yaml"), "--listen", f"127.0.0.1:{port}"],
                              cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(url + "-/ping", timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("verdaccio did not start")
                time.sleep(0.3)
        # What `npm adduser` does: create the user, get a token.
        resp = requests.put(url + "-/user/org.couchdb.user:ci", timeout=10,
                            json={"name": "ci", "password": PASSWORD, "type": "user", "roles": []})
        assert resp.status_code == 201, resp.text
        yield Registry(url, resp.json()["token"])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)


@contextlib.contextmanager
def pypiserver(packages: Path, auth: Path | None = None) -> Iterator[str]:
    """pypiserver serving (and accepting uploads into) `packages`; yields its base URL. `auth`: an
    htpasswd file whose users alone may upload (else anyone may)."""
    packages.mkdir(parents=True, exist_ok=True)
    port = free_port()
    access = ["-a", "update", "-P", str(auth)] if auth else ["-a", ".", "-P", "."]
    server = subprocess.Popen([sys.executable, "-m", "pypiserver", "run", "-i", "127.0.0.1", "-p", str(port),
                               *access, str(packages)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail("pypiserver did not start")
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


NGINX_CONF = """daemon off;
master_process on;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
{user}
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body_temp;
    proxy_temp_path {d}/proxy_temp;
    fastcgi_temp_path {d}/fastcgi_temp;
    uwsgi_temp_path {d}/uwsgi_temp;
    scgi_temp_path {d}/scgi_temp;
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
{server}
    }}
}}
"""


@contextlib.contextmanager
def nginx(d: Path, server: str) -> Iterator[str]:
    """A real nginx (Debian's package) serving d/www on a free 127.0.0.1 port, with `server` as the
    rest of its server block ({d} in it is the directory); yields its base URL."""
    binary = shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if binary is None:
        pytest.fail("nginx is not installed: apt-get install -y nginx")
    (d / "www").mkdir(parents=True, exist_ok=True)
    port = free_port()
    user = "user root;" if os.geteuid() == 0 else ""
    (d / "nginx.conf").write_text(NGINX_CONF.format(d=d, port=port, user=user, server=server.replace("{d}", str(d))))
    proc = subprocess.Popen([binary, "-c", str(d / "nginx.conf"), "-p", str(d), "-e", str(d / "error.log")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                log = (d / "error.log").read_text() if (d / "error.log").exists() else ""
                pytest.fail(f"nginx exited with {proc.returncode}:\n"
                            f"{proc.stdout.read().decode() if proc.stdout else ''}{log}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                pytest.fail("nginx did not start listening")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
