"""npm packages in the esbuild pattern, from the binaries already built.

One package per platform (`os`, `cpu` and, on Linux, `libc` set, so npm installs only the one that
fits) holding the binaries, and a main package whose `optionalDependencies` name all of them and
whose `bin` launchers exec the right one. Versions move in lockstep with the crate. Tarballs are
written deterministically (sorted entries, fixed times, root-owned) under npm's own file names.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..config import Config, TargetConfig, target_ids
from ..errors import ConfigError, WavryError

if TYPE_CHECKING:
    from ..manifest import Artifact

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


@dataclass(frozen=True)
class NpmConfig:
    name: str  # the main package, e.g. "@wavry/demo" or "wavry-demo"
    targets: tuple[str, ...] | None  # target ids shipped through npm; None: every target
    registry: str
    token_env: str
    access: str | None
    tag: str | None
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


def _check_keys(where: Path, table: dict[str, Any]) -> None:
    from ..triple import suggest

    for key in table:
        if key in KEYS:
            continue
        near = suggest(key, list(KEYS))
        if any(w in key for w in ("token", "password", "secret")) and key != "token-env":
            raise ConfigError(f"{where}: channels.npm.{key}: secrets never go in targets.toml",
                              hint="put the token in an env var and name it with token-env (default NPM_TOKEN)")
        raise ConfigError(f"{where}: channels.npm.{key}: unknown key" + (f"; did you mean {near!r}?" if near else ""),
                          hint="keys: " + ", ".join(KEYS))


def parse_npm_config(cfg: Config) -> NpmConfig:
    where = cfg.project.config_path
    table: Any = cfg.raw["channels"]["npm"]
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: channels.npm: expected a table")
    _check_keys(where, table)

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
        targets = target_ids(cfg, "channels.npm.targets", targets)
    registry = text("registry", DEFAULT_REGISTRY)
    assert registry is not None
    if not re.match(r"https?://[^/\s]+", registry):
        raise ConfigError(f"{where}: channels.npm.registry: {registry!r} is not an http(s) URL")
    token_env = text("token-env", "NPM_TOKEN")
    assert token_env is not None
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", token_env):
        # Not echoed: what is there may be the token itself, pasted instead of its variable's name.
        raise ConfigError(f"{where}: channels.npm.token-env: not an environment variable name",
                          hint="name the variable that holds the token (e.g. NPM_TOKEN), never the token")
    access = text("access", None)
    if access is not None and access not in ACCESS:
        raise ConfigError(f"{where}: channels.npm.access: {access!r}: expected one of {', '.join(ACCESS)}")
    publish = table.get("publish", True)
    if not isinstance(publish, bool):
        raise ConfigError(f"{where}: channels.npm.publish: expected true or false, got {publish!r}")
    nc = NpmConfig(name, targets, registry.rstrip("/") + "/", token_env, access, text("tag", None), publish)
    platforms(cfg, nc)  # two targets for one npm platform are refused at load time too
    return nc


def platforms(cfg: Config, nc: NpmConfig) -> list[NpmPlatform]:
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


# --- package contents ----------------------------------------------------------------------------

LAUNCHER = """#!/usr/bin/env node
// Generated by wavrybuild: runs {bin} from the platform package npm installed for this machine.
"use strict";
const {{ spawnSync }} = require("child_process");
const PACKAGES = {packages};
function libc() {{
  if (process.platform !== "linux") return null;
  try {{
    return process.report.getReport().header.glibcVersionRuntime ? "glibc" : "musl";
  }} catch (e) {{
    return "glibc";
  }}
}}
function fail(message) {{
  process.stderr.write("{main}: " + message + "\\n");
  process.exit(1);
}}
const key = [process.platform, process.arch, libc()].filter(Boolean).join("-");
const pkg = PACKAGES[key];
if (!pkg) {{
  fail("no prebuilt {bin} for this platform (" + key + "); published for: " + Object.keys(PACKAGES).join(", "));
}}
let exe;
try {{
  exe = require.resolve(pkg + "/bin/{bin}" + (process.platform === "win32" ? ".exe" : ""));
}} catch (e) {{
  fail("the package " + pkg + " for this platform (" + key + ") is not installed; " +
       "reinstall without --omit=optional, --cpu, --os or --libc");
}}
const r = spawnSync(exe, process.argv.slice(2), {{ stdio: "inherit" }});
if (r.error) fail("cannot run " + exe + ": " + r.error.message);
if (r.signal) process.kill(process.pid, r.signal);
process.exit(r.status === null ? 1 : r.status);
"""


def _common(cfg: Config) -> dict[str, Any]:
    p = cfg.project
    meta: dict[str, Any] = {"version": p.version}
    if p.description:
        meta["description"] = p.description
    if p.license:
        meta["license"] = p.license
    if p.homepage:
        meta["homepage"] = p.homepage
    if p.repository:
        meta["repository"] = {"type": "git", "url": p.repository}
    return meta


def _package_json(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2) + "\n").encode()


def platform_files(cfg: Config, nc: NpmConfig, p: NpmPlatform, binaries: list[Path]) -> tuple[str, dict[str, tuple[bytes, int]]]:
    """(package name, {path in the package: (bytes, mode)}) for one platform package."""
    name = platform_package(nc.name, p)
    data = {"name": name, **_common(cfg), "os": [p.os], "cpu": [p.cpu]}
    if p.libc:
        data["libc"] = [p.libc]
    data["preferUnplugged"] = True  # Yarn PnP: binaries must be on disk to be executed
    files = {"package.json": (_package_json(data), 0o644)}
    for b in binaries:
        files[f"bin/{b.name}"] = (b.read_bytes(), 0o755)
    return name, files


def main_files(cfg: Config, nc: NpmConfig) -> tuple[str, dict[str, tuple[bytes, int]]]:
    plats = platforms(cfg, nc)
    packages = {p.key: platform_package(nc.name, p) for p in plats}
    data = {
        "name": nc.name, **_common(cfg),
        "bin": {b: f"bin/{b}.js" for b in cfg.project.binaries},
        "optionalDependencies": {name: cfg.project.version for name in packages.values()},
        "engines": {"node": ">=14"},
    }
    files = {"package.json": (_package_json(data), 0o644)}
    for b in cfg.project.binaries:
        script = LAUNCHER.format(bin=b, main=nc.name, packages=json.dumps(packages, indent=2, sort_keys=True))
        files[f"bin/{b}.js"] = (script.encode(), 0o755)
    return nc.name, files


def write_tarball(out: BinaryIO, files: dict[str, tuple[bytes, int]]) -> None:
    """An npm tarball: everything under package/, deterministic like `npm pack`'s."""
    with (gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as gz,
          tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar):
            for path in sorted(files):
                data, mode = files[path]
                info = tarfile.TarInfo(f"package/{path}")
                info.size, info.mode, info.mtime = len(data), mode, NPM_MTIME
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(data))


