"""Which rustc a Rust toolchain is (`rustc -vV`: release and commit), rustup's installed
toolchains, and which of them is the release a version pin names. Core: cargo.py asks it when a
crate's rust-toolchain.toml pins a release (channel = "1.96.0") that rustup has under another name
(the distribution's Rust linked as `system`); toolchain/ builds its plan on it.

Every probe here is cached by the files that decide its answer (proc.capture_cached): a no-op
build starts no rustup and no rustc.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from . import env as env_
from . import proc

# A release as rustup names a toolchain channel: 1.96, 1.96.0, 1.97.0-beta.2, optionally followed
# by the host triple rustup appends ("1.96.0-x86_64-unknown-linux-gnu").
_RELEASE = re.compile(r"^(\d+\.\d+(?:\.\d+)?(?:-beta(?:\.\d+)?)?)(?:-[a-z0-9_]+-[a-z0-9_]+-[a-z0-9_.-]+)?$")


@dataclass(frozen=True)
class RustcVersion:
    """What `rustc -vV` says identifies a compiler: its release and the commit it was built from
    (two compilers of one release number built from different sources are not the same)."""

    release: str  # "1.96.0", "1.97.0-nightly"
    commit: str  # the full commit hash; "" when the compiler does not say (some distribution builds)
    line: str  # its `rustc -V` line, as people read it and as build.json has recorded it

    @classmethod
    def parse(cls, text: str | None) -> RustcVersion:
        """From `rustc -vV` (or a bare `rustc -V` line); an unreadable answer is an unknown version."""
        lines = (text or "").strip().splitlines()
        line = lines[0].strip() if lines else ""
        fields = dict(ln.split(": ", 1) for ln in lines[1:] if ": " in ln)
        release = fields.get("release", "").strip()
        if not release:
            m = re.match(r"rustc (\S+)", line)
            release = m.group(1) if m else ""
        commit = fields.get("commit-hash", "").strip()
        commit = commit if re.fullmatch(r"[0-9a-f]{7,64}", commit) else ""
        return cls(release or "unknown", commit, line or "unknown")

    @property
    def identity(self) -> tuple[str, str]:
        return self.release, self.commit

    @property
    def short(self) -> str:
        """"rustc 1.96.0 (ac68faa20)": the release and enough of the commit to tell builds apart."""
        return f"rustc {self.release}" + (f" ({self.commit[:9]})" if self.commit else "")

    def is_release(self, wanted: str) -> bool:
        """Whether this compiler is the release a pin names: "1.96.0" exactly, "1.96" any 1.96.x
        (never a nightly or beta of it unless the pin says so)."""
        if self.release == wanted:
            return True
        return wanted.count(".") == 1 and re.fullmatch(re.escape(wanted) + r"\.\d+", self.release) is not None


def pinned_release(name: str) -> str | None:
    """The release a toolchain name stands for, when it is a version ("1.96.0",
    "1.96.0-x86_64-unknown-linux-gnu"); None for a channel or custom name (stable, nightly, system)."""
    m = _RELEASE.match(name)
    return m.group(1) if m else None


@dataclass(frozen=True)
class Installed:
    """A toolchain rustup lists: its name, sysroot and whether it is the default."""

    name: str
    sysroot: Path
    default: bool


@functools.cache
def rustup_toolchains() -> tuple[Installed, ...]:
    """`rustup toolchain list -v`, the default first; () without rustup."""
    # Remembered while rustup, its settings (the default) and the toolchains directory (one entry
    # per toolchain) are unchanged: a no-op build should not pay for a process it can predict.
    home = env_.rustup_home()
    out = proc.capture_cached(["rustup", "toolchain", "list", "-v"],
                              [proc.which("rustup"), str(home / "settings.toml"), str(home / "toolchains")])
    found: list[Installed] = []
    for line in (out or "").splitlines():
        m = re.match(r"^(\S+)\s*(\(([^)]*)\))?\s*(\S+)?\s*$", line.strip())
        if m and m.group(4):
            found.append(Installed(m.group(1), Path(m.group(4)), default="default" in (m.group(3) or "")))
    return tuple(sorted(found, key=lambda t: not t.default))


def version_of(sysroot: Path, env: dict[str, str] | None = None) -> RustcVersion:
    """The `rustc -vV` of the toolchain in `sysroot` (cached by its rustc binary), else of the rustc
    on PATH under `env`."""
    rustc = sysroot / "bin" / "rustc"
    out = proc.capture_cached([str(rustc), "-vV"], [str(rustc)]) if rustc.exists() else None
    if out is None:
        out = proc.capture(["rustc", "-vV"], env=env)
    return RustcVersion.parse(out)


def toolchain_of_release(release: str) -> str | None:
    """The installed rustup toolchain (the default first) whose rustc is `release`."""
    return next((t.name for t in rustup_toolchains() if version_of(t.sysroot).is_release(release)), None)
