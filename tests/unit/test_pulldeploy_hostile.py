"""Pull-deploy (wavrybuild/pulldeploy.py) against servers that misbehave on purpose: raw sockets in a
thread that answer garbage, cut a body short, trickle a byte at a time, redirect somewhere bad or
never answer. Every case must end in one line on stderr and exit 1 — never a traceback, never a
hang past --deadline — with nothing switched. Real sockets on 127.0.0.1; no fakes of pulldeploy's
own code (the script runs as it does on a server: `python -I pulldeploy.py`)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import resource
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from wavrybuild import pulldeploy

SCRIPT = REPO / "wavrybuild/pulldeploy.py"
ASSET = "website-build.tar.gz"

# (connection, request path, the server's stop event)
Reply = Callable[[socket.socket, str, threading.Event], None]


@contextlib.contextmanager
def raw_server(reply: Reply) -> Iterator[tuple[str, list[str]]]:
    """A TCP server on a free 127.0.0.1 port that reads each request's head and lets `reply` write
    whatever bytes it likes; yields its base URL and the request paths it saw."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    paths: list[str] = []
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(30)
            head = b""
            while b"\r\n\r\n" not in head:
                more = conn.recv(4096)
                if not more:
                    return
                head += more
            path = head.split(b" ", 2)[1].decode("latin-1")
            paths.append(path)
            reply(conn, path, stop)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", paths
    finally:
        stop.set()
        thread.join()
        listener.close()


def archive(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(f"website-build/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def release(files: dict[str, bytes]) -> Reply:
    """A well-behaved release host serving `files` by request path (404 for anything else)."""
    def reply(conn: socket.socket, path: str, _stop: threading.Event) -> None:
        body = files.get(path)
        if body is None:
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    return reply


def site(asset: str = ASSET) -> tuple[bytes, bytes]:
    """The website archive and its SHA256SUMS (as `invoke release` publishes them)."""
    data = archive({"index.html": b"<h1>hello</h1>"})
    return data, f"{hashlib.sha256(data).hexdigest()}  {asset}\n".encode()


def run(url: str, root: Path, *extra: str, asset: str = ASSET, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-I", str(SCRIPT), "--url", url, "--asset", asset, "--dir", str(root),
                           *extra], capture_output=True, text=True, timeout=timeout, check=False)


def assert_one_line_failure(done: subprocess.CompletedProcess[str], root: Path, *fragments: str) -> None:
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert "\x1b" not in done.stderr and done.stderr.startswith("pulldeploy: "), done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, done.stderr
    assert not (root / "current").exists() and not list(root.glob(".incoming-*"))


# --- plain http, credentials, the URL itself --------------------------------------------------

def test_plain_http_needs_a_minisign_key_or_insecure(tmp_path: Path) -> None:
    data, sums = site()
    with raw_server(release({f"/rel/{ASSET}": data, "/rel/SHA256SUMS": sums})) as (base, paths):
        refused = run(f"{base}/rel", tmp_path / "srv")
        assert_one_line_failure(refused, tmp_path / "srv", "plain http", "--insecure", "--minisign-key")
        assert paths == []  # refused before anything was fetched
        with_key = run(f"{base}/rel", tmp_path / "srv", "--minisign-key", str(tmp_path / "none.pub"))
        assert with_key.returncode == 1 and paths[0] == "/rel/SHA256SUMS"  # a key lets http through to the signature check
        done = run(f"{base}/rel", tmp_path / "srv", "--insecure")
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "srv/current/index.html").read_bytes() == b"<h1>hello</h1>"


@pytest.mark.parametrize(("url", "fragment"), [
    ("http://127.0.0.1:12ab/rel", "not a usable URL"),       # today: http.client.InvalidURL traceback
    ("http://127.0.0.1:99999/rel", "not a usable URL"),
    ("ftp://127.0.0.1/rel", "expected https://"),
    ("https://127.0.0.1/rel?x=1", "query"),
    ("https://127.0.0.1/re l", "space or a control character"),
    ("https://127.0.0.1/rel\n", "space or a control character"),
])
def test_an_unusable_url_is_one_line(tmp_path: Path, url: str, fragment: str) -> None:
    assert_one_line_failure(run(url, tmp_path / "srv", "--insecure"), tmp_path / "srv", fragment)


