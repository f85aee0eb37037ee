"""[publish.*]: where `invoke publish` uploads dist/, checked when targets.toml loads (a typo
exits 2 before anything is built)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..errors import ConfigError
from . import checks as c
from .models import Core

DESTINATIONS = ("github", "http", "directory", "pypi")
PYPI_UPLOAD = "https://upload.pypi.org/legacy/"

@dataclass(frozen=True)
class GitHubConfig:
    """[publish.github]: assets of a GitHub release (github.com or GitHub Enterprise)."""

    kind: ClassVar[str] = "github"
    repo: str
    tag: str = "v{version}"
    api_url: str = "https://api.github.com"
    upload_url: str | None = None  # None: the release's own `upload_url`
    token_env: str = "GITHUB_TOKEN"
    draft: bool = False  # true: leave the release a draft for a person to publish
    prerelease: bool | None = None  # None: a prerelease when the version has one (1.2.0-rc.1)
    rolling: bool = False  # the tag is re-pointed at each release's commit (nightly, website-latest)


@dataclass(frozen=True)
class HttpConfig:
    """[publish.http]: any server that stores a PUT body under the URL (Artifactory, Nexus raw, WebDAV)."""

    kind: ClassVar[str] = "http"
    url: str
    token_env: str | None = None  # Authorization: Bearer
    user_env: str | None = None  # basic auth, with password_env
    password_env: str | None = None


@dataclass(frozen=True)
class DirectoryConfig:
    """[publish.directory]: a local or mounted directory (NFS, SMB, a synced folder)."""

    kind: ClassVar[str] = "directory"
    path: Path  # absolute (relative paths are resolved against targets.toml's directory)
    layout: str = "{name}/{version}/{commit}"


@dataclass(frozen=True)
class PypiConfig:
    """[publish.pypi]: the release's wheels, through the upload API PyPI, TestPyPI, pypiserver,
    devpi and most package indexes offer."""

    kind: ClassVar[str] = "pypi"
    repository_url: str = PYPI_UPLOAD
    index_url: str = "https://pypi.org/simple/"  # where to look for files already there
    token_env: str = "PYPI_TOKEN"
    # No token set: under GitHub Actions or GitLab CI, trade the job's OIDC identity for a
    # short-lived upload token (PyPI's trusted publishing) at `oidc_url`.
    trusted_publishing: bool = True
    oidc_url: str = "https://pypi.org"
    id_token_env: str = "PYPI_ID_TOKEN"  # GitLab CI: the `id_tokens:` variable (aud: pypi)


DestinationConfig = GitHubConfig | HttpConfig | DirectoryConfig | PypiConfig


@dataclass(frozen=True)
class PublishConfig:
    """[publish]: the configured destinations, in the order targets.toml lists them."""

    destinations: tuple[DestinationConfig, ...] = ()

    def get(self, kind: str) -> DestinationConfig | None:
        return next((d for d in self.destinations if d.kind == kind), None)

    @property
    def github(self) -> GitHubConfig | None:
        return self.get("github")  # type: ignore[return-value]

    @property
    def http(self) -> HttpConfig | None:
        return self.get("http")  # type: ignore[return-value]

    @property
    def directory(self) -> DirectoryConfig | None:
        return self.get("directory")  # type: ignore[return-value]

    @property
    def pypi(self) -> PypiConfig | None:
        return self.get("pypi")  # type: ignore[return-value]



def _repo(v: Any) -> str:
    if not isinstance(v, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", v):
        raise ValueError('"owner/name"')
    return v


# Per destination: key -> (checker, default). REQUIRED keys have no default.
KEYS: dict[str, c.Spec] = {
    "github": {
        "repo": (_repo, c.REQUIRED),
        "tag": (c.template(c.RELEASE_FIELDS), "v{version}"),
        "api-url": (c.url(()), "https://api.github.com"),
        "upload-url": (c.optional(c.url(())), None),
        "token-env": (c.env_name, "GITHUB_TOKEN"),
        "draft": (c.bool_value, False),
        "prerelease": (c.optional(c.bool_value), None),
        "rolling": (c.bool_value, False),
    },
    "http": {
        "url": (c.url(c.RELEASE_FIELDS), c.REQUIRED),
        "token-env": (c.optional(c.env_name), None),
        "user-env": (c.optional(c.env_name), None),
        "password-env": (c.optional(c.env_name), None),
    },
    "directory": {
        "path": (c.text, c.REQUIRED),
        "layout": (c.relative_template, "{name}/{version}/{commit}"),
    },
    "pypi": {
        "repository-url": (c.url(()), PYPI_UPLOAD),
        "index-url": (c.optional(c.url(())), None),
        "token-env": (c.env_name, "PYPI_TOKEN"),
        "trusted-publishing": (c.bool_value, True),
        "oidc-url": (c.optional(c.url(())), None),
        "id-token-env": (c.env_name, "PYPI_ID_TOKEN"),
    },
}

# The indexes whose upload URL is not beside their simple index.
KNOWN_INDEXES = {
    "https://upload.pypi.org/legacy/": ("https://pypi.org/simple/", "https://pypi.org"),
    "https://test.pypi.org/legacy/": ("https://test.pypi.org/simple/", "https://test.pypi.org"),
}


def _github(path: Path, v: dict[str, Any]) -> GitHubConfig:
    return GitHubConfig(repo=v["repo"], tag=v["tag"], api_url=v["api-url"], upload_url=v["upload-url"],
                        token_env=v["token-env"], draft=v["draft"], prerelease=v["prerelease"], rolling=v["rolling"])


def _http(path: Path, v: dict[str, Any]) -> HttpConfig:
    where = f"{path}: publish.http"
    if (v["user-env"] is None) != (v["password-env"] is None):
        missing = "password-env" if v["password-env"] is None else "user-env"
        raise ConfigError(f"{where}.{missing}: missing", hint="basic auth needs both user-env and password-env")
    if v["token-env"] and v["user-env"]:
        raise ConfigError(f"{where}.token-env: cannot be combined with user-env/password-env",
                          hint="use a bearer token or basic auth, not both")
    return HttpConfig(url=v["url"], token_env=v["token-env"], user_env=v["user-env"], password_env=v["password-env"])


def _directory(path: Path, v: dict[str, Any]) -> DirectoryConfig:
    where = Path(v["path"]).expanduser()
    return DirectoryConfig(path=where if where.is_absolute() else path.parent / where, layout=v["layout"])


def _pypi(path: Path, v: dict[str, Any]) -> PypiConfig:
    upload = v["repository-url"].rstrip("/") + "/"
    index, oidc = KNOWN_INDEXES.get(upload, (upload + "simple/", upload.rstrip("/")))
    return PypiConfig(repository_url=upload, index_url=(v["index-url"] or index).rstrip("/") + "/",
                      token_env=v["token-env"], trusted_publishing=v["trusted-publishing"],
                      oidc_url=(v["oidc-url"] or oidc).rstrip("/"), id_token_env=v["id-token-env"])


PARSERS: dict[str, Callable[[Path, dict[str, Any]], DestinationConfig]] = {
    "github": _github, "http": _http, "directory": _directory, "pypi": _pypi,
}


def parse_publish(cfg: Core, raw: Any) -> PublishConfig:
    """[publish], checked like the rest of the file: ConfigError naming file and key."""
    path = cfg.project.config_path
    table = c.check_table(path, "publish.", raw)
    c.reject_unknown(path, "publish.", table, DESTINATIONS)
    return PublishConfig(tuple(PARSERS[kind](path, c.values(path, f"publish.{kind}.", sub, KEYS[kind]))
                               for kind, sub in table.items()))
