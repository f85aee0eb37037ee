"""Every environment variable wavrybuild reads goes through this module.

`Settings` holds the WAVRYBUILD_* options (the CI spelling of task flags and targets.toml keys),
read once per task and passed in; the other helpers name the variables of other tools (cargo,
rustup, XDG, GitHub Actions) that decide where things live. Child processes get their environment
from `proc`, which copies os.environ minus the secrets: that is passing on, not reading.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


def var(name: str) -> str | None:
    """One variable of another tool (cargo, rustup, CI), or None."""
    return os.environ.get(name)


def secret_value(name: str) -> str:
    """The value of a variable a `*-env` key names (a token, a passphrase); empty when unset."""
    return os.environ.get(name, "")


def home(var_name: str, default: Path) -> Path:
    value = os.environ.get(var_name)
    return Path(value) if value else default


def cargo_home() -> Path:
    return home("CARGO_HOME", Path.home() / ".cargo")


def rustup_home() -> Path:
    return home("RUSTUP_HOME", Path.home() / ".rustup")


def cache_home() -> Path:
    return home("XDG_CACHE_HOME", Path.home() / ".cache")


def tmp_root() -> Path:
    return home("TMPDIR", Path("/tmp"))


def in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def step_summary() -> Path | None:
    """GitHub Actions' job summary file, when running there."""
    value = os.environ.get("GITHUB_STEP_SUMMARY")
    return Path(value) if value else None


def matching(predicate: object) -> dict[str, str]:
    """The variables whose name `predicate(name)` accepts (freshness: the families cargo reads)."""
    assert callable(predicate)
    return {k: v for k, v in os.environ.items() if predicate(k)}


@dataclass(frozen=True)
class Settings:
    """The WAVRYBUILD_* variables, read once."""

    config: str | None = None
    parallel: str | None = None
    no_wait: bool = False
    debug: bool = False
    sign_methods: str | None = None
    sccache: str | None = None
    sccache_redis: str | None = None
    # WAVRYBUILD_STORAGE / _STORAGE_ENDPOINT: [storage] url and endpoint-url (CI sets them per pipeline)
    storage: str | None = None
    storage_endpoint: str | None = None
    # WAVRYBUILD_<METHOD>_<KEY> overrides of [sign.<method>] keys, by (method, key).
    sign: Mapping[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if environ is None else environ
        sign: dict[tuple[str, str], str] = {}
        for name, value in e.items():
            method, _, key = name.removeprefix("WAVRYBUILD_").partition("_")
            secret = any(w in key for w in ("PASSPHRASE", "PASSWORD", "TOKEN")) and not key.endswith("_ENV")
            if name.startswith("WAVRYBUILD_") and key and value and not secret and method in (
                    "GPG", "MINISIGN", "SSH", "AUTHENTICODE"):
                sign[(method.lower(), key.lower().replace("_", "-"))] = value
        return cls(
            config=e.get("WAVRYBUILD_CONFIG") or None,
            parallel=e.get("WAVRYBUILD_PARALLEL"),
            no_wait=bool(e.get("WAVRYBUILD_NO_WAIT")),
            debug=bool(e.get("WAVRYBUILD_DEBUG")),
            sign_methods=e.get("WAVRYBUILD_SIGN_METHODS"),
            sccache=e.get("WAVRYBUILD_SCCACHE"),
            sccache_redis=e.get("SCCACHE_REDIS_ENDPOINT") or None,
            storage=e.get("WAVRYBUILD_STORAGE") or None,
            storage_endpoint=e.get("WAVRYBUILD_STORAGE_ENDPOINT") or None,
            sign=sign,
        )