def read_package_json(tgz: Path) -> dict[str, Any]:
    with tarfile.open(tgz, "r:gz") as tar:
        member = tar.extractfile("package/package.json")
        if member is None:
            raise WavryError(f"{tgz}: no package/package.json")
        data: dict[str, Any] = json.load(member)
        return data


# --- publishing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NpmTarball:
    path: Path
    name: str
    version: str
    integrity: str  # sha512-<base64>, as the registry reports it as dist.integrity


def tarballs(dist: Path, artifacts: Iterable[Artifact]) -> list[NpmTarball]:
    """The npm tarballs of the manifest: platform packages first, the main package last, so that
    nobody can install a main package whose optional dependencies are not there yet."""
    import base64
    import hashlib

    out = []
    for a in sorted((a for a in artifacts if a.kind == "npm"), key=lambda a: (a.target == "", a.path)):
        path = dist / a.path
        if not path.is_file():
            raise WavryError(f"{path}: listed in manifest.json but missing", hint="run `invoke npm` again")
        data = read_package_json(path)
        integrity = "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()
        out.append(NpmTarball(path, data["name"], data["version"], integrity))
    return out


def _auth_key(registry: str) -> str:
    # npm keys credentials by the registry URL without its scheme: //host[:port]/path/:_authToken
    return "//" + registry.split("://", 1)[1] + ":_authToken"


