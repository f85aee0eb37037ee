"""[project] and [cache]: which crate, package and binaries are released, and where to."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from ..env import DEFAULT_POLICY, SecretPolicy, Settings
from ..env import WELL_KNOWN_SECRETS as WELL_KNOWN_SECRETS  # re-exported by config
from ..errors import ConfigError, suggest
from . import checks as c
from .targets import TargetConfig
from .values import Component, Line, RustRelease

PROJECT_KEYS = {"crate", "package", "packages", "binaries", "dist", "name", "pass-env", "rustc"}
CACHE_KEYS = ("sccache",)
Metadata = Callable[[Path], dict[str, Any]]


@dataclass(frozen=True)
class CratePackage:
    """One cargo package being released, with its binaries and Cargo.toml metadata."""

    name: Component
    version: Component
    binaries: tuple[Component, ...]
    manifest_path: Path
    description: str = ""
    license: Line | None = None
    homepage: Line | None = None
    repository: Line | None = None
    authors: tuple[Line, ...] = ()
    readme: Path | None = None  # Cargo.toml's readme, resolved inside the crate dir or workspace root
    license_file: Path | None = None  # Cargo.toml's license-file, confined the same way


@dataclass(frozen=True)
class Bundle:
    """What one artifact per target carries ([package] group): one package's binaries, or every
    binary of the release. `name` and `version` name its files (<name>-<version>-<target>…)."""

    name: Component
    version: Component
    binaries: tuple[Component, ...]
    packages: tuple[Component, ...]  # the cargo packages whose binaries it holds


@dataclass(frozen=True)
class Project:
    """The release. With several packages, `name`, `version` and the metadata are the first
    listed package's (the release's own name and version: tags, manifest, platform archives),
    `binaries` is every package's, and `manifest_path` is the Cargo.toml project.crate names."""

    config_path: Path
    root: Path
    manifest_path: Path
    workspace_root: Path
    target_directory: Path
    name: Component  # [project] name, else the first package's: names the release's files
    binaries: tuple[Component, ...]
    dist_dir: Path
    # The package whose name, version and Cargo.toml metadata the channels' package formats read
    # (npm, PyPI, deb, rpm): the first listed one, or in a bundle's `view`, that bundle's.
    metadata: CratePackage
    # [cache] sccache: None (off), "local" (sccache's own local cache) or a redis:// endpoint.
    sccache: Line | None = None
    # Which variables hold credentials (every *-env name, the defaults, CI tokens, secret-looking
    # names) and which of them [project] pass-env lets children inherit. config.load makes it the
    # process's policy (env.guard): no child (cargo, build scripts, smoke runs, [[artifacts]]) sees them.
    secrets: SecretPolicy = DEFAULT_POLICY
    # The directory inside cargo's target dir that a target builds in (build/plan.py build_dir_name:
    # fixed by the target's builder, std and toolchain, never by the other targets of a run); None:
    # cargo's target dir itself.
    build_dir_name: Component | None = None
    # Every released package (one for a single crate); see `bundles` for how artifacts group them.
    packages: tuple[CratePackage, ...] = ()
    # The workspace has several binary packages and targets.toml chose none: all are released.
    all_packages_by_default: bool = False
    # [project] rustc: every target is built by a toolchain of this release, or none is built
    # (toolchain/versions.py); it wins over rust-toolchain.toml.
    rustc: RustRelease | None = None

    # Read through `metadata`: each of these lives once, in its CratePackage.
    @property
    def package(self) -> Component:
        return self.metadata.name

    @property
    def version(self) -> Component:
        return self.metadata.version

    @property
    def description(self) -> str:
        return self.metadata.description

    @property
    def license(self) -> Line | None:
        return self.metadata.license

    @property
    def homepage(self) -> Line | None:
        return self.metadata.homepage

    @property
    def repository(self) -> Line | None:
        return self.metadata.repository

    @property
    def authors(self) -> tuple[Line, ...]:
        return self.metadata.authors

    @property
    def readme(self) -> Path | None:
        """Cargo.toml's `readme`, absolute."""
        return self.metadata.readme

    @property
    def title(self) -> str:
        """What a summary calls the release: "demo 1.2.3", or "cli 0.3.0, mcp 0.4.1"."""
        if len(self.packages) > 1:
            return ", ".join(f"{p.name} {p.version}" for p in self.packages)
        return f"{self.name} {self.version}"

    def package_of(self, binary: str) -> CratePackage:
        for p in self.packages:
            if binary in p.binaries:
                return p
        raise KeyError(binary)

    def bundles(self, group: str) -> tuple[Bundle, ...]:
        """The artifact sets per target: one per package (group "package"), or one holding every
        binary (group "platform", and always with one package: then both are the same)."""
        if group == "platform" or len(self.packages) <= 1:
            return (Bundle(self.name, self.version, self.binaries, tuple(p.name for p in self.packages)),)
        return tuple(Bundle(p.name, p.version, p.binaries, (p.name,)) for p in self.packages)

    def view(self, bundle: Bundle) -> Project:
        """This project as one bundle's channels see it: its name, version, binaries and (for one
        package) that package's metadata."""
        if bundle.binaries == self.binaries and bundle.name == self.name:
            return self
        pkg = next(p for p in self.packages if p.name == bundle.packages[0])
        # A bundle of one package is named and versioned as that package (Project.bundles).
        return replace(self, name=bundle.name, binaries=bundle.binaries, metadata=pkg)

    @property
    def build_dir(self) -> Path:
        """The target dir cargo is given (see build_dir_name)."""
        return self.target_directory / "wavrybuild" / self.build_dir_name if self.build_dir_name else self.target_directory


