"""[publish] parsing: the good table, defaults, and every kind of bad input gives one clear ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import write_project
from wavrybuild.config import load
from wavrybuild.config.publish import DirectoryConfig, GitHubConfig, HttpConfig, PublishConfig
from wavrybuild.errors import ConfigError

BASE = """
[project]
crate = "demo"

[targets.x86_64-unknown-linux-gnu]
builder = "cargo"
"""

GOOD = BASE + """
[publish.directory]
path = "releases"
layout = "{name}/{commit}"

[publish.github]
repo = "wavry/demo"
tag = "release-{name}-{version}"
api-url = "https://ghe.example.com/api/v3/"
upload-url = "https://ghe.example.com/api/uploads"
token-env = "RELEASE_TOKEN"
draft = true
prerelease = true

[publish.http]
url = "https://repo.example.com/raw/{name}/{version}"
user-env = "REPO_USER"
password-env = "REPO_PASSWORD"
"""


def _parse(tmp_path: Path, text: str) -> PublishConfig:
    write_project(tmp_path, text)
    return load(tmp_path / "targets.toml").publish


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        _parse(tmp_path, text)
    assert info.value.exit_code == 2
    message = str(info.value)
    assert str(tmp_path / "targets.toml") in message
    return message


def test_good_config(tmp_path: Path) -> None:
    pc = _parse(tmp_path, GOOD)
    assert [d.kind for d in pc.destinations] == ["directory", "github", "http"]  # as written
    assert pc.github == GitHubConfig(
        repo="wavry/demo", tag="release-{name}-{version}", api_url="https://ghe.example.com/api/v3",
        upload_url="https://ghe.example.com/api/uploads", token_env="RELEASE_TOKEN", draft=True, prerelease=True)
    assert pc.http == HttpConfig(url="https://repo.example.com/raw/{name}/{version}", token_env=None,
                                 user_env="REPO_USER", password_env="REPO_PASSWORD")
    # A relative path is relative to targets.toml, not to the working directory.
    assert pc.directory == DirectoryConfig(path=tmp_path / "releases", layout="{name}/{commit}")


def test_defaults(tmp_path: Path) -> None:
    pc = _parse(tmp_path, BASE + '[publish.github]\nrepo = "o/n"\n[publish.directory]\npath = "/srv/rel"\n')
    assert pc.github == GitHubConfig(repo="o/n", tag="v{version}", api_url="https://api.github.com",
                                     upload_url=None, token_env="GITHUB_TOKEN", draft=False, prerelease=None)
    assert pc.directory == DirectoryConfig(path=Path("/srv/rel"), layout="{name}/{version}/{commit}")
    assert pc.http is None


def test_no_publish_table_is_empty(tmp_path: Path) -> None:
    assert _parse(tmp_path, BASE).destinations == ()


def test_unknown_key_with_did_you_mean(tmp_path: Path) -> None:
    message = _error(tmp_path, BASE + '[publish.github]\nrepo = "o/n"\ntokn-env = "X"\n')
    assert "publish.github.tokn-env: unknown key; did you mean 'token-env'?" in message
    assert "allowed here:" in message


def test_unknown_destination_with_did_you_mean(tmp_path: Path) -> None:
    message = _error(tmp_path, BASE + '[publish.gihub]\nrepo = "o/n"\n')
    assert "publish.gihub: unknown key; did you mean 'github'?" in message


@pytest.mark.parametrize("table, key, value", [
    ("github", "token", "ghp_0123456789abcdefSECRET"),
    ("http", "password", "hunter2-SECRET"),
    ("http", "api-secret", "SECRET-value"),
])
def test_secret_key_refused(tmp_path: Path, table: str, key: str, value: str) -> None:
    required = 'repo = "o/n"' if table == "github" else 'url = "https://h.example/x"'
    message = _error(tmp_path, BASE + f'[publish.{table}]\n{required}\n{key} = "{value}"\n')
    assert f"publish.{table}.{key}: secrets never go in targets.toml" in message
    assert "-env" in message  # the hint says how to do it instead
    assert value not in message


def test_token_pasted_into_env_key_is_refused_without_echo(tmp_path: Path) -> None:
    token = "ghp_" + "A1b2" * 9
    message = _error(tmp_path, BASE + f'[publish.github]\nrepo = "o/n"\ntoken-env = "{token}"\n')
    assert "publish.github.token-env" in message and "looks like a token" in message
    assert token not in message


@pytest.mark.parametrize("body, where, expected", [
    ('[publish.github]\nrepo = "o/n"\ndraft = "yes"', "publish.github.draft", "expected true or false, got 'yes'"),
    ('[publish.github]\nrepo = 5', "publish.github.repo", 'expected "owner/name", got 5'),
    ('[publish.github]\nrepo = "just-a-name"', "publish.github.repo", 'expected "owner/name"'),
    ('[publish.http]\nurl = ["https://x"]', "publish.http.url", "expected a non-empty string"),
    ('[publish.http]\nurl = "ftp://x.example/"', "publish.http.url", "expected an http:// or https:// URL"),
    ('[publish.directory]\npath = 3', "publish.directory.path", "expected a non-empty string, got 3"),
    ("[publish]\ngithub = \"o/n\"", "publish.github", "expected a table"),
])
def test_wrong_type(tmp_path: Path, body: str, where: str, expected: str) -> None:
    message = _error(tmp_path, BASE + body + "\n")
    assert f"{where}: {expected}" in message


def test_missing_required_key(tmp_path: Path) -> None:
    message = _error(tmp_path, BASE + "[publish.http]\ntoken-env = \"T\"\n")
    assert "publish.http.url: missing" in message


def test_unknown_placeholder_with_did_you_mean(tmp_path: Path) -> None:
    message = _error(tmp_path, BASE + '[publish.github]\nrepo = "o/n"\ntag = "v{versoin}"\n')
    assert "publish.github.tag:" in message and "did you mean {version}?" in message
    # Attribute access would reach into Python objects: only plain names are placeholders.
    message = _error(tmp_path, BASE + '[publish.directory]\npath = "/r"\nlayout = "{name.__class__}"\n')
    assert "publish.directory.layout:" in message


def test_credentials_in_url_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, BASE + '[publish.http]\nurl = "https://bob:pa55w0rd@repo.example/x"\n')
    assert "publish.http.url" in message and "without credentials" in message
    assert "pa55w0rd" not in message


def test_layout_may_not_leave_the_directory(tmp_path: Path) -> None:
    message = _error(tmp_path, BASE + '[publish.directory]\npath = "/r"\nlayout = "../{name}"\n')
    assert "publish.directory.layout: expected a relative path" in message


def test_basic_auth_needs_both_names(tmp_path: Path) -> None:
    message = _error(tmp_path, BASE + '[publish.http]\nurl = "https://h.example"\nuser-env = "U"\n')
    assert "publish.http.password-env: missing" in message
    message = _error(tmp_path, BASE + '[publish.http]\nurl = "https://h.example"\ntoken-env = "T"\n'
                     'user-env = "U"\npassword-env = "P"\n')
    assert "publish.http.token-env: cannot be combined" in message


def test_pypi_index_urls(tmp_path: Path) -> None:
    from wavrybuild.config.publish import PypiConfig

    pc = _parse(tmp_path, BASE + "[publish.pypi]\n")
    assert pc.pypi == PypiConfig()  # PyPI itself: upload.pypi.org, pypi.org/simple, pypi.org's OIDC
    test = _parse(tmp_path, BASE + '[publish.pypi]\nrepository-url = "https://test.pypi.org/legacy"\n').pypi
    assert test is not None and (test.index_url, test.oidc_url) == ("https://test.pypi.org/simple/", "https://test.pypi.org")
    own = _parse(tmp_path, BASE + '[publish.pypi]\nrepository-url = "http://127.0.0.1:8080"\ntoken-env = "T"\n').pypi
    assert own is not None and own.repository_url == "http://127.0.0.1:8080/"
    assert own.index_url == "http://127.0.0.1:8080/simple/" and own.token_env == "T"


def test_prerelease_from_the_version() -> None:
    from wavrybuild.publish.base import ReleaseRef

    assert ReleaseRef("a", "1.2.0-rc.1", "c").is_prerelease
    assert not ReleaseRef("a", "1.2.0", "c").is_prerelease
    assert not ReleaseRef("a", "1.2.0+build.5", "c").is_prerelease


def test_gitlab_and_crates_config(tmp_path: Path) -> None:
    from wavrybuild.config.publish import CratesConfig, GitLabConfig

    pc = _parse(tmp_path, BASE + '[publish.gitlab]\npackage-version = "release-{date}"\n'
                '[publish.crates]\npackages = ["a-core"]\n')
    assert pc.gitlab == GitLabConfig(package_version="release-{date}")
    assert pc.crates == CratesConfig(packages=("a-core",))
    assert [d.kind for d in pc.files] == ["gitlab"] and pc.has_release_page
    own = _parse(tmp_path, BASE + '[publish.crates]\npackages = ["a"]\nregistry = "my-reg"\n'
                 'index = "sparse+https://reg.example/index"\n').crates
    assert own == CratesConfig(("a",), "my-reg", "https://reg.example/index/", "CARGO_REGISTRIES_MY_REG_TOKEN")


@pytest.mark.parametrize(("section", "expected"), [
    ('[publish.crates]\npackages = ["a"]\nregistry = "r"\n', "publish.crates.index: needed with registry"),
    ("[publish.crates]\npackages = []\n", "expected a non-empty list of crate names"),
    ('[publish.gitlab]\npackage = "a/b"\n', "publish.gitlab.package: expected a template of letters"),
    ('[publish.gitlab]\ntag = "v{versio}"\n', "did you mean {version}?"),
    ('[publish.gitlab]\nproject = "not a project"\n', "a project id or its path"),
    ('[publish.pypi]\ntoken-env = "pypi-AgEIcHlwaS5vcmc"\n', "publish.pypi.token-env"),
])
def test_bad_gitlab_crates_pypi(tmp_path: Path, section: str, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        _parse(tmp_path, BASE + section)
    assert expected in str(exc.value) + (exc.value.hint or "")


def test_crates_publish_order() -> None:
    from wavrybuild.cratemeta import publish_order
    from wavrybuild.publish.crates import index_path

    pkgs = [{"name": "net", "dependencies": [{"name": "core", "path": "/c", "kind": None},
                                             {"name": "testkit", "path": "/t", "kind": "dev"}]},
            {"name": "core", "dependencies": []}, {"name": "testkit", "dependencies": [{"name": "net", "path": "/n"}]},
            {"name": "app", "publish": [], "dependencies": []}]
    assert [p["name"] for p in publish_order(pkgs, ("net", "core", "testkit"), Path("t"))] == ["core", "net", "testkit"]
    with pytest.raises(ConfigError, match="publish = false"):
        publish_order(pkgs, ("app",), Path("t"))
    with pytest.raises(ConfigError, match="did you mean 'core'"):
        publish_order(pkgs, ("cor",), Path("t"))
    assert [index_path(n) for n in ("a", "ab", "abc", "Serde")] == ["1/a", "2/ab", "3/a/abc", "se/rd/serde"]
