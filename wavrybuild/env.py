"""Every environment variable wavrybuild reads goes through this module.

`Settings` holds the WAVRYBUILD_* options (the CI spelling of task flags and targets.toml keys),
read once per task and passed in; the other helpers name the variables of other tools (cargo,
rustup, XDG, GitHub Actions) that decide where things live. Child processes get their environment
from `child_environ` (through `proc`): os.environ minus every secret the `SecretPolicy` names, plus
what the command adds on purpose. That is passing on, not reading.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
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


# --- secrets kept from children ------------------------------------------------------------------

# The variables targets.toml's `*-env` keys name when they are left out ([sign.*], [publish.*],
# [channels.npm], [desktop.macos]): a CI that follows the docs sets them without naming them.
# tests/unit/test_secret_policy.py reads the config modules' defaults and fails when one is missing.
DEFAULT_SECRET_ENV = frozenset({
    "WAVRYBUILD_GPG_PASSPHRASE", "WAVRYBUILD_MINISIGN_PASSPHRASE", "WAVRYBUILD_AUTHENTICODE_PASSWORD",
    "WAVRYBUILD_MACOS_P12_PASSWORD", "SIGSTORE_IDENTITY_TOKEN", "GITHUB_TOKEN", "CI_JOB_TOKEN", "PYPI_TOKEN",
    "PYPI_ID_TOKEN", "CARGO_REGISTRY_TOKEN", "NPM_TOKEN", "HOMEBREW_TAP_TOKEN",
})
# Tokens CI systems and package tools put in the environment of every step.
WELL_KNOWN_SECRETS = frozenset({
    "GITHUB_TOKEN", "GH_TOKEN", "GITLAB_TOKEN", "CI_JOB_TOKEN", "NPM_TOKEN", "NODE_AUTH_TOKEN",
    "CARGO_REGISTRY_TOKEN", "TWINE_PASSWORD", "PYPI_TOKEN", "PYPI_ID_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_RUNTIME_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "SIGSTORE_ID_TOKEN",
    "CI_JOB_JWT", "CI_JOB_JWT_V1", "CI_JOB_JWT_V2", "DOCKER_AUTH_CONFIG",
})
# [publish.crates] registry = "name" reads CARGO_REGISTRIES_<NAME>_TOKEN, as cargo itself does.
REGISTRY_TOKEN = re.compile(r"CARGO_REGISTRIES_.+_TOKEN")
# Defence in depth: a name that says it holds a credential is one, whoever set it.
SECRET_WORDS = re.compile(r"TOKEN|PASSWORD|PASSPHRASE|SECRET|CREDENTIAL|PRIVATE_KEY|API_?KEY", re.IGNORECASE)
# ... but these say which program cargo asks for a registry's token: configuration, not a secret
# (a build from a private registry needs them, and what they run gets its token elsewhere).
NOT_SECRET = re.compile(r"CARGO_REGISTR(Y|IES_.+)_CREDENTIAL_PROVIDER|CARGO_REGISTRY_GLOBAL_CREDENTIAL_PROVIDERS")


@dataclass(frozen=True)
class SecretPolicy:
    """Which inherited variables a child process never sees.

    A secret is a variable the config names (`named`: every `*-env` value), one it would name by
    default, a CI or registry token, or any name holding one of SECRET_WORDS. Children get none of
    them unless `[project] pass-env` lists it (`passed`: a build whose private registry needs its
    token). A command that needs a secret (signing, publishing) adds it itself through
    `proc.Command.env` and `secret_env`, so the policy never has to make an exception for it.
    """

    named: frozenset[str] = frozenset()
    passed: frozenset[str] = frozenset()

    def is_secret(self, name: str) -> bool:
        """Whether `name` holds a credential (pass-env aside): never a build input, never recorded."""
        upper = name.upper()  # Windows names are case-insensitive: hide more, never less
        if name in self.named or upper in self.named or upper in DEFAULT_SECRET_ENV or upper in WELL_KNOWN_SECRETS:
            return True
        return REGISTRY_TOKEN.fullmatch(upper) is not None or (
            SECRET_WORDS.search(name) is not None and NOT_SECRET.fullmatch(upper) is None)

    def withholds(self, name: str) -> bool:
        """Whether a child must not inherit `name`."""
        return name not in self.passed and self.is_secret(name)

    def child_env(self, inherited: Mapping[str, str], add: Mapping[str, str] | None = None,
                  unset: Collection[str] = ()) -> dict[str, str]:
        """`inherited` without the secrets and `unset`, then `add` (what the command gives on purpose)."""
        env = {k: v for k, v in inherited.items() if k not in unset and not self.withholds(k)}
        env.update(add or {})
        return env


# The defaults and patterns alone: the policy of this process until a targets.toml is loaded
# (config.load installs its own), so even a probe run before the config is known inherits no credential.
DEFAULT_POLICY = SecretPolicy()
_POLICY = [DEFAULT_POLICY]


def guard(policy: SecretPolicy) -> None:
    """Make `policy` the one every child process of this process gets its environment from."""
    _POLICY[0] = policy


def secret_policy() -> SecretPolicy:
    return _POLICY[0]


def child_environ(add: Mapping[str, str] | None = None, unset: Collection[str] = ()) -> dict[str, str]:
    """The environment of a child process: ours without secrets and `unset`, plus `add`."""
    return _POLICY[0].child_env(os.environ, add, unset)