class Core(Protocol):
    """What the section parsers need of the config being loaded: the project and the targets."""

    @property
    def project(self) -> Project: ...

    @property
    def targets(self) -> tuple[TargetConfig, ...]: ...


def _crate_manifest(path: Path, table: dict[str, Any]) -> Path:
    crate_rel = table.get("crate", ".")
    if not isinstance(crate_rel, str):
        raise ConfigError(f"{path}: project.crate: expected a path string, got {crate_rel!r}")
    crate_dir = c.local_path(path, "project.crate", crate_rel)
    manifest = crate_dir / "Cargo.toml" if c.is_dir(crate_dir) else crate_dir
    if not c.is_file(manifest):
        raise ConfigError(
            f"{path}: project.crate: no Cargo.toml at {crate_dir}",
            hint="set project.crate to the directory holding the crate's Cargo.toml (relative to targets.toml)",
        )
    return manifest


def _named_packages(path: Path, manifest: Path, packages: list[dict[str, Any]], key: str,
                    wanted: list[str]) -> list[dict[str, Any]]:
    by_name = {p["name"]: p for p in packages}
    out = []
    for want in wanted:
        if want not in by_name:
            near = suggest(want, list(by_name))
            raise ConfigError(
                f"{path}: project.{key}: no package {want!r} in {manifest}"
                + (f"; did you mean {near!r}?" if near else ""),
                hint="packages: " + ", ".join(by_name),
            )
        if by_name[want] in out:
            raise ConfigError(f"{path}: project.{key}: {want!r} is listed twice")
        out.append(by_name[want])
    return out


