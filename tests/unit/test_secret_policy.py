"""No child process inherits a credential (issue 26, item 3): env.SecretPolicy, the one policy every
child environment proc builds goes through.

Withheld: every variable targets.toml names with a `*-env` key *or would name by default* (a CI that
follows the docs sets WAVRYBUILD_MINISIGN_PASSPHRASE without naming it), CARGO_REGISTRIES_<NAME>_TOKEN,
CI tokens, and any name holding TOKEN, PASSWORD, PASSPHRASE, SECRET, CREDENTIAL or PRIVATE_KEY —
unless `[project] pass-env` lists it. The children here are real (`env -0`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import REPO, write_project
from wavrybuild import env as env_
from wavrybuild import proc
from wavrybuild.build.freshness import environment_digest
from wavrybuild.config import load
from wavrybuild.env import DEFAULT_POLICY, DEFAULT_SECRET_ENV, SecretPolicy, Settings
from wavrybuild.errors import ConfigError

BASE = '[project]\ncrate = "demo"\n[targets.x86_64-unknown-linux-gnu]\n'
# What the docs' CI example sets while leaving every `*-env` key of targets.toml out.
DEFAULT_NAMED = {
    "WAVRYBUILD_MINISIGN_PASSPHRASE": "mini-pass-1", "WAVRYBUILD_GPG_PASSPHRASE": "gpg-pass-2",
    "WAVRYBUILD_AUTHENTICODE_PASSWORD": "p12-pass-3", "SIGSTORE_IDENTITY_TOKEN": "eyJ-oidc-4",
    "CARGO_REGISTRIES_FOO_TOKEN": "cio-foo-5", "WAVRYBUILD_MACOS_P12_PASSWORD": "mac-pass-6",
    "CARGO_REGISTRY_TOKEN": "cio-7", "PYPI_TOKEN": "pypi-8", "GITHUB_TOKEN": "ghp_9",
}
# Names no config mentions that still say what they hold (defence in depth).
LOOKS_SECRET = {
    "MY_API_TOKEN": "t-1", "db_password": "p-2", "DEPLOY_PASSPHRASE": "p-3", "SENTRY_SECRET": "s-4",
    "GOOGLE_APPLICATION_CREDENTIALS": "/c-5.json", "DEPLOY_PRIVATE_KEY": "k-6", "npm_config__authToken": "a-7",
    "NUGET_API_KEY": "n-8", "CI_JOB_JWT_V2": "eyJ-9", "DOCKER_AUTH_CONFIG": '{"auths": {}}',
}
# Not secrets, though some of the words are in their names: cargo's credential-provider settings
# name a program (a private registry's build needs them).
HARMLESS = {"RUST_LOG": "debug", "CARGO_PROFILE_RELEASE_LTO": "true", "WAVRYBUILD_PARALLEL": "2", "LANG": "C.UTF-8",
            "CARGO_REGISTRIES_MINE_CREDENTIAL_PROVIDER": "cargo:token-from-stdout x",
            "CARGO_REGISTRY_GLOBAL_CREDENTIAL_PROVIDERS": "cargo:token"}


@pytest.fixture(autouse=True)
def _process_policy() -> Iterator[None]:
    """config.load installs its policy for the whole process: put the defaults back afterwards."""
    yield
    env_.guard(DEFAULT_POLICY)


def child_environ(cmd: proc.Command | None = None) -> dict[str, str]:
    """The environment a real child gets, through proc.run (and the same through capture_all)."""
    cmd = cmd or proc.Command(("env", "-0"))
    out = proc.run(cmd).stdout
    quick = proc.capture_all(list(cmd.argv), env=cmd.env, unset=cmd.unset_env).stdout.decode()
    assert quick == out  # the two ways to start a child apply the same policy
    return dict(e.split("=", 1) for e in out.split("\0") if e)


def test_defaults_and_registry_tokens_never_reach_a_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No [sign] section and no *-env key at all: the variables a CI sets by their default names.
    load(write_project(tmp_path, BASE) / "targets.toml")
    for k, v in {**DEFAULT_NAMED, **HARMLESS}.items():
        monkeypatch.setenv(k, v)
    seen = child_environ()
    assert not set(DEFAULT_NAMED) & set(seen), set(DEFAULT_NAMED) & set(seen)
    assert not [v for v in DEFAULT_NAMED.values() if v in "\0".join(f"{k}={x}" for k, x in seen.items())]
    assert {k: seen[k] for k in HARMLESS} == HARMLESS  # what is not a secret is passed on
    assert "PATH" in seen and "HOME" in seen


def test_secret_looking_names_are_withheld_without_any_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {**LOOKS_SECRET, **HARMLESS}.items():
        monkeypatch.setenv(k, v)
    seen = child_environ()  # the process's policy before any targets.toml is loaded
    assert not set(LOOKS_SECRET) & set(seen), set(LOOKS_SECRET) & set(seen)
    assert {k: seen[k] for k in HARMLESS} == HARMLESS


def test_names_the_config_gives_are_withheld_even_when_they_look_harmless(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = BASE + ('[sign]\nmethods = []\n[sign.gpg]\nkey = "k"\npassphrase-env = "RELEASE_GPG"\n'
                   '[publish.crates]\npackages = ["wavry-demo"]\nregistry = "my-reg"\n'
                   'index = "https://example.invalid/index/"\n')
    # WAVRYBUILD_MINISIGN_PASSPHRASE_ENV renames a *-env key from the environment: named too.
    settings = Settings.read({"WAVRYBUILD_MINISIGN_PASSPHRASE_ENV": "RELEASE_MINI"})
    cfg = load(write_project(tmp_path, toml) / "targets.toml", settings=settings)
    named = {"RELEASE_GPG": "g-1", "RELEASE_MINI": "m-2", "CARGO_REGISTRIES_MY_REG_TOKEN": "r-3"}
    for k, v in named.items():
        monkeypatch.setenv(k, v)
    assert all(cfg.project.secrets.is_secret(k) for k in named)
    assert not set(named) & set(child_environ())


def test_pass_env_lets_a_named_secret_through_and_nothing_else(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = BASE.replace('crate = "demo"\n', 'crate = "demo"\npass-env = ["CARGO_REGISTRIES_FOO_TOKEN"]\n')
    load(write_project(tmp_path, toml) / "targets.toml")
    for k, v in {**DEFAULT_NAMED, **LOOKS_SECRET}.items():
        monkeypatch.setenv(k, v)
    seen = child_environ()
    assert seen["CARGO_REGISTRIES_FOO_TOKEN"] == "cio-foo-5"
    assert not (set(DEFAULT_NAMED) | set(LOOKS_SECRET)) - {"CARGO_REGISTRIES_FOO_TOKEN"} & set(seen)


def test_a_command_that_needs_a_secret_is_given_it_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARGO_REGISTRY_TOKEN", "cio-given-1")
    monkeypatch.setenv("NPM_TOKEN", "npm-not-given-2")
    cmd = proc.Command(("env", "-0"), {"CARGO_REGISTRY_TOKEN": env_.secret_value("CARGO_REGISTRY_TOKEN")},
                       secret_env=frozenset({"CARGO_REGISTRY_TOKEN"}))
    seen = child_environ(cmd)
    assert seen["CARGO_REGISTRY_TOKEN"] == "cio-given-1" and "NPM_TOKEN" not in seen
    assert "cio-given-1" not in cmd.display() and "CARGO_REGISTRY_TOKEN=***" in cmd.display()


@pytest.mark.parametrize(("pass_env", "expect"), [
    ('"CARGO_REGISTRIES_FOO_TOKEN"', "expected a list of environment variable names"),
    ('["ghp_0123456789abcdefghijklmnopqrstuvwxyz"]', "project.pass-env[0]: expected the *name*"),
    ('["NOT A NAME"]', "project.pass-env[0]: expected the name of an environment variable"),
    ('["RUST_LOG"]', "RUST_LOG is not withheld from builds"),
])
def test_bad_pass_env_is_one_clear_error(tmp_path: Path, pass_env: str, expect: str) -> None:
    toml = BASE.replace('crate = "demo"\n', f'crate = "demo"\npass-env = {pass_env}\n')
    with pytest.raises(ConfigError) as exc:
        load(write_project(tmp_path, toml) / "targets.toml")
    msg = str(exc.value)
    assert expect in msg and "targets.toml" in msg and exc.value.exit_code == 2
    assert "ghp_0123" not in msg + (exc.value.hint or "")  # a token pasted in place of a name is not repeated


def test_the_build_key_neither_hashes_nor_follows_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    passed = SecretPolicy(passed=frozenset({"CARGO_REGISTRIES_FOO_TOKEN"}))
    monkeypatch.setenv("CARGO_REGISTRIES_FOO_TOKEN", "one")
    monkeypatch.setenv("CARGO_PROFILE_RELEASE_LTO", "true")
    before = environment_digest(DEFAULT_POLICY), environment_digest(passed)
    monkeypatch.setenv("CARGO_REGISTRIES_FOO_TOKEN", "rotated")  # a new token: nothing to rebuild
    assert (environment_digest(DEFAULT_POLICY), environment_digest(passed)) == before
    monkeypatch.setenv("CARGO_PROFILE_RELEASE_LTO", "false")  # a real build input still counts
    assert environment_digest(DEFAULT_POLICY) != before[0]


def test_every_default_env_name_of_the_config_is_withheld() -> None:
    """A new `*-env` key with a default name must come with that name in env.DEFAULT_SECRET_ENV."""
    found = set()
    for source in (REPO / "wavrybuild" / "config").glob("*.py"):
        for line in source.read_text().splitlines():
            if "_env" in line or "-env" in line:
                found |= set(re.findall(r'"([A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9])"', line))
    defaults = {n for n in found if not n.startswith("CARGO_REGISTRIES_")}
    assert {"WAVRYBUILD_MINISIGN_PASSPHRASE", "SIGSTORE_IDENTITY_TOKEN", "NPM_TOKEN"} <= defaults  # the scan works
    assert defaults <= DEFAULT_SECRET_ENV, defaults - DEFAULT_SECRET_ENV
    assert DEFAULT_POLICY.is_secret("CARGO_REGISTRIES_ANY_NAME_TOKEN")


def test_no_module_starts_a_child_around_proc() -> None:
    """proc is the one way to start a program, so the policy cannot be skipped. pulldeploy.py is the
    exception: it is copied alone to servers (standard library only) and runs with the server's own
    environment, not a release's."""
    starts = re.compile(r"\bsubprocess\.|\bos\.(exec|spawn|system|popen|posix_spawn)|create_subprocess_|\bpty\.spawn")
    found = [f"{path.relative_to(REPO)}:{n}" for path in sorted((REPO / "wavrybuild").rglob("*.py"))
             if path.name not in ("proc.py", "pulldeploy.py")
             for n, line in enumerate(path.read_text().splitlines(), 1) if starts.search(line)]
    assert not found, found


