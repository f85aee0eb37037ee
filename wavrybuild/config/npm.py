"""[channels.npm]: the npm package names, registry and platforms, checked when targets.toml loads."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from . import checks as c
from .project import Core
from .targets import TargetConfig
from .values import Checked, Component, HttpUrl

DEFAULT_REGISTRY = "https://registry.npmjs.org/"
ACCESS = ("public", "restricted")
KEYS = ("name", "targets", "registry", "token-env", "access", "tag", "publish")
# npm pack's own fixed time (1985-10-26T08:15:00Z): tarballs do not depend on when they were made.
NPM_MTIME = 499162500
# The names validate-npm-package-name refuses besides its pattern, and Node's core modules, which
# a package cannot shadow.
RESERVED = {"node_modules", "favicon.ico"}
NODE_BUILTINS = {
    "assert", "async_hooks", "buffer", "child_process", "cluster", "console", "constants", "crypto",
    "dgram", "diagnostics_channel", "dns", "domain", "events", "fs", "http", "http2", "https",
    "inspector", "module", "net", "os", "path", "perf_hooks", "process", "punycode", "querystring",
    "readline", "repl", "stream", "string_decoder", "sys", "timers", "tls", "trace_events", "tty",
    "url", "util", "v8", "vm", "wasi", "worker_threads", "zlib",
}
NAME_RE = re.compile(r"(?:@([a-z0-9~-][a-z0-9._~-]*)/)?([a-z0-9._~-]+)")
# semver.org's own grammar (2.0.0): the versions the npm registry accepts.
SEMVER_RE = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?")
NPM_OS = {"linux": "linux", "macos": "darwin", "windows": "win32", "freebsd": "freebsd"}


class NpmName(Checked):
    """An npm package name ("tool" or "@scope/tool"): npm's own rules (npm_name_problem), so at
    most one '/', after an @scope, and never '.' or '..' as either part."""

    expected = "a valid npm package name (lowercase letters, digits, '-', '.', '_', '~', one optional @scope/)"

    @classmethod
    def check(cls, value: str) -> str:
        problem = npm_name_problem(value)
        if problem:
            raise ValueError(f"{cls.expected}: {problem}")
        return value


@dataclass(frozen=True)
class NpmConfig:
    name: NpmName  # the main package, e.g. "@wavry/demo" or "wavry-demo"
    targets: tuple[str, ...] | None  # target ids shipped through npm; None: every target
    registry: HttpUrl
    token_env: str
    access: str | None
    tag: Component | None  # a dist-tag: a path segment of the registry's API
    publish: bool = True  # false: write the packages to dist/ only


@dataclass(frozen=True)
class NpmPlatform:
    target: TargetConfig
    os: str
    cpu: str
    libc: str | None

    @property
    def key(self) -> str:
        return "-".join(p for p in (self.os, self.cpu, self.libc) if p)


def npm_name_problem(name: str) -> str | None:
    """Why npm would refuse this package name, or None."""
    if len(name) > 214:
        return "longer than 214 characters"
    if name != name.strip():
        return "leading or trailing spaces"
    if name.lower() != name:
        return "capital letters (npm names are lowercase)"
    m = NAME_RE.fullmatch(name)
    if not m:
        return "characters npm does not allow (lowercase letters, digits, '-', '.', '_', '~', one optional @scope/)"
    bare = m.group(2)
    if bare.startswith((".", "_")):
        return "starts with '.' or '_'"
    if bare in RESERVED or (not m.group(1) and bare in NODE_BUILTINS):
        return "a reserved name" if bare in RESERVED else "the name of a Node.js core module"
    return None


def check_semver(version: str, where: object) -> str:
    if not SEMVER_RE.fullmatch(version):
        raise ConfigError(f"{where}: channels.npm: crate version {version!r} is not semver, which npm requires",
                          hint="use MAJOR.MINOR.PATCH with an optional -prerelease")
    return version


def platform_of(t: TargetConfig) -> NpmPlatform:
    tr = t.triple
    os_ = NPM_OS.get(tr.os)
    cpu = tr.arch_info.get("npm")
    if not os_ or not cpu:
        raise ConfigError(f"{t.id}: npm has no platform name for {tr}",
                          hint="leave this target out of channels.npm.targets")
    libc = ("musl" if tr.is_musl else "glibc") if tr.os == "linux" else None
    return NpmPlatform(t, os_, cpu, libc)


def platform_package(main: str, p: NpmPlatform) -> str:
    # linux-x64-gnu / linux-x64-musl / darwin-arm64 / win32-x64: the napi-rs spelling.
    suffix = f"{p.os}-{p.cpu}" + ({"glibc": "-gnu", "musl": "-musl"}[p.libc] if p.libc else "")
    return f"{main}-{suffix}"


def tarball_name(package: str, version: str) -> str:
    """npm pack's file name: @scope/name → scope-name-<version>.tgz."""
    return f"{package.lstrip('@').replace('/', '-')}-{version}.tgz"