def _packages_of(path: Path, manifest: Path, packages: list[dict[str, Any]],
                 table: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The packages to release (project.package or project.packages, else the manifest's own
    package, else every package of the workspace with binaries), and whether none was chosen."""
    one, several = table.get("package"), table.get("packages")
    if isinstance(one, list):
        raise ConfigError(f"{path}: project.package: expected a string, got a list",
                          hint=f"to release several packages, say packages = {json.dumps(one)}")
    if one is not None and several is not None:
        raise ConfigError(f"{path}: project: both package and packages are set",
                          hint="keep one: package = \"name\" or packages = [\"a\", \"b\"]")
    if one is not None:
        if not isinstance(one, str) or not one:
            raise ConfigError(f"{path}: project.package: expected a package name string, got {one!r}")
        return _named_packages(path, manifest, packages, "package", [one]), False
    if several is not None:
        try:
            names = list(c.str_list(several))
        except ValueError as exc:
            raise ConfigError(f"{path}: project.packages: expected {exc}, got {several!r}") from None
        if not names:
            raise ConfigError(f"{path}: project.packages: the list is empty",
                              hint="name at least one package, or remove the key")
        return _named_packages(path, manifest, packages, "packages", names), False
    own = [p for p in packages if Path(p["manifest_path"]).resolve() == manifest.resolve()]
    if own:
        return own[:1], False
    with_bins = [p for p in packages if any("bin" in t["kind"] for t in p["targets"])]
    if not with_bins:
        raise ConfigError(f"{path}: project: no package of {manifest} has a binary target",
                          hint="wavrybuild releases binaries: add a [[bin]] or src/main.rs")
    return with_bins, len(with_bins) > 1


def _bins_of(pkg: dict[str, Any]) -> list[Component]:
    bins = [t["name"] for t in pkg["targets"] if "bin" in t["kind"]]
    for b in bins:
        # Binary names become file names in dist/ and in every package format.
        if not isinstance(b, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", b) or ".." in b or len(b) > 128:
            raise ConfigError(f"{pkg['manifest_path']}: binary name {b!r} is not a safe file name",
                              hint="rename the [[bin]] (letters, digits, . _ + -)")
    return [Component.parse(b) for b in bins]


def _binaries_of(path: Path, pkgs: list[dict[str, Any]], wanted_bins: Any) -> list[tuple[Component, ...]]:
    """Each package's released binaries (project.binaries picks among all of them)."""
    owner: dict[str, str] = {}
    per_pkg = []
    for pkg in pkgs:
        bins = _bins_of(pkg)
        if not bins:
            raise ConfigError(f"{path}: project: package {pkg['name']!r} has no binary targets",
                              hint="release only packages with a [[bin]] (project.packages)")
        for b in bins:
            if b in owner:
                # Both would be staged (and archived, packaged) under one file name.
                raise ConfigError(f"{path}: project: packages {owner[b]!r} and {pkg['name']!r} both have a "
                                  f"binary named {b!r}", hint="rename one [[bin]], or release one of the packages")
            owner[b] = pkg["name"]
        per_pkg.append(bins)
    if wanted_bins is None:
        return [tuple(b) for b in per_pkg]
    try:
        binaries = c.str_list(wanted_bins)
    except ValueError as exc:
        raise ConfigError(f"{path}: project.binaries: expected {exc}, got {wanted_bins!r}") from None
    if not binaries:
        raise ConfigError(f"{path}: project.binaries: the list is empty", hint="name at least one binary, or remove the key")
    for want in binaries:
        if want not in owner:
            near = suggest(want, list(owner))
            what = f"package {pkgs[0]['name']!r} has" if len(pkgs) == 1 else "no released package has"
            raise ConfigError(
                f"{path}: project.binaries: {what} no binary {want!r}" + (f"; did you mean {near!r}?" if near else ""),
                hint="binaries: " + ", ".join(owner),
            )
    chosen = [tuple(Component.parse(b) for b in binaries if owner[b] == pkg["name"]) for pkg in pkgs]
    for pkg, picked in zip(pkgs, chosen, strict=True):
        if not picked:
            raise ConfigError(f"{path}: project.binaries: names no binary of package {pkg['name']!r}",
                              hint="list one of " + ", ".join(_bins_of(pkg)) + ", or leave the package out of project.packages")
    return chosen


def _meta(pkg: dict[str, Any], key: str, check: Callable[[Any], Any]) -> Any:
    """One value of Cargo.toml's [package] as cargo reports it, through the boundary: these go
    into .deb control files, RPM headers, wheel METADATA and file names."""
    value = pkg.get(key)
    try:
        return check(value)
    except ValueError as exc:
        raise ConfigError(f"{pkg.get('manifest_path')}: package.{key}: expected {exc}",
                          hint="fix Cargo.toml's [package] (these values go into package formats)") from None


def _description(v: Any) -> str:
    """Cargo.toml's description: free text that may span lines (nfpm folds them into the .deb
    Description), so only '\n' breaks a line — each line must be a Line (no CR, NUL, U+2028…)."""
    text = (c.str_value(v) if v else "").strip()
    for line in text.split("\n"):
        try:
            Line.parse(line.replace("\t", " "))
        except ValueError as exc:
            raise ValueError("text whose only line break is '\\n' " + str(exc).split(";", 1)[-1]) from None
    return text


def _crate_file(pkg: dict[str, Any], key: str, workspace_root: Path | None) -> Path | None:
    """Cargo.toml's `readme` or `license-file`: a file name from the crate, untrusted. Resolved
    (links followed) and confined to the crate's directory or its workspace root, as every
    package format copies it; a name reaching elsewhere (`../../etc/passwd`) is a ConfigError."""
    value = pkg.get(key.replace("-", "_"), pkg.get(key))
    if value is None or value is False or value == "":
        return None
    manifest = Path(pkg["manifest_path"])
    where = f"{manifest}: package.{key}"
    try:
        text = c.path_text(value)
        path = (manifest.parent / text).resolve()
    except ValueError as exc:
        raise ConfigError(f"{where}: expected {exc}", hint="fix Cargo.toml's [package]") from None
    except (OSError, RuntimeError) as exc:
        raise ConfigError(f"{where}: cannot be resolved ({exc.__class__.__name__})") from None
    roots = [manifest.parent] + ([workspace_root] if workspace_root else [])
    for root in roots:
        if path.is_relative_to(root.resolve()):
            # Under the root as cargo names it (not through its links): relative paths to it stay short.
            return root / path.relative_to(root.resolve())
    raise ConfigError(f"{where}: {str(text)[:200]!r} is outside the crate directory"
                      + (" and the workspace root" if workspace_root else ""),
                      hint="name a file inside the crate (its text is copied into every package)")


def _crate_package(pkg: dict[str, Any], binaries: tuple[Component, ...],
                   workspace_root: Path | None = None) -> CratePackage:
    return CratePackage(
        name=_meta(pkg, "name", Component.parse), version=_meta(pkg, "version", Component.parse), binaries=binaries,
        manifest_path=Path(pkg["manifest_path"]),
        description=_meta(pkg, "description", _description),
        license=_meta(pkg, "license", lambda v: Line.parse(v) if v else None),
        homepage=_meta(pkg, "homepage", lambda v: Line.parse(v) if v else None),
        repository=_meta(pkg, "repository", lambda v: Line.parse(v) if v else None),
        authors=_meta(pkg, "authors", lambda v: c.line_list(v or [])),
        readme=_crate_file(pkg, "readme", workspace_root),
        license_file=_crate_file(pkg, "license-file", workspace_root),
    )


def _dist_dir(path: Path, root: Path, dist: Any) -> Path:
    """project.dist: a directory of its own — never the project, a directory holding it, or .git
    (dist/ is cleaned and rewritten; a wrong value would take the checkout with it)."""
    if not isinstance(dist, str) or not dist:
        raise ConfigError(f"{path}: project.dist: expected a directory path string, got {dist!r}")
    out = c.local_path(path, "project.dist", dist)
    real_root = root.resolve()
    if real_root.is_relative_to(out.resolve()) or ".git" in out.resolve().parts:
        raise ConfigError(f"{path}: project.dist: {dist!r} is the project, holds it, or is inside .git",
                          hint='use a directory of its own, e.g. dist = "dist"')
    return out


def dist_dir(path: Path, raw: Any) -> Path:
    """[project] dist alone, checked as parse_project checks it: the release job reads the crate's
    record from dist/ before it knows the crate (ci/recorded.py)."""
    table = c.check_table(path, "project.", raw if raw is not None else {})
    return _dist_dir(path, path.parent, table.get("dist", "dist"))


def parse_project(path: Path, raw: Any, metadata: Metadata) -> Project:
    table = c.check_table(path, "project.", raw if raw is not None else {})
    c.reject_unknown(path, "project.", table, PROJECT_KEYS)
    root = path.parent
    manifest = _crate_manifest(path, table)
    meta = metadata(manifest)
    pkgs, by_default = _packages_of(path, manifest, meta["packages"], table)
    workspace = Path(meta["workspace_root"])
    released = [_crate_package(p, bins, workspace) for p, bins in zip(pkgs, _binaries_of(path, pkgs, table.get("binaries")),
                                                                      strict=True)]
    first = released[0]
    dist_dir = _dist_dir(path, root, table.get("dist", "dist"))
    name = table.get("name", first.name)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) or len(name) > 128:
        raise ConfigError(f"{path}: project.name: {name!r} is not a usable artifact name (letters, digits, . _ -)")
    return Project(
        config_path=path,
        root=root,
        # With several packages cargo is pointed at the manifest project.crate names, and include
        # globs, pins and SOURCE_DATE_EPOCH are relative to its directory.
        manifest_path=first.manifest_path if len(released) == 1 else manifest,
        workspace_root=Path(meta["workspace_root"]),
        target_directory=Path(meta["target_directory"]),
        name=Component.parse(name),
        binaries=tuple(b for p in released for b in p.binaries),
        dist_dir=dist_dir,
        metadata=first,
        packages=tuple(released),
        all_packages_by_default=by_default,
        rustc=_rustc_release(path, table.get("rustc")),
    )