def test_credentials_in_the_url_are_refused_and_never_shown(tmp_path: Path) -> None:
    done = run("https://deploy:s3cr3t-pass@127.0.0.1/rel", tmp_path / "srv")
    assert_one_line_failure(done, tmp_path / "srv", "credentials")
    assert "s3cr3t-pass" not in done.stderr + done.stdout


def test_the_asset_name_is_url_quoted(tmp_path: Path) -> None:
    name = "site build#1?%.tar.gz"  # today: a space is InvalidURL, `#` and `?` cut the path
    data, sums = site(name)
    with raw_server(release({"/rel/site%20build%231%3F%25.tar.gz": data, "/rel/SHA256SUMS": sums})) as (base, paths):
        done = run(f"{base}/rel", tmp_path / "srv", "--insecure", asset=name)
    assert done.returncode == 0, done.stderr
    assert paths == ["/rel/SHA256SUMS", "/rel/site%20build%231%3F%25.tar.gz"]
    assert (tmp_path / "srv/current/index.html").read_bytes() == b"<h1>hello</h1>"


@pytest.mark.parametrize("asset", ["../x.tar.gz", "a/b.tar.gz", "..", "x\n.tar.gz"])
def test_an_asset_that_is_not_a_file_name_is_refused(tmp_path: Path, asset: str) -> None:
    assert_one_line_failure(run("https://127.0.0.1/rel", tmp_path / "srv", asset=asset), tmp_path / "srv",
                            "a file name, not a path")


# --- servers that do not speak HTTP properly --------------------------------------------------

def sends(*chunks: bytes) -> Reply:
    def reply(conn: socket.socket, _path: str, _stop: threading.Event) -> None:
        for chunk in chunks:
            conn.sendall(chunk)
    return reply