def parse_npm(cfg: Core, raw: Any) -> NpmConfig:
    where = cfg.project.config_path
    table = c.check_table(where, "channels.npm.", raw)
    c.reject_unknown(where, "channels.npm.", table, KEYS)

    def text(key: str, default: str | None) -> str | None:
        v = table.get(key, default)
        if v is not None and (not isinstance(v, str) or not v):
            raise ConfigError(f"{where}: channels.npm.{key}: expected a non-empty string, got {v!r}")
        return v

    name = text("name", cfg.project.name)
    assert name is not None
    problem = npm_name_problem(name)
    if problem:
        raise ConfigError(f"{where}: channels.npm.name: {name!r} is not a valid npm package name: {problem}",
                          hint='e.g. name = "@your-scope/tool" or name = "tool-cli"')
    check_semver(cfg.project.version, where)
    targets = table.get("targets")
    if targets is not None:
        targets = c.target_ids(where, [t.id for t in cfg.targets], "channels.npm.targets", targets)
    registry = text("registry", DEFAULT_REGISTRY)
    assert registry is not None
    try:
        url = c.url(())(registry)
    except ValueError:
        # Not echoed: it may carry credentials.
        raise ConfigError(f"{where}: channels.npm.registry: not an http(s) URL (one line, without credentials)",
                          hint="without credentials: name the token's variable with token-env") from None
    token_env = text("token-env", "NPM_TOKEN")
    assert token_env is not None
    if not c.ENV_NAME.fullmatch(token_env):
        # Not echoed: what is there may be the token itself, pasted instead of its variable's name.
        raise ConfigError(f"{where}: channels.npm.token-env: not an environment variable name",
                          hint="name the variable that holds the token (e.g. NPM_TOKEN), never the token")
    access = text("access", None)
    if access is not None and access not in ACCESS:
        raise ConfigError(f"{where}: channels.npm.access: {access!r}: expected one of {', '.join(ACCESS)}")
    publish = table.get("publish", True)
    if not isinstance(publish, bool):
        raise ConfigError(f"{where}: channels.npm.publish: expected true or false, got {publish!r}")
    tag = text("tag", None)
    try:
        dist_tag = Component.parse(tag) if tag is not None else None
    except ValueError as exc:
        raise ConfigError(f"{where}: channels.npm.tag: expected {exc}, got {tag!r}") from None
    nc = NpmConfig(NpmName.parse(name), targets, HttpUrl(url + "/"), token_env, access, dist_tag, publish)
    platforms(cfg, nc)  # two targets for one npm platform are refused at load time too
    return nc


def platforms(cfg: Core, nc: NpmConfig) -> list[NpmPlatform]:
    """The platforms shipped through npm, one target each, in targets.toml order."""
    chosen = [t for t in cfg.targets if nc.targets is None or t.id in nc.targets]
    seen: dict[str, NpmPlatform] = {}
    for t in chosen:
        p = platform_of(t)
        name = platform_package(nc.name, p)
        problem = npm_name_problem(name)
        if problem:
            raise ConfigError(f"{cfg.project.config_path}: channels.npm.name: platform package {name!r} is not a "
                              f"valid npm name: {problem}", hint="choose a shorter main package name")
        if p.key in seen:
            raise ConfigError(
                f"{cfg.project.config_path}: channels.npm: targets {seen[p.key].target.id} and {t.id} are both "
                f"npm platform {p.key}", hint="list the one npm should ship in channels.npm.targets")
        seen[p.key] = p
    return list(seen.values())