def _rustc_release(path: Path, value: Any) -> RustRelease | None:
    if value is None:
        return None
    try:
        return RustRelease.parse(value)
    except ValueError as exc:
        got = repr(value)[:80] if isinstance(value, str) else f"a {type(value).__name__}"
        raise ConfigError(f"{path}: project.rustc: expected {exc}, not {got}",
                          hint='the release every target is built with, e.g. rustc = "1.96.0"; or remove the key') from None


def secret_policy(path: Path, data: Mapping[str, Any], settings: Settings) -> SecretPolicy:
    """What children never inherit: every variable this config names (targets.toml's `*-env` keys,
    WAVRYBUILD_<METHOD>_*_ENV overrides) on top of env.SecretPolicy's defaults and patterns, save
    the names `[project] pass-env` lists."""
    named = named_env(data) | {v for (_, key), v in settings.sign.items() if key.endswith("-env")}
    policy = SecretPolicy(named=frozenset(named))
    return SecretPolicy(named=policy.named, passed=_pass_env(path, data.get("project"), policy))


def _pass_env(path: Path, table: Any, policy: SecretPolicy) -> frozenset[str]:
    """[project] pass-env: secrets a build genuinely needs (a private registry's token); names only."""
    raw = table.get("pass-env", []) if isinstance(table, dict) else []
    where = f"{path}: project.pass-env"
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: expected a list of environment variable names",
                          hint='e.g. pass-env = ["CARGO_REGISTRIES_MINE_TOKEN"]')
    for i, name in enumerate(raw):
        try:
            c.env_name(name)
        except ValueError as exc:
            # The value is not repeated: it may be the token pasted in place of its name.
            raise ConfigError(f"{where}[{i}]: expected {exc}",
                              hint="list the variables' names; their values stay in the environment") from None
        if not policy.is_secret(name):
            raise ConfigError(f"{where}: {name} is not withheld from builds, so there is nothing to pass",
                              hint="pass-env lists secrets (names with TOKEN, PASSWORD, SECRET…, or named by a "
                                   "*-env key) that build scripts, smoke runs or [[artifacts]] commands need")
    return frozenset(raw)


