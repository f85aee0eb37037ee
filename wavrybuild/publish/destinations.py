"""[publish.http] (any server that stores a PUT body) and [publish.directory] (a local or mounted directory)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from urllib.parse import quote

from ..checksum import sha256_file
from ..config.publish import (
    DirectoryConfig,
    HttpConfig,
)
from ..fsutil import atomic_writer, fsync_dir
from .base import CHUNK, TMP_DIR_NAME, Action, HttpClient, LocalFile, PublishError, ReleaseRef, auth_hints


class HttpDestination:
    kind = "http"

    def __init__(self, c: HttpConfig, release: ReleaseRef, token: str | None, basic: tuple[str, str] | None) -> None:
        try:  # the template was checked at load; the real version and commit are checked here
            self.base = c.url.render(release.values()).rstrip("/")
        except ValueError as exc:
            raise PublishError(f"http: publish.http.url: {exc}", hint="fix publish.http.url") from None
        env = c.token_env or c.password_env
        self.http = HttpClient("http", [token or "", basic[1] if basic else ""], auth_hints(env, self.base))
        # Bound to the server's origin: a redirect elsewhere goes without them.
        self.http.authorize(self.base, bearer=token, basic=basic)

    def where(self, f: LocalFile) -> str:
        return f"{self.base}/{quote(f.name)}"

    def start(self) -> None:
        pass

    def put(self, f: LocalFile) -> tuple[Action, str]:
        url = self.where(f)
        head = self.http.call("HEAD", url, f"{f.name}: check", expect=(200, 404, 405, 501), allow_redirects=True)
        head.close()
        exists = head.status_code == 200
        same_size = exists and head.headers.get("Content-Length") == str(f.size)
        # Same size is not same content: download and hash (streamed) before trusting it.
        if same_size and self.http.sha256_of(url, f"{f.name}: download to compare") == f.sha256:
            return "skipped", "same size and sha256"
        with f.path.open("rb") as body:
            self.http.call("PUT", url, f"{f.name}: upload", expect=(200, 201, 204), transfer=True,
                           data=body, headers={"Content-Type": "application/octet-stream",
                                               "Content-Length": str(f.size)}).close()
        return ("replaced", "different content was there") if exists else ("uploaded", "")

    def select(self, files: list[LocalFile]) -> list[LocalFile]:
        return files

    def finish(self, files: list[LocalFile]) -> list[tuple[str, Action, str]]:
        return []  # every file is visible as soon as it is there

    def close(self) -> None:
        self.http.close()


class DirectoryDestination:
    kind = "directory"

    def __init__(self, c: DirectoryConfig, release: ReleaseRef) -> None:
        self.root = c.path
        try:  # the layout was checked at load; the real version and commit are checked here
            self.target = c.path / c.layout.render(release.values())
        except ValueError as exc:
            raise PublishError(f"directory: publish.directory.layout: {exc}", hint="fix publish.directory.layout") from None
        # Temp files live beside the release dir, not in it, and carry host and pid: a run killed
        # mid-copy leaves nothing in the release dir, and the next run on this host removes them.
        self.tmp_root = c.path / TMP_DIR_NAME
        self.tmp = self.tmp_root / f"{socket.gethostname()}-{os.getpid()}"

    def where(self, f: LocalFile) -> str:
        return str(self.target / f.name)

    def start(self) -> None:
        if not self.root.is_dir():
            raise PublishError(f"directory: {self.root} does not exist",
                               hint="create it (or mount it), or fix publish.directory.path")
        self._remove_stale_tmp()

    def _remove_stale_tmp(self) -> None:
        if not self.tmp_root.is_dir():
            return
        host = socket.gethostname()
        for d in self.tmp_root.iterdir():
            owner, _, pid = d.name.rpartition("-")
            if owner == host and pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(d, ignore_errors=True)

    def put(self, f: LocalFile) -> tuple[Action, str]:
        dest = self.target / f.name
        exists = dest.is_file()
        if exists and dest.stat().st_size == f.size and sha256_file(dest) == f.sha256:
            return "skipped", "same size and sha256"
        try:
            with atomic_writer(dest, mode=0o644, tmp_dir=self.tmp) as out, f.path.open("rb") as src:
                shutil.copyfileobj(src, out, CHUNK)
        except OSError as exc:
            raise PublishError(f"directory: {f.name}: cannot write {dest}: {exc.strerror or exc}") from None
        return ("replaced", "different content was there") if exists else ("uploaded", "")

    def select(self, files: list[LocalFile]) -> list[LocalFile]:
        return files

    def finish(self, files: list[LocalFile]) -> list[tuple[str, Action, str]]:
        return []  # every file is visible as soon as it is there

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.tmp_root.rmdir()  # only if no other run's temp dir is in it
        if self.target.is_dir():
            fsync_dir(self.target)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


