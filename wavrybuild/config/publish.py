"""[publish.*]: where `invoke publish` uploads dist/, checked when targets.toml loads (a typo
exits 2 before anything is built)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from ..errors import ConfigError
from . import checks as c
from .project import Core
from .values import Checked, Component, HttpUrl, RepoSlug

DESTINATIONS = ("github", "gitlab", "http", "directory", "pypi", "crates")
PYPI_UPLOAD = "https://upload.pypi.org/legacy/"

@dataclass(frozen=True)
class GitHubConfig:
    """[publish.github]: assets of a GitHub release (github.com or GitHub Enterprise)."""

    kind: ClassVar[str] = "github"
    repo: RepoSlug
    tag: c.TagTemplate = c.TagTemplate("v{version}")  # rendered with `tag.render(values)`: a GitRef
    api_url: HttpUrl = HttpUrl("https://api.github.com")
    upload_url: HttpUrl | None = None  # None: the release's own `upload_url`
    token_env: str = "GITHUB_TOKEN"
    draft: bool = False  # true: leave the release a draft for a person to publish
    prerelease: bool | None = None  # None: a prerelease when the version has one (1.2.0-rc.1)
    rolling: bool = False  # the tag is re-pointed at each release's commit (nightly, website-latest)
    # False: never marked the repository's "Latest" release (a rolling [[artifacts]] tag must not
    # take that place, and /releases/latest/, from the app's versioned release). Not a key: set by rolling.py.
    latest: bool = True


@dataclass(frozen=True)
class HttpConfig:
    """[publish.http]: any server that stores a PUT body under the URL (Artifactory, Nexus raw, WebDAV)."""

    kind: ClassVar[str] = "http"
    url: c.UrlTemplate  # {name} {version} {commit} {date}: `url.render(values)` is an HttpUrl
    token_env: str | None = None  # Authorization: Bearer
    user_env: str | None = None  # basic auth, with password_env
    password_env: str | None = None


@dataclass(frozen=True)
class DirectoryConfig:
    """[publish.directory]: a local or mounted directory (NFS, SMB, a synced folder)."""

    kind: ClassVar[str] = "directory"
    path: Path  # absolute (relative paths are resolved against targets.toml's directory); never in dist/
    layout: c.PathTemplate = c.PathTemplate("{name}/{version}/{commit}")  # `layout.render(values)`: a RelPath


@dataclass(frozen=True)
class PypiConfig:
    """[publish.pypi]: the release's wheels, through the upload API PyPI, TestPyPI, pypiserver,
    devpi and most package indexes offer."""

    kind: ClassVar[str] = "pypi"
    repository_url: HttpUrl = HttpUrl(PYPI_UPLOAD)
    index_url: HttpUrl = HttpUrl("https://pypi.org/simple/")  # where to look for files already there
    token_env: str = "PYPI_TOKEN"
    # No token set: under GitHub Actions or GitLab CI, trade the job's OIDC identity for a
    # short-lived upload token (PyPI's trusted publishing) at `oidc_url`.
    trusted_publishing: bool = True
    oidc_url: HttpUrl = HttpUrl("https://pypi.org")
    id_token_env: str = "PYPI_ID_TOKEN"  # GitLab CI: the `id_tokens:` variable (aud: pypi)


@dataclass(frozen=True)
class GitLabConfig:
    """[publish.gitlab]: the files in the project's generic package registry, and a GitLab Release
    linking to them with the notes (gitlab.com or a self-managed instance)."""

    kind: ClassVar[str] = "gitlab"
    project: GitLabProject | None = None  # id or "group/name"; None: $CI_PROJECT_ID
    api_url: HttpUrl | None = None  # None: $CI_API_V4_URL, else https://gitlab.com/api/v4
    token_env: str = "CI_JOB_TOKEN"
    token_kind: str = "auto"  # job (JOB-TOKEN header) | private (PRIVATE-TOKEN); auto: job for CI_JOB_TOKEN
    package: c.NameTemplate = c.NameTemplate("{name}")  # URL path segments: `.render(values)` a Component
    package_version: c.NameTemplate = c.NameTemplate("{version}")
    tag: c.TagTemplate = c.TagTemplate("v{version}")
    release: bool = True  # also a GitLab Release with links to the files


@dataclass(frozen=True)
class CratesConfig:
    """[publish.crates]: workspace crates packaged (and verified) by `cargo package` in the package
    phase, then uploaded through the registry's web API in dependency order, with no cargo."""

    kind: ClassVar[str] = "crates"
    packages: tuple[Component, ...]
    registry: Component | None = None  # a registry named in cargo's config; None: crates.io
    index: HttpUrl = HttpUrl("https://index.crates.io/")  # its sparse index: which versions are already published
    token_env: str = "CARGO_REGISTRY_TOKEN"