OK = b"HTTP/1.1 200 OK\r\nConnection: close\r\n"
MISBEHAVING: dict[str, tuple[Reply, str]] = {
    # today a BadStatusLine traceback
    "garbage": (sends(b"garbage\r\n\r\n"), "not an HTTP answer"),
    "nothing": (sends(), "closed the connection without an answer"),
    # today LineTooLong tracebacks
    "long status line": (sends(b"HTTP/1.1 200 " + b"x" * 70000 + b"\r\n\r\n"), "longer than 64 KiB"),
    "long header": (sends(OK + b"X-A: " + b"a" * 70000 + b"\r\n\r\n"), "longer than 64 KiB"),
    "too many headers": (sends(OK + b"X-A: a\r\n" * 120 + b"\r\n"), "more than 100 headers"),
    # today an IncompleteRead traceback
    "chunked body cut": (sends(OK + b"Transfer-Encoding: chunked\r\n\r\n20\r\nabc"), "the connection closed after"),
    "bad chunk size": (sends(OK + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc"), "the connection closed after"),
    # today a short body passes as whole (and then "no line for" the asset misleads)
    "short body": (sends(OK + b"Content-Length: 100\r\n\r\n0123456789"), "closed after 10 bytes, 90 more"),
    "huge": (sends(OK + b"Content-Length: 1000000000\r\n\r\n"), "larger than"),
    "404": (sends(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"), "HTTP 404 Not Found"),
    "escapes in the reason": (sends(b"HTTP/1.1 500 \x1b[2J\x1b[31mboom\r\nContent-Length: 0\r\n\r\n"), "HTTP 500"),
    # today InvalidURL traceback
    "redirect to a bad port": (sends(b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:99x/\r\nContent-Length: 0\r\n\r\n"),
                               "not a usable URL"),
    "redirect to a file": (sends(b"HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\n\r\n"),
                           "not allowed"),
    "redirect to ftp": (sends(b"HTTP/1.1 302 Found\r\nLocation: ftp://127.0.0.1/x\r\nContent-Length: 0\r\n\r\n"),
                        "only http(s) is followed"),
    "redirect loop": (sends(b"HTTP/1.1 302 Found\r\nLocation: /rel/SHA256SUMS\r\nContent-Length: 0\r\n\r\n"),
                      "HTTP 302"),
}


@pytest.mark.parametrize("case", sorted(MISBEHAVING))
def test_a_misbehaving_server_is_one_line_and_exit_1(tmp_path: Path, case: str) -> None:
    reply, fragment = MISBEHAVING[case]
    with raw_server(reply) as (base, paths):
        done = run(f"{base}/rel", tmp_path / "srv", "--insecure", "--deadline", "30")
    assert_one_line_failure(done, tmp_path / "srv", fragment, f"{base}/rel/SHA256SUMS")
    assert paths and paths[0] == "/rel/SHA256SUMS"


def test_a_redirect_chain_stops_after_five(tmp_path: Path) -> None:
    def reply(conn: socket.socket, path: str, _stop: threading.Event) -> None:
        n = int(path.rsplit("/", 1)[1]) if path[-1].isdigit() else 0
        conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /hop/%d\r\nContent-Length: 0\r\n\r\n" % (n + 1))
    with raw_server(reply) as (base, paths):
        done = run(f"{base}/rel", tmp_path / "srv", "--insecure")
    assert_one_line_failure(done, tmp_path / "srv", "HTTP 302")
    assert len(paths) <= 6


# --- the deadline ------------------------------------------------------------------------------

def trickle(head: bytes, byte: bytes) -> Reply:
    """`head`, then one byte every 0.2 s until the client goes (or the test ends)."""
    def reply(conn: socket.socket, _path: str, stop: threading.Event) -> None:
        conn.sendall(head)
        while not stop.wait(0.2):
            conn.sendall(byte)
    return reply


def silent(conn: socket.socket, _path: str, stop: threading.Event) -> None:
    stop.wait(60)


@pytest.mark.parametrize(("case", "reply"), [
    ("body", trickle(OK + b"Content-Length: 100000\r\n\r\n", b"x")),
    ("status line", trickle(b"HTTP/1.1 200 ", b"x")),
    ("headers", trickle(OK + b"X-Slow: ", b"a")),
    ("chunked body", trickle(OK + b"Transfer-Encoding: chunked\r\n\r\nfffff\r\n", b"x")),
    ("no answer", silent),
])
def test_one_deadline_for_the_whole_run(tmp_path: Path, case: str, reply: Reply) -> None:
    """Every read gets a byte well within --timeout, so only an overall deadline ends the run."""
    # A 1 s deadline against a byte every 0.2 s: five reads each well within --timeout (the fast tier
    # waits it out once per case, so it is kept short).
    with raw_server(reply) as (base, _paths):
        start = time.monotonic()
        done = run(f"{base}/rel", tmp_path / "srv", "--insecure", "--timeout", "30", "--deadline", "1", timeout=30)
        took = time.monotonic() - start
    assert_one_line_failure(done, tmp_path / "srv", "--deadline of 1 s passed")
    assert took < 11, f"{case}: took {took:.1f} s with --deadline 1"  # startup on a loaded CI machine included


def test_the_deadline_covers_the_asset_download_too(tmp_path: Path) -> None:
    data, sums = site()
    good = release({"/rel/SHA256SUMS": sums})
    slow = trickle(OK + b"Content-Length: %d\r\n\r\n" % len(data), b"x")

    def reply(conn: socket.socket, path: str, stop: threading.Event) -> None:
        (good if path.endswith("SHA256SUMS") else slow)(conn, path, stop)
    with raw_server(reply) as (base, paths):
        done = run(f"{base}/rel", tmp_path / "srv", "--insecure", "--deadline", "1", timeout=30)
    assert_one_line_failure(done, tmp_path / "srv", "--deadline of 1 s passed", ASSET)
    assert paths == ["/rel/SHA256SUMS", f"/rel/{ASSET}"]


@pytest.mark.parametrize(("content", "fragment"), [
    (os.urandom(1 << 20), "/asset: File too large"),  # the download itself
    (bytes(1 << 20), "/unpacked: File too large"),  # compresses to little: unpacking is what fills the disk
], ids=["download", "unpack"])  # ids, not the bytes: every test process must collect the same names
def test_a_full_disk_is_one_line_naming_the_file(tmp_path: Path, content: bytes, fragment: str) -> None:
    """RLIMIT_FSIZE (with SIGXFSZ ignored) makes writes past 64 KiB fail as a full disk would."""
    data = archive({"big.bin": content})
    sums = f"{hashlib.sha256(data).hexdigest()}  {ASSET}\n".encode()

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))

    root = tmp_path / "srv"
    with raw_server(release({f"/rel/{ASSET}": data, "/rel/SHA256SUMS": sums})) as (base, _):
        done = subprocess.run([sys.executable, "-I", str(SCRIPT), "--url", f"{base}/rel", "--asset", ASSET, "--dir",
                               str(root), "--insecure"], capture_output=True, text=True, timeout=60, check=False,
                              preexec_fn=small_disk)
    assert_one_line_failure(done, root, fragment)


# --- arguments, SHA256SUMS parsing, one run at a time -----------------------------------------

@pytest.mark.parametrize("args", [["--keep", "0"], ["--deadline", "0"], ["--timeout", "-1"], ["--deadline", "x"]])
def test_bad_numbers_are_argument_errors(tmp_path: Path, args: list[str]) -> None:
    done = run("https://127.0.0.1/rel", tmp_path / "srv", *args)
    assert done.returncode == 2 and "Traceback" not in done.stderr and args[0] in done.stderr


def test_sha256sums_lines_split_on_newline_only(tmp_path: Path) -> None:
    """As `sha256sum -c` reads it: a U+2028 inside a line does not start a new one, so no line here
    names the asset (today splitlines() found one)."""
    data, _ = site()
    other = hashlib.sha256(b"other").hexdigest()
    sums = f"{other}  notes.md\u2028{hashlib.sha256(data).hexdigest()}  {ASSET}\n".encode()
    with raw_server(release({f"/rel/{ASSET}": data, "/rel/SHA256SUMS": sums})) as (base, _):
        done = run(f"{base}/rel", tmp_path / "srv", "--insecure")
    assert_one_line_failure(done, tmp_path / "srv", f"no line for {ASSET}")


def test_a_second_run_into_the_same_directory_waits_its_turn(tmp_path: Path) -> None:
    root = tmp_path / "srv"
    root.mkdir()
    with (root / ".pulldeploy.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        (root / ".incoming-1-keep").mkdir()  # the other run's download: not ours to remove
        done = run("https://127.0.0.1:9/rel", root)
    assert done.returncode == 1 and "another pulldeploy run" in done.stderr and done.stderr.count("\n") == 1
    assert (root / ".incoming-1-keep").is_dir()


# --- the deploy root, in-process ---------------------------------------------------------------

def version(root: Path, name: str, sha: str, age: float) -> Path:
    d = root / "versions" / name
    d.mkdir(parents=True)
    (d / pulldeploy.MARKER).write_text(sha + "\n")
    t = time.time() - age
    os.utime(d, (t, t))
    return d


def test_prune_keeps_the_live_and_the_replaced_version(tmp_path: Path) -> None:
    """--keep 2: the live version and the newest other one stay; other copies of the live version
    go — except the one this run switched away from, which a reader may still be inside."""
    a, b, c = "a" * 64, "b" * 64, "c" * 64
    old_copy = version(tmp_path, "aaaa", a, 50)
    replaced = version(tmp_path, "aaaa-2", a, 10)
    version(tmp_path, "bbbb", b, 20)
    version(tmp_path, "cccc", c, 30)
    live = version(tmp_path, "aaaa-3", a, 0)
    pulldeploy.switch(tmp_path, live)
    removed = pulldeploy.prune(tmp_path, 2, replaced.resolve())
    assert sorted(removed) == ["aaaa", "cccc"] and not old_copy.exists()
    assert sorted(p.name for p in (tmp_path / "versions").iterdir()) == ["aaaa-2", "aaaa-3", "bbbb"]
    # The next run (nothing replaced by it any more): the stale copy goes too.
    assert pulldeploy.prune(tmp_path, 2) == ["aaaa-2"]


def test_a_version_directory_is_never_reused(tmp_path: Path) -> None:
    (tmp_path / "abcd").mkdir()
    (tmp_path / "abcd-2").symlink_to("elsewhere")
    assert pulldeploy.free_version(tmp_path, "abcd") == tmp_path / "abcd-3"


def test_an_archive_may_not_bring_its_own_marker(tmp_path: Path) -> None:
    (tmp_path / "a.tar.gz").write_bytes(archive({"index.html": b"x", pulldeploy.MARKER: b"f" * 64}))
    (tmp_path / "out").mkdir()
    with pytest.raises(pulldeploy.Refused, match="keeps for itself"):
        pulldeploy.unpack(tmp_path / "a.tar.gz", tmp_path / "out")


def test_messages_are_one_printable_line_without_a_query() -> None:
    assert pulldeploy.one_line("a\nb\x1b[31m\u2028c\u200ed") == "a b\\x1b[31m c\\u200ed"
    assert pulldeploy.shown_url("https://u:p@host:8443/x/y?X-Amz-Signature=abc#f") == "https://host:8443/x/y?…"
    assert pulldeploy.shown_url("https://[::1]:8443/x") == "https://[::1]:8443/x"
