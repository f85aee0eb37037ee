"""The snapshot version format (pure; snapshot.py decides when a release is a snapshot): the suffix a
snapshot's versions carry, the crate's own version back from it, and its PEP 440 form. Here in
config/ because the channels' version checks (config/channels.pep440) read it at load."""

from __future__ import annotations

import re

SHORT = 7  # hex digits of the commit in a snapshot version (fixed: git's own abbreviation varies)
# The suffix as `snapshot_version` writes it: after a '-' (no prerelease yet) or a '.' (one there).
_SUFFIX = re.compile(rf"[-.]snapshot(?:\.g[0-9a-f]{{{SHORT}}})?$")


def snapshot_version(version: str, commit: str | None) -> str:
    """1.2.3 → 1.2.3-snapshot.gabc1234; 1.2.3-rc.1 → 1.2.3-rc.1.snapshot.gabc1234 (semver: before the
    final release); without a commit 1.2.3-snapshot. Build metadata (+x) is dropped."""
    base = version.split("+", 1)[0]
    suffix = "snapshot" + (f".g{commit[:SHORT]}" if commit else "")
    return f"{base}{'.' if '-' in base else '-'}{suffix}"


def is_snapshot(version: str) -> bool:
    return _SUFFIX.search(version) is not None


def base_version(version: str) -> str:
    """The crate's own version of a snapshot version (what the binaries know as CARGO_PKG_VERSION)."""
    return _SUFFIX.sub("", version)


def pep440_local(version: str) -> tuple[str, str] | None:
    """A snapshot version as PEP 440 parts: (the base version, the local label); None: not a snapshot.
    1.2.3-snapshot.gabc1234 → ("1.2.3", "snapshot.gabc1234"), written 1.2.3.dev0+snapshot.gabc1234."""
    m = _SUFFIX.search(version)
    if m is None:
        return None
    return version[:m.start()], m.group(0)[1:]
