"""[targets.*].env values (a SENTRY_AUTH_TOKEN a build script needs) never show in echoed commands,
--dry output or the build key kept in dist/; names listed in public-env do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import invoke, write_project
from wavrybuild.config import load
from wavrybuild.errors import ConfigError

SECRET = "sntrys_9f3c1e7d2b"
TOML = f"""[project]
crate = "demo"

[targets.x86_64-unknown-linux-musl]
env = {{ SENTRY_AUTH_TOKEN = "{SECRET}", RUST_LOG = "debug" }}
public-env = ["RUST_LOG"]
"""


def test_dry_build_masks_env_values_unless_public(tmp_path: Path) -> None:
    root = write_project(tmp_path, TOML)
    done = invoke("build", "--all", "--dry", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SENTRY_AUTH_TOKEN=***" in done.stderr and "RUST_LOG=debug" in done.stderr
    assert SECRET not in done.stdout + done.stderr


def test_fingerprint_keeps_digests_of_env_values(tmp_path: Path) -> None:
    cfg = load(write_project(tmp_path, TOML) / "targets.toml")
    (target,) = cfg.targets
    assert target.secret_env == frozenset({"SENTRY_AUTH_TOKEN"})
    assert SECRET not in target.fingerprint() and "SENTRY_AUTH_TOKEN" in target.fingerprint()


def test_public_env_names_a_key_of_env(tmp_path: Path) -> None:
    root = write_project(tmp_path, TOML.replace('public-env = ["RUST_LOG"]', 'public-env = ["RUST_LOGS"]'))
    with pytest.raises(ConfigError, match="public-env: 'RUST_LOGS' is not a key of env"):
        load(root / "targets.toml")
