"""One GNU make jobserver shared by the cargo invocations a build runs at the same time (its lanes)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Jobs:
    """What a cargo invocation gets to join the shared jobserver: its variables and the pipe's fds."""

    env: Mapping[str, str]
    fds: tuple[int, ...]


class Jobserver:
    """One GNU make jobserver shared by the cargo invocations running at the same time (lanes), so
    together they run about as many jobs as there are cores instead of each running its own -j<cores>.

    An anonymous pipe holding `cores - 1` tokens, handed to cargo as inherited fds
    (`--jobserver-auth=R,W` in CARGO_MAKEFLAGS, which cargo, rustc and the cc crate read): every cargo
    has one implicit token, so two lanes run at most cores + 1 jobs and a lane left alone still gets
    every core. Not a named pipe (`fifo:PATH`, GNU make 4.4's form): cargo passes the form it was
    given on to build scripts, some hand it to `make`, and make 4.3 (Debian 12, Ubuntu 24.04) stops
    with "invalid --jobserver-auth string". Only CARGO_MAKEFLAGS is set, not MAKEFLAGS: a build
    script's own `make` sees what it would see without us. POSIX only (`available`); none on
    Windows, where each cargo keeps its own."""

    def __init__(self, cores: int) -> None:
        self._r, self._w = os.pipe()
        os.write(self._w, b"+" * max(0, cores - 1))

    @staticmethod
    def available() -> bool:
        return os.name == "posix"

    def jobs(self) -> Jobs:
        flags = f"-j --jobserver-fds={self._r},{self._w} --jobserver-auth={self._r},{self._w}"
        return Jobs({"CARGO_MAKEFLAGS": flags}, (self._r, self._w))

    def close(self) -> None:
        os.close(self._r)
        os.close(self._w)