def named_env(data: Any) -> frozenset[str]:
    """Every variable a `*-env` key of targets.toml names (passphrases, tokens, passwords)."""
    names: set[str] = set()
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(k, str) and k.endswith("-env") and isinstance(v, str):
                    names.add(v)
                elif isinstance(v, dict | list):
                    stack.append(v)
        elif isinstance(node, list):
            stack.extend(x for x in node if isinstance(x, dict | list))
    return frozenset(names)


def parse_cache(path: Path, raw: Any, settings: Settings) -> Line | None:
    """[cache] sccache = true | "redis://host:port" (env WAVRYBUILD_SCCACHE overrides: 0, 1 or a URL)."""
    table = c.check_table(path, "cache.", raw)
    c.reject_unknown(path, "cache.", table, CACHE_KEYS)
    value: Any = table.get("sccache", False)
    where = f"{path}: cache.sccache"
    env = settings.sccache
    if env is not None:
        value, where = {"0": False, "1": True, "": False}.get(env, env), "WAVRYBUILD_SCCACHE"
    if value is False:
        return None
    if value is True:
        value, where = settings.sccache_redis or "local", "SCCACHE_REDIS_ENDPOINT"
        if value == "local":
            return Line(value)
    if isinstance(value, str) and re.fullmatch(r"rediss?://[^\s\x00-\x1f\x7f]+", value) and len(value) < 1024:
        return Line(value)
    # A redis URL may hold a password: never echoed.
    raise ConfigError(f"{where}: expected true, false or a redis:// URL (one line, no spaces)",
                      hint='e.g. sccache = "redis://127.0.0.1:6379" for a cache shared between machines')
