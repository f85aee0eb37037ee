"""[publish.crates]: workspace crates to crates.io (or another cargo registry).

In dependency order (a crate after the workspace crates it depends on), each version the
registry's sparse index already lists is skipped; the others are verified with `cargo package`
(a full build of the packaged sources, which never sees the token) and then sent with
`cargo publish --no-verify`, the token in cargo's own variable for that command only. A rerun after
any failure skips what was published.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import cargo, proc
from .. import env as env_
from ..config import Config
from ..config.publish import CratesConfig
from ..errors import CommandFailed, ConfigError, ToolMissing, suggest
from .base import HttpClient, PublishError, PublishResult


def index_path(name: str) -> str:
    """Where the sparse index keeps a crate (cargo's registry index layout)."""
    n = name.lower()
    if len(n) <= 2:
        return f"{len(n)}/{n}"
    if len(n) == 3:
        return f"3/{n[0]}/{n}"
    return f"{n[:2]}/{n[2:4]}/{n}"


def publish_order(packages: list[dict[str, Any]], wanted: tuple[str, ...], where: Path) -> list[dict[str, Any]]:
    """The wanted workspace packages, each after the wanted ones it depends on (dev-dependencies
    are left out of a published crate and do not count)."""
    by_name = {p["name"]: p for p in packages}
    for name in wanted:
        if name not in by_name:
            near = suggest(name, list(by_name))
            raise ConfigError(f"{where}: publish.crates.packages: no package {name!r} in the workspace"
                              + (f"; did you mean {near!r}?" if near else ""), hint="packages: " + ", ".join(by_name))
        if by_name[name].get("publish") == []:
            raise ConfigError(f"{where}: publish.crates.packages: {name!r} says `publish = false` in its Cargo.toml")
    out: list[dict[str, Any]] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if any(p["name"] == name for p in out):
            return
        if name in visiting:
            raise ConfigError(f"{where}: publish.crates.packages: {name!r} is part of a dependency cycle")
        visiting.add(name)
        for dep in by_name[name].get("dependencies", []):
            if dep.get("kind") != "dev" and dep.get("path") and dep["name"] in wanted:
                visit(dep["name"])
        visiting.discard(name)
        out.append(by_name[name])

    for name in wanted:
        visit(name)
    return out


def published_versions(http: HttpClient, cc: CratesConfig, name: str) -> set[str]:
    resp = http.call("GET", cc.index + index_path(name), f"{name}: index", expect=(200, 404, 410, 451))
    with resp:
        if resp.status_code != 200:
            return set()
        versions = set()
        for line in resp.text.splitlines():
            if line.strip():
                try:
                    versions.add(str(json.loads(line)["vers"]))
                except (ValueError, KeyError, TypeError):
                    raise PublishError(f"crates: {cc.index}{index_path(name)}: not a registry index file") from None
        return versions


def publish_crates(cfg: Config, cc: CratesConfig, *, dry: bool, log: Callable[[str], None]) -> list[PublishResult]:
    where = cfg.project.config_path
    try:
        meta = cargo.metadata(cfg.project.manifest_path)
    except ToolMissing as exc:
        # The one destination that still needs Rust in the release job (issue 29 item 2: crates from storage).
        raise ToolMissing(f"{where}: publish.crates: the crates destination needs cargo (cargo package, cargo "
                          f"publish), unlike every other destination: {exc.message}",
                          hint=exc.hint or "install Rust in the job that publishes crates") from None
    order = publish_order(meta["packages"], cc.packages, where)
    registry = ["--registry", cc.registry] if cc.registry else []
    token = "" if dry else env_.secret_value(cc.token_env)
    if not dry and not token:
        raise ConfigError(f"{where}: publish.crates.token-env: environment variable {cc.token_env} is not set (or empty)",
                          hint=f"export {cc.token_env} with a crates.io API token (publish-update scope)")
    http = HttpClient("crates", [token], {})
    results: list[PublishResult] = []
    try:
        for pkg in order:
            name, version, manifest = pkg["name"], pkg["version"], pkg["manifest_path"]
            spec = f"{name}@{version}"
            # A dry run contacts nothing: it shows the commands for every crate.
            if not dry and version in published_versions(http, cc, name):
                results.append(PublishResult("crates", spec, "skipped", "already in the registry's index"))
                log(f"crates: {spec}: skipped (already published)")
                continue
            base = ("--manifest-path", manifest, "--package", name, *registry)
            # `cargo package` runs the build scripts: it inherits no credential (env.SecretPolicy), and
            # not the token even when [project] pass-env lets it into builds. Only `cargo publish`,
            # which builds nothing, is given the token, masked when echoed.
            package = proc.Command(("cargo", "package", *base), cwd=cfg.project.root,
                                   unset_env=frozenset({cc.token_env}))
            send = proc.Command(("cargo", "publish", "--no-verify", *base), {cc.token_env: token}, cfg.project.root,
                                secret_env=frozenset({cc.token_env}))
            if dry:
                for cmd in (package, send):
                    log(f"(dry) {cmd.display()}")
                results.append(PublishResult("crates", spec, "would publish",
                                             f"{cc.registry or 'crates.io'} (unless already there): " + package.display()))
                continue
            for cmd, what in ((package, "verify (cargo package)"), (send, "publish")):
                log("$ " + cmd.display())
                try:
                    proc.run(cmd, on_stderr_line=log, secrets=(token,))
                except CommandFailed as exc:
                    raise PublishError(f"crates: {spec}: {what} failed: {exc.stderr_tail[-800:]}",
                                       hint="fix it and rerun: what was published is skipped", results=results) from None
            results.append(PublishResult("crates", spec, "published", cc.registry or "crates.io"))
    finally:
        http.close()
    return results