DestinationConfig = GitHubConfig | GitLabConfig | HttpConfig | DirectoryConfig | PypiConfig | CratesConfig
D = TypeVar("D", GitHubConfig, GitLabConfig, HttpConfig, DirectoryConfig, PypiConfig, CratesConfig)


@dataclass(frozen=True)
class PublishConfig:
    """[publish]: the configured destinations, in the order targets.toml lists them."""

    destinations: tuple[DestinationConfig, ...] = ()

    def get(self, kind: str) -> DestinationConfig | None:
        """The destination named `kind` ("github"), as targets.toml names it."""
        return next((d for d in self.destinations if d.kind == kind), None)

    def of(self, model: type[D]) -> D | None:
        """The destination of one class, typed as that class (one of each at most: a TOML table)."""
        return next((d for d in self.destinations if isinstance(d, model)), None)

    @property
    def github(self) -> GitHubConfig | None:
        return self.of(GitHubConfig)

    @property
    def has_release_page(self) -> bool:
        """A destination shows release notes: a GitHub release, a GitLab Release."""
        return self.github is not None or bool(self.gitlab and self.gitlab.release)

    @property
    def crates(self) -> CratesConfig | None:
        return self.of(CratesConfig)

    @property
    def files(self) -> tuple[DestinationConfig, ...]:
        """The destinations that receive dist/'s files (crates are published from the source)."""
        return tuple(d for d in self.destinations if not isinstance(d, CratesConfig))

    @property
    def gitlab(self) -> GitLabConfig | None:
        return self.of(GitLabConfig)

    @property
    def http(self) -> HttpConfig | None:
        return self.of(HttpConfig)

    @property
    def directory(self) -> DirectoryConfig | None:
        return self.of(DirectoryConfig)

    @property
    def pypi(self) -> PypiConfig | None:
        return self.of(PypiConfig)


class GitLabProject(Checked):
    """A GitLab project: its numeric id or its path "group/sub/name" (no '.' or '..' parts: it is
    quoted into the API's URL, and a server may normalise it)."""

    expected = 'a project id or its path ("group/name")'

    @classmethod
    def check(cls, value: str) -> str:
        if not re.fullmatch(r"\d+|[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+", value) or len(value) > 255 or any(
                part in (".", "..") for part in value.split("/")):
            raise ValueError(cls.expected)
        return value


def _crate_names(v: Any) -> tuple[Component, ...]:
    names = c.str_list(v)
    if not names or not all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,63}", n) for n in names):
        raise ValueError("a non-empty list of crate names")
    return tuple(Component.parse(n) for n in names)


