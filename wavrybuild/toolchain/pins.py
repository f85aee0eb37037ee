"""rust-toolchain.toml pins: which toolchain a crate asks for, and whether an installed one is it."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from .. import env as env_
from .. import proc
from ..config import Project


@dataclass(frozen=True)
class Pin:
    """The toolchain the crate's directory selects through rustup: a rust-toolchain(.toml) file,
    `rustup override set` or RUSTUP_TOOLCHAIN. Builds use it, as `cargo build` there would."""

    name: str
    source: str  # what rustup says selected it
    installed: bool


def config_pin(project: Project) -> Pin | None:
    """targets.toml's own pin, `[project] rustc = "1.96.0"`: it wins over rust-toolchain.toml, since
    wavrybuild names the toolchain of every cargo it starts (RUSTUP_TOOLCHAIN)."""
    if project.rustc is None:
        return None
    return Pin(str(project.rustc), f"[project] rustc in {project.config_path.name}", installed=False)


@functools.cache
def active_pin(crate_dir: Path) -> Pin | None:
    """What rustup would run in `crate_dir`, when something other than its default chose it."""
    if proc.which("rustup") is None or not _may_be_pinned(crate_dir):
        return None
    # RUSTUP_AUTO_INSTALL=0: a probe must not start downloading a pinned toolchain.
    done = proc.probe(["rustup", "show", "active-toolchain"], env={"RUSTUP_AUTO_INSTALL": "0"}, cwd=crate_dir)
    if done is None:
        return None
    rc, out, err = done
    if rc != 0:
        # "error: override toolchain 'X' is not installed … the toolchain file at '…' specifies …"
        # rustup 1.28+: "override toolchain 'X' is not installed … the toolchain file at '…'", or
        # "custom toolchain 'X' specified in override file '…' is not installed".
        m = re.search(r"toolchain '([^']+)'[^\n]* is not installed", err)
        if not m:
            return None
        src = re.search(r"(?:toolchain file at|override file) '([^']+)'", err)
        return Pin(m.group(1), f"overridden by '{src.group(1)}'" if src else "overridden", installed=False)
    m = re.match(r"(\S+)(?:\s+\((.*)\))?", out.strip())
    if not m or not m.group(2) or m.group(2).startswith("default"):
        return None
    return Pin(m.group(1), m.group(2), installed=True)


def _may_be_pinned(crate_dir: Path) -> bool:
    """Cheap pre-check so that an unpinned build does not pay for a rustup call."""
    if env_.var("RUSTUP_TOOLCHAIN"):
        return True
    for d in (crate_dir, *crate_dir.parents):
        if (d / "rust-toolchain.toml").is_file() or (d / "rust-toolchain").is_file():
            return True
    home = str(env_.rustup_home())
    try:
        settings = Path(home, "settings.toml").read_text()
    except OSError:
        return False
    return re.search(r"^\[overrides\]\s*\n\s*\S", settings, re.M) is not None
