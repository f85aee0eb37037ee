"""[project] and [cache]: which crate, package and binaries are released, and where to."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..env import Settings
from ..errors import ConfigError
from ..triple import suggest
from . import checks as c
from .models import Project

PROJECT_KEYS = {"crate", "package", "binaries", "dist", "name"}
Metadata = Callable[[Path], dict[str, Any]]


def _crate_manifest(path: Path, table: dict[str, Any]) -> Path:
    crate_rel = table.get("crate", ".")
    if not isinstance(crate_rel, str):
        raise ConfigError(f"{path}: project.crate: expected a path string, got {crate_rel!r}")
    crate_dir = (path.parent / crate_rel).resolve()
    manifest = crate_dir / "Cargo.toml" if crate_dir.is_dir() else crate_dir
    if not manifest.is_file():
        raise ConfigError(
            f"{path}: project.crate: no Cargo.toml at {crate_dir}",
            hint="set project.crate to the directory holding the crate's Cargo.toml (relative to targets.toml)",
        )
    return manifest


def _package_of(path: Path, manifest: Path, packages: list[dict[str, Any]], want: Any) -> dict[str, Any]:
    """project.package, or the one package the manifest names or the workspace has with binaries."""
    if want is not None and not isinstance(want, str):
        raise ConfigError(f"{path}: project.package: expected a string, got {want!r}")
    if want:
        found = [p for p in packages if p["name"] == want]
        if not found:
            near = suggest(want, [p["name"] for p in packages])
            raise ConfigError(
                f"{path}: project.package: no package {want!r} in {manifest}"
                + (f"; did you mean {near!r}?" if near else ""),
                hint="packages: " + ", ".join(p["name"] for p in packages),
            )
        return found[0]
    own = [p for p in packages if Path(p["manifest_path"]).resolve() == manifest.resolve()]
    with_bins = [p for p in packages if any("bin" in t["kind"] for t in p["targets"])]
    if own:
        return own[0]
    if len(with_bins) == 1:
        return with_bins[0]
    raise ConfigError(
        f"{path}: project.package: {manifest} is a workspace; say which package to release",
        hint="packages with binaries: " + ", ".join(p["name"] for p in with_bins),
    )


def _binaries_of(path: Path, pkg: dict[str, Any], wanted_bins: Any) -> tuple[str, ...]:
    bins = [t["name"] for t in pkg["targets"] if "bin" in t["kind"]]
    if not bins:
        raise ConfigError(f"{path}: project: package {pkg['name']!r} has no binary targets")
    for b in bins:
        # Binary names become file names in dist/ and in every package format.
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", b) or ".." in b:
            raise ConfigError(f"{pkg['manifest_path']}: binary name {b!r} is not a safe file name",
                              hint="rename the [[bin]] (letters, digits, . _ + -)")
    if wanted_bins is None:
        return tuple(bins)
    try:
        binaries = c.str_list(wanted_bins)
    except ValueError as exc:
        raise ConfigError(f"{path}: project.binaries: expected {exc}, got {wanted_bins!r}") from None
    for b in binaries:
        if b not in bins:
            near = suggest(b, bins)
            raise ConfigError(
                f"{path}: project.binaries: package {pkg['name']!r} has no binary {b!r}"
                + (f"; did you mean {near!r}?" if near else ""),
                hint="its binaries: " + ", ".join(bins),
            )
    if not binaries:
        raise ConfigError(f"{path}: project.binaries: the list is empty", hint="name at least one binary, or remove the key")
    return binaries


def parse_project(path: Path, raw: Any, metadata: Metadata) -> Project:
    table = c.check_table(path, "project.", raw if raw is not None else {})
    c.reject_unknown(path, "project.", table, PROJECT_KEYS)
    root = path.parent
    manifest = _crate_manifest(path, table)
    meta = metadata(manifest)
    pkg = _package_of(path, manifest, meta["packages"], table.get("package"))
    binaries = _binaries_of(path, pkg, table.get("binaries"))
    dist = table.get("dist", "dist")
    if not isinstance(dist, str) or not dist:
        raise ConfigError(f"{path}: project.dist: expected a directory path string, got {dist!r}")
    name = table.get("name", pkg["name"])
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ConfigError(f"{path}: project.name: {name!r} is not a usable artifact name (letters, digits, . _ -)")
    return Project(
        config_path=path,
        root=root,
        manifest_path=Path(pkg["manifest_path"]),
        workspace_root=Path(meta["workspace_root"]),
        target_directory=Path(meta["target_directory"]),
        package=pkg["name"],
        name=name,
        version=pkg["version"],
        binaries=binaries,
        dist_dir=(root / dist).resolve() if not os.path.isabs(dist) else Path(dist),
        description=(pkg.get("description") or "").strip(),
        license=pkg.get("license"),
        homepage=pkg.get("homepage"),
        repository=pkg.get("repository"),
        authors=tuple(pkg.get("authors") or ()),
        readme=(Path(pkg["manifest_path"]).parent / pkg["readme"]) if pkg.get("readme") else None,
    )


# Tokens CI systems and package tools put in the environment of every step.
WELL_KNOWN_SECRETS = frozenset({
    "GITHUB_TOKEN", "GH_TOKEN", "GITLAB_TOKEN", "CI_JOB_TOKEN", "NPM_TOKEN", "NODE_AUTH_TOKEN",
    "CARGO_REGISTRY_TOKEN", "TWINE_PASSWORD", "PYPI_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_RUNTIME_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
})


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



def parse_cache(path: Path, raw: Any, settings: Settings) -> str | None:
    """[cache] sccache = true | "redis://host:port" (env WAVRYBUILD_SCCACHE overrides: 0, 1 or a URL)."""
    table = c.check_table(path, "cache.", raw)
    c.reject_unknown(path, "cache.", table, ("sccache",))
    value: Any = table.get("sccache", False)
    where = f"{path}: cache.sccache"
    env = settings.sccache
    if env is not None:
        value, where = {"0": False, "1": True, "": False}.get(env, env), "WAVRYBUILD_SCCACHE"
    if value is False:
        return None
    if value is True:
        return settings.sccache_redis or "local"
    if isinstance(value, str) and re.fullmatch(r"rediss?://\S+", value):
        return value
    raise ConfigError(f"{where}: expected true, false or a redis:// URL, got {value!r}",
                      hint='e.g. sccache = "redis://127.0.0.1:6379" for a cache shared between machines')