def _registry_name(v: Any) -> Component:
    if not isinstance(v, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", v):
        raise ValueError("a registry name from cargo's config ([registries.<name>])")
    return Component.parse(v)


def _package_part(v: Any) -> c.NameTemplate:
    """A generic package's name or version: GitLab allows letters, digits and . _ - + ~ (and / in
    names are refused here: each one is a path segment of the upload URL)."""
    value = c.template(c.RELEASE_FIELDS)(v)
    if not re.fullmatch(r"[A-Za-z0-9._+~{}-]+", value):
        raise ValueError("a template of letters, digits and . _ - + ~")
    return c.NameTemplate.parse(value)


# Per destination: key -> (checker, default). REQUIRED keys have no default.
KEYS: dict[str, c.Spec] = {
    "github": {
        "repo": (c.repo_slug, c.REQUIRED),
        "tag": (c.git_ref_template, c.TagTemplate("v{version}")),
        "api-url": (c.url(()), HttpUrl("https://api.github.com")),
        "upload-url": (c.optional(c.url(())), None),
        "token-env": (c.env_name, "GITHUB_TOKEN"),
        "draft": (c.bool_value, False),
        "prerelease": (c.optional(c.bool_value), None),
        "rolling": (c.bool_value, False),
    },
    "gitlab": {
        "project": (c.optional(GitLabProject.parse), None),
        "api-url": (c.optional(c.url(())), None),
        "token-env": (c.env_name, "CI_JOB_TOKEN"),
        "token-kind": (c.choice(("auto", "job", "private")), "auto"),
        "package": (_package_part, c.NameTemplate("{name}")),
        "package-version": (_package_part, c.NameTemplate("{version}")),
        "tag": (c.git_ref_template, c.TagTemplate("v{version}")),
        "release": (c.bool_value, True),
    },
    "http": {
        "url": (c.url_template, c.REQUIRED),
        "token-env": (c.optional(c.env_name), None),
        "user-env": (c.optional(c.env_name), None),
        "password-env": (c.optional(c.env_name), None),
    },
    "directory": {
        "path": (c.path_text, c.REQUIRED),
        "layout": (c.relative_template, c.PathTemplate("{name}/{version}/{commit}")),
    },
    "crates": {
        "packages": (_crate_names, c.REQUIRED),
        "registry": (c.optional(_registry_name), None),
        "index": (lambda v: c.url(())(v.removeprefix("sparse+") if isinstance(v, str) else v), None),
        "token-env": (c.env_name, None),
    },
    "pypi": {
        "repository-url": (c.url(()), HttpUrl(PYPI_UPLOAD)),
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


def _gitlab(path: Path, v: dict[str, Any]) -> GitLabConfig:
    return GitLabConfig(project=v["project"], api_url=v["api-url"], token_env=v["token-env"],
                        token_kind=v["token-kind"], package=v["package"], package_version=v["package-version"],
                        tag=v["tag"], release=v["release"])


def _crates(path: Path, v: dict[str, Any]) -> CratesConfig:
    registry = v["registry"]
    if registry and v["index"] is None:
        raise ConfigError(f"{path}: publish.crates.index: needed with registry = {registry!r} (publish.crates.registry)",
                          hint="the registry's sparse index URL, to skip versions already published")
    token = v["token-env"] or ("CARGO_REGISTRIES_" + registry.upper().replace("-", "_") + "_TOKEN" if registry
                               else "CARGO_REGISTRY_TOKEN")
    index = (v["index"] or "https://index.crates.io/").removeprefix("sparse+").rstrip("/") + "/"
    return CratesConfig(packages=v["packages"], registry=registry, index=HttpUrl.parse(index), token_env=token)


def _http(path: Path, v: dict[str, Any]) -> HttpConfig:
    where = f"{path}: publish.http"
    if (v["user-env"] is None) != (v["password-env"] is None):
        missing = "password-env" if v["password-env"] is None else "user-env"
        raise ConfigError(f"{where}.{missing}: missing", hint="basic auth needs both user-env and password-env")
    if v["token-env"] and v["user-env"]:
        raise ConfigError(f"{where}.token-env: cannot be combined with user-env/password-env",
                          hint="use a bearer token or basic auth, not both")
    return HttpConfig(url=v["url"], token_env=v["token-env"], user_env=v["user-env"], password_env=v["password-env"])


def _directory(path: Path, v: dict[str, Any], dist: Path) -> DirectoryConfig:
    where = Path(v["path"]).expanduser()
    target = where if where.is_absolute() else path.parent / where
    real, real_dist = target.resolve(), dist.resolve()
    # dist/ is rewritten by every stage and its files are what is published: a copy inside it
    # would be published again, and swept away by the next release.
    if real.is_relative_to(real_dist):
        raise ConfigError(f"{path}: publish.directory.path: {v['path']!r} is inside the dist directory {dist}",
                          hint="publish to a directory outside dist/ (a mounted share, a web root)")
    return DirectoryConfig(path=target, layout=v["layout"])


def _pypi(path: Path, v: dict[str, Any]) -> PypiConfig:
    upload = v["repository-url"].rstrip("/") + "/"
    index, oidc = KNOWN_INDEXES.get(upload, (upload + "simple/", upload.rstrip("/")))
    return PypiConfig(repository_url=HttpUrl.parse(upload), index_url=HttpUrl.parse((v["index-url"] or index).rstrip("/") + "/"),
                      token_env=v["token-env"], trusted_publishing=v["trusted-publishing"],
                      oidc_url=HttpUrl.parse((v["oidc-url"] or oidc).rstrip("/")), id_token_env=v["id-token-env"])


# [publish.directory] is parsed by _directory, which needs the dist directory too.
PARSERS: dict[str, Callable[[Path, dict[str, Any]], DestinationConfig]] = {
    "github": _github, "gitlab": _gitlab, "http": _http, "pypi": _pypi, "crates": _crates,
}


def parse_publish(cfg: Core, raw: Any) -> PublishConfig:
    """[publish], checked like the rest of the file: ConfigError naming file and key."""
    path = cfg.project.config_path
    table = c.check_table(path, "publish.", raw)
    c.reject_unknown(path, "publish.", table, DESTINATIONS)
    out: list[DestinationConfig] = []
    for kind, sub in table.items():
        v = c.values(path, f"publish.{kind}.", sub, KEYS[kind])
        out.append(_directory(path, v, cfg.project.dist_dir) if kind == "directory" else PARSERS[kind](path, v))
    return PublishConfig(tuple(out))
