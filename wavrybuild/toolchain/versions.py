"""One toolchain per release: which rustc version builds each target, said before building.

A machine can have several Rust toolchains (rustup's stable for the host, the distribution's for a
foreign std): the targets of one release may then be compiled by different rustc versions. That is
allowed but never silent: the build warns, listing target → version, and the record and the
provenance keep each target's version. A version pin (rust-toolchain.toml's channel = "1.96.0")
makes it a rule: every target is built by a toolchain of that release, or the build stops before
it starts, naming the targets that cannot. Pure apart from `RustToolchain.rustc_info`'s probe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..rustc import RustcVersion


@dataclass(frozen=True)
class Chosen:
    """A target and the toolchain the plan gives it."""

    target: str
    toolchain: str  # its label (stable, system, …)
    rustc: RustcVersion


def mixed_warning(chosen: Sequence[Chosen]) -> str | None:
    """One warning listing target → rustc version when the targets resolve to more than one
    compiler (release + commit); None when one compiler builds them all."""
    if len({c.rustc.identity for c in chosen}) < 2:
        return None
    listed = "; ".join(f"{c.target}: {c.rustc.short}, toolchain {c.toolchain}" for c in chosen)
    return (f"warning: these targets are built by {len({c.rustc.identity for c in chosen})} different rustc "
            f"versions: {listed}. Pin one (rust-toolchain.toml [toolchain] channel = \"<version>\") to build "
            "every target with it (docs/targets-toml.md, 'One toolchain per release')")


def pin_mismatch(chosen: Chosen, release: str, source: str) -> str | None:
    """Why a target's toolchain breaks the pin, or None when it is the pinned release."""
    if chosen.rustc.is_release(release):
        return None
    return (f"rustc is pinned to {release} ({source}) but its toolchain {chosen.toolchain} is {chosen.rustc.short}: "
            f"remove targets.{chosen.target}.toolchain or name a {release} toolchain there")


def lacking_std(target: str, triple: str, release: str, source: str, pinned: Sequence[str],
                others: Sequence[Chosen]) -> str:
    """The problem of a target no toolchain of the pinned release can build. `pinned`: the
    toolchains of that release (where its std would go); `others`: toolchains of other releases
    that could build it (so the message can say which pin would)."""
    into = pinned[0] if pinned else release
    instead = "".join(f", or pin {c.rustc.release} (toolchain {c.toolchain} has it)" for c in others[:1])
    return (f"rustc is pinned to {release} ({source}) and no installed {release} toolchain has a std for "
            f"{triple}: add it (`rustup target add {triple} --toolchain {into}`){instead}, or build {target} "
            "elsewhere")


def pin_stop(problems: Sequence[tuple[str, str]]) -> str:
    """The one message that stops a pinned build: every target that cannot follow the pin."""
    return "the toolchain pin cannot be kept, nothing is built: " + "; ".join(f"{t}: {p}" for t, p in problems)