NAME_CHARS = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
WORDS = ("TOKEN", "PASSWORD", "PASSPHRASE", "SECRET", "CREDENTIAL", "PRIVATE_KEY", "API_KEY")


@settings(max_examples=300, deadline=None)
@given(prefix=st.text(NAME_CHARS, max_size=12), word=st.sampled_from(WORDS), suffix=st.text(NAME_CHARS, max_size=12),
       lower=st.booleans(), value=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
                                          min_size=1, max_size=40))
def test_any_secret_looking_name_is_withheld(prefix: str, word: str, suffix: str, lower: bool, value: str) -> None:
    name = "X" + prefix + (word.lower() if lower else word) + suffix  # never one of cargo's provider settings
    policy = SecretPolicy()
    inherited = {name: value, "HOME": "/home/x"}
    assert policy.withholds(name) and policy.child_env(inherited) == {"HOME": "/home/x"}
    # Listed in pass-env, it goes through; given on purpose, it is there whatever the policy says.
    assert SecretPolicy(passed=frozenset({name})).child_env(inherited)[name] == value
    assert policy.child_env(inherited, add={name: value})[name] == value


@settings(max_examples=200, deadline=None)
@given(name=st.from_regex(r"[A-Z][A-Z0-9_]{0,30}", fullmatch=True))
def test_any_name_a_config_gives_is_withheld(name: str) -> None:
    policy = SecretPolicy(named=frozenset({name}))
    assert policy.withholds(name) and name not in policy.child_env({name: "v", "HOME": "/h"})
