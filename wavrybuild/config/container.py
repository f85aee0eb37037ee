"""[channels.container]: a multi-arch OCI image of the binaries, built without a Docker daemon
(channels/container/) and pushed to a registry by `invoke publish` (publish/container.py).

Checked when targets.toml loads: the registry URL, the repository name and tags (the OCI
distribution spec's grammars), the targets (one per platform), the base image (pinned by digest,
needed by every target that is not a static musl binary) and the names of the environment
variables holding the registry credentials — never the credentials themselves.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError
from . import checks as c
from .project import Core
from .targets import TargetConfig
from .values import Checked, HttpUrl

KEYS = ("registry", "repository", "tags", "targets", "base", "user-env", "password-env", "token-env")
# The OCI distribution spec, "Pulling manifests": a repository name and a tag.
_NAME_PART = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"{_NAME_PART}(?:/{_NAME_PART})*")
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}")
# A registry host as image references spell it: a domain or IPv4 address, an optional port.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*(?::[0-9]{{1,5}})?")
MAX_NAME = 255
DEFAULT_TAGS = ("{version}",)
# The OCI platform (GOOS/GOARCH, variant) of each architecture of resources/platforms.toml.
OCI_ARCH = {"x86_64": ("amd64", None), "aarch64": ("arm64", "v8"), "i686": ("386", None), "armv7": ("arm", "v7"),
            "arm": ("arm", "v6"), "riscv64gc": ("riscv64", None), "powerpc64le": ("ppc64le", None),
            "s390x": ("s390x", None)}


class ImageName(Checked):
    """A repository name by the OCI distribution spec: lowercase path components joined by '/'."""

    expected = ("a repository name by the OCI distribution spec (lowercase letters and digits, separated by '.', "
                f"'_', '__' or '-', components joined by '/', at most {MAX_NAME} characters)")

    @classmethod
    def check(cls, value: str) -> str:
        if not NAME_RE.fullmatch(value) or len(value) > MAX_NAME:
            raise ValueError(cls.expected)
        return value


class ImageTag(Checked):
    """A tag by the OCI distribution spec: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}."""

    expected = "a tag by the OCI distribution spec (letters, digits, '_', '.', '-', not starting with '.' or '-', at most 128)"

    @classmethod
    def check(cls, value: str) -> str:
        if not TAG_RE.fullmatch(value):
            raise ValueError(cls.expected)
        return value


@dataclass(frozen=True)
class BaseImage:
    """A base image pinned by digest: `host[:port]/repository@sha256:…`."""

    host: str  # as written (docker.io stays docker.io; the client knows its API host)
    repository: ImageName
    digest: str

    def __str__(self) -> str:
        return f"{self.host}/{self.repository}@{self.digest}"


def parse_base(value: Any) -> BaseImage:
    """`registry/repository@sha256:<64 hex>`: ValueError(what is expected) for anything else (a tag
    alone is refused: a base that can move under the same name makes no reproducible image)."""
    expected = 'an image pinned by digest: "registry.example/repository@sha256:<64 hex digits>"'
    if not isinstance(value, str) or value.count("@") != 1:
        raise ValueError(expected)
    name, digest = value.split("@")
    host, _, repo = name.partition("/")
    if (not DIGEST_RE.fullmatch(digest) or not repo or not HOST_RE.fullmatch(host)
            or not ("." in host or ":" in host or host == "localhost") or not ImageName.valid(repo)):
        raise ValueError(expected)
    if host == "docker.io" and "/" not in repo:
        repo = f"library/{repo}"
    return BaseImage(host, ImageName(repo), digest)


@dataclass(frozen=True)
class ContainerConfig:
    registry: HttpUrl  # https://ghcr.io; plain http only for a registry on this machine
    repository: ImageName  # {name} filled in
    tags: tuple[ImageTag, ...]  # {version} filled in ('+' as '_')
    targets: tuple[str, ...]  # one per platform, in platform order
    base: BaseImage | None  # for the targets that are not static musl binaries
    user_env: str | None
    password_env: str | None
    token_env: str | None

    @property
    def host(self) -> str:
        """The registry as image references name it (host[:port])."""
        return urlsplit(self.registry).netloc

    def reference(self, tag: str) -> str:
        return f"{self.host}/{self.repository}:{tag}"


def platform_of(t: TargetConfig) -> tuple[str, str, str | None]:
    """(os, architecture, variant) of an OCI image for the Linux target `t`; ValueError when it has none."""
    arch = OCI_ARCH.get(t.triple.arch)
    if t.triple.os != "linux" or arch is None:
        raise ValueError(f"{t.id}: not a Linux target with an OCI platform (linux/amd64, linux/arm64, …)")
    return "linux", arch[0], arch[1]


def platform_name(t: TargetConfig) -> str:
    os_, arch, variant = platform_of(t)
    return f"{os_}/{arch}" + (f"/{variant}" if variant else "")


def _registry(where: Path, raw: Any) -> HttpUrl:
    key = "channels.container.registry"
    try:
        url = HttpUrl.parse(raw)
    except ValueError as exc:
        shown = isinstance(raw, str) and len(raw) < 200 and "@" not in raw  # never a password in a URL
        raise ConfigError(f"{where}: {key}: expected {exc}" + (f", got {raw!r}" if shown else ""),
                          hint='e.g. "https://ghcr.io"') from None
    parts = urlsplit(url)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"{where}: {key}: the registry's URL has no path, query or fragment, got {raw!r}",
                          hint='the repository goes in channels.container.repository, e.g. registry = "https://ghcr.io"')
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        raise ConfigError(f"{where}: {key}: plain http is only for a registry on this machine, got {raw!r}",
                          hint="use the registry's https:// URL: credentials and images would travel in clear")
    return HttpUrl(url.rstrip("/"))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _repository(where: Path, cfg: Core, raw: Any) -> ImageName:
    key = "channels.container.repository"
    if not isinstance(raw, str):
        raise ConfigError(f"{where}: {key}: missing or not a string", hint='e.g. repository = "owner/{name}"')
    try:
        return ImageName.parse(raw.replace("{name}", cfg.project.name))
    except ValueError as exc:
        shown = f", got {raw!r}" if len(raw) < 200 else ""
        raise ConfigError(f"{where}: {key}: expected {exc} ({{name}} filled in){shown}",
                          hint='e.g. "owner/{name}" (upper case, spaces, "..", leading or trailing separators '
                               "are refused)") from None


def _tags(where: Path, cfg: Core, raw: Any) -> tuple[ImageTag, ...]:
    key = "channels.container.tags"
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
        raise ConfigError(f"{where}: {key}: expected a non-empty list of tags", hint='e.g. tags = ["{version}", "latest"]')
    version = cfg.project.version.replace("+", "_")  # '+' (semver build metadata) is not a tag character
    out: list[ImageTag] = []
    for x in raw:
        try:
            out.append(ImageTag.parse(x.replace("{version}", version)))
        except ValueError as exc:
            shown = f", got {x!r}" if len(x) < 200 else ""
            raise ConfigError(f"{where}: {key}: expected {exc} ({{version}} filled in){shown}") from None
    return tuple(dict.fromkeys(out))


def _targets(where: Path, cfg: Core, raw: Any) -> tuple[str, ...]:
    key = "channels.container.targets"
    if raw is None:
        chosen = [t for t in cfg.targets if t.triple.os == "linux" and t.triple.arch in OCI_ARCH]
    else:
        ids = c.target_ids(where, [t.id for t in cfg.targets], key, raw)
        chosen = [t for t in cfg.targets if t.id in ids]
    seen: dict[str, TargetConfig] = {}
    for t in chosen:
        try:
            plat = platform_name(t)
        except ValueError as exc:
            raise ConfigError(f"{where}: {key}: {exc}", hint="leave it out of channels.container.targets") from None
        if plat in seen:
            raise ConfigError(f"{where}: {key}: targets {seen[plat].id} and {t.id} are both {plat}",
                              hint="list one target per platform in channels.container.targets "
                                   "(a static musl one needs no base image)")
        seen[plat] = t
    if not seen:
        raise ConfigError(f"{where}: channels.container: no Linux target to put in an image",
                          hint="add a Linux target, or list them in channels.container.targets")
    return tuple(t.id for t in seen.values())


def _env_names(where: Path, table: dict[str, Any]) -> dict[str, str | None]:
    v = c.values(where, "channels.container.", {k: x for k, x in table.items() if k.endswith("-env")},
                 {k: (c.env_name, None) for k in ("user-env", "password-env", "token-env")})
    if (v["user-env"] is None) != (v["password-env"] is None):
        raise ConfigError(f"{where}: channels.container.user-env and channels.container.password-env go together",
                          hint="name both variables (a registry login), or neither")
    if v["token-env"] is not None and v["user-env"] is not None:
        raise ConfigError(f"{where}: channels.container.token-env, or channels.container.user-env and "
                          "channels.container.password-env, not both",
                          hint="token-env: a bearer token sent as it is; user-env/password-env: a login "
                               "(basic auth, or exchanged for a token as the registry asks)")
    return v


def parse_container(cfg: Core, raw: Any) -> ContainerConfig:
    where = cfg.project.config_path
    table = c.check_table(where, "channels.container.", raw)
    c.reject_unknown(where, "channels.container.", table, KEYS)
    if "registry" not in table:
        raise ConfigError(f"{where}: channels.container.registry: missing", hint='e.g. registry = "https://ghcr.io"')
    registry = _registry(where, table["registry"])
    repository = _repository(where, cfg, table.get("repository", "{name}"))
    tags = _tags(where, cfg, table.get("tags", list(DEFAULT_TAGS)))
    targets = _targets(where, cfg, table.get("targets"))
    base = None
    if "base" in table:
        try:
            base = parse_base(table["base"])
        except ValueError as exc:
            raw_base = table["base"]
            shown = f", got {raw_base!r}" if isinstance(raw_base, str) and len(raw_base) < 300 else ""
            raise ConfigError(f"{where}: channels.container.base: expected {exc}{shown}",
                              hint="pin the base by its digest (`skopeo inspect docker://IMAGE` shows it)") from None
    dynamic = [t.id for t in cfg.targets if t.id in targets and not t.triple.is_musl]
    if dynamic and base is None:
        raise ConfigError(f"{where}: channels.container: {', '.join(dynamic)} "
                          f"{'is' if len(dynamic) == 1 else 'are'} not static (musl), and no base image is set",
                          hint='set base = "registry/image@sha256:…" (an image with its C library), or use '
                               "*-unknown-linux-musl targets, which go FROM scratch")
    env = _env_names(where, table)
    if len(f"{registry}/{repository}") > MAX_NAME + 64:
        raise ConfigError(f"{where}: channels.container: registry and repository are too long together")
    return ContainerConfig(registry, repository, tags, targets, base, env["user-env"], env["password-env"], env["token-env"])