def dist_tag(nc: NpmConfig, version: str) -> str | None:
    # npm refuses to publish a prerelease under `latest` unless told which tag to use.
    return nc.tag or ("next" if "-" in version.split("+")[0] else None)


def publish_npm(nc: NpmConfig, dist: Path, artifacts: Iterable[Artifact], *, dry: bool, log: Callable[[str], None],
                tmp: Path) -> list[tuple[str, str, str]]:
    """Publish the tarballs that the registry does not have yet. Returns (file, action, detail) rows.

    The token reaches npm through the environment: the userconfig written here says
    `${TOKEN_ENV}`, which npm expands itself, so the token is in no file and on no command line.
    """
    import os

    from .. import proc
    from ..errors import CommandFailed
    from ..ui import mask_for_ci

    items = tarballs(dist, artifacts)
    if not items:
        raise WavryError(f"{dist}: no npm packages in manifest.json", hint="run `invoke npm` (or `invoke release`) first")
    rows: list[tuple[str, str, str]] = []
    if dry:
        for it in items:
            rows.append((it.path.name, "would publish", f"{it.name}@{it.version} → {nc.registry}"))
            log(f"(dry) npm publish {it.path.name} --registry {nc.registry}")
        return rows
    token = os.environ.get(nc.token_env)
    if not token:
        raise ConfigError(f"channels.npm: the env var {nc.token_env} (the npm token) is not set",
                          hint="export it, or name another variable with channels.npm.token-env")
    mask_for_ci([token])
    tmp.mkdir(parents=True, exist_ok=True)
    npmrc = tmp / f"npmrc.{os.getpid()}"
    npmrc.write_text(f"registry={nc.registry}\n{_auth_key(nc.registry)}=${{{nc.token_env}}}\n")
    base = ("--registry", nc.registry, "--userconfig", str(npmrc))
    try:
        for it in items:
            spec = f"{it.name}@{it.version}"
            view = proc.run(proc.Command(("npm", "view", spec, "dist.integrity", "--json", *base)),
                            check=False, secrets=(token,))
            have = view.stdout.strip()
            if view.returncode == 0 and have:
                if json.loads(have) != it.integrity:
                    raise WavryError(f"npm: {spec} is already on {nc.registry} with other contents",
                                     hint="npm never replaces a published version: release a new version")
                rows.append((it.path.name, "skipped", f"{spec} already published"))
                log(f"npm: {spec} already published")
                continue
            if view.returncode != 0 and "E404" not in view.stderr_tail and "404" not in view.stderr_tail:
                raise WavryError(f"npm: cannot ask {nc.registry} about {spec}: {view.stderr_tail[-500:]}")
            argv = ["npm", "publish", str(it.path), *base]
            if nc.access:
                argv += ["--access", nc.access]
            tag = dist_tag(nc, it.version)
            if tag:
                argv += ["--tag", tag]
            log("$ " + " ".join(argv))
            try:
                proc.run(proc.Command(tuple(argv)), secrets=(token,))
            except CommandFailed as exc:
                raise WavryError(f"npm: publishing {spec} to {nc.registry} failed: {exc.stderr_tail[-800:]}",
                                 hint="the rerun skips what was published") from None
            rows.append((it.path.name, "published", f"{spec} → {nc.registry}"))
    finally:
        npmrc.unlink(missing_ok=True)
    return rows
