"""npm publishing: the release's npm tarballs PUT to their registry (the npm registry API, as
`npm publish` does), idempotently: a version the registry already holds with the same integrity
is skipped, a different one refused. The packages themselves are channels/npm/format.py's.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import env as env_
from ..channels.npm.format import read_package_json
from ..config.npm import NpmConfig
from ..errors import ConfigError, WavryError
from ..net import Client
from ..ui import mask_for_ci

if TYPE_CHECKING:
    from ..manifest import Artifact


@dataclass(frozen=True)
class NpmTarball:
    path: Path
    name: str
    version: str
    integrity: str  # sha512-<base64>, as the registry reports it as dist.integrity


def tarballs(dist: Path, artifacts: Iterable[Artifact]) -> list[NpmTarball]:
    """The npm tarballs of the manifest: platform packages first, the main package last, so that
    nobody can install a main package whose optional dependencies are not there yet."""

    out = []
    for a in sorted((a for a in artifacts if a.kind == "npm"), key=lambda a: (a.target == "", a.path)):
        path = dist / a.path
        if not path.is_file():
            raise WavryError(f"{path}: listed in manifest.json but missing", hint="run `invoke npm` again")
        data = read_package_json(path)
        integrity = "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()
        out.append(NpmTarball(path, data["name"], data["version"], integrity))
    return out


def _packument_url(registry: str, name: str) -> str:
    # npm's escaped name: @scope%2fname
    return registry.rstrip("/") + "/" + name.replace("/", "%2f")


def registry_integrity(http: Client, registry: str, it: NpmTarball) -> str | None:
    """dist.integrity of `it`'s version on the registry; None when that version is not there."""
    what = f"{it.name}@{it.version}: look up"
    resp = http.call("GET", _packument_url(registry, it.name), what, expect=(200, 404), headers={"Accept": "application/json"})
    with resp:
        if resp.status_code == 404:
            return None
        doc = http.json_object(resp, what)
    versions = doc.get("versions")
    entry = versions.get(it.version) if isinstance(versions, dict) else None
    dist = entry.get("dist") if isinstance(entry, dict) else None
    integrity = dist.get("integrity") if isinstance(dist, dict) else None
    return str(integrity) if integrity else None


def dist_tag(nc: NpmConfig, version: str) -> str | None:
    # npm refuses to publish a prerelease under `latest` unless told which tag to use.
    return nc.tag or ("next" if "-" in version.split("+")[0] else None)


def publish_body(it: NpmTarball, registry: str, tag: str, access: str | None) -> dict[str, Any]:
    """The document `npm publish` PUTs (libnpmpublish): the package.json of the tarball as the
    version's manifest, its dist-tag, and the tarball itself as a base64 attachment."""
    data = it.path.read_bytes()
    file_name = f"{it.name}-{it.version}.tgz"  # @scope/name-1.0.0.tgz for a scoped package, as npm names it
    shasum = hashlib.sha1(data).hexdigest()  # npm's own field next to the sha512 integrity
    manifest = {**read_package_json(it.path), "_id": f"{it.name}@{it.version}",
                "dist": {"integrity": it.integrity, "shasum": shasum,
                         "tarball": f"{registry.rstrip('/')}/{it.name}/-/{file_name}"}}
    body: dict[str, Any] = {"_id": it.name, "name": it.name, "dist-tags": {tag: it.version},
                            "versions": {it.version: manifest},
                            "_attachments": {file_name: {"content_type": "application/octet-stream",
                                                         "data": base64.b64encode(data).decode(), "length": len(data)}}}
    if manifest.get("description"):
        body["description"] = manifest["description"]
    if access:
        body["access"] = access
    return body


def _publish_one(http: Client, nc: NpmConfig, it: NpmTarball) -> tuple[str, str]:
    """(action, detail) for one tarball: skipped when the registry has these bytes, else published."""
    spec = f"{it.name}@{it.version}"
    have = registry_integrity(http, nc.registry, it)
    if have is None:
        body = publish_body(it, nc.registry, dist_tag(nc, it.version) or "latest", nc.access)
        # Not idempotent (a second publish of a version is refused): judged by the registry below instead.
        resp = http.call("PUT", _packument_url(nc.registry, it.name), f"{spec}: publish", expect=(200, 201, 403, 409),
                         transfer=True, idempotent=False, json=body, headers={"npm-command": "publish"})
        with resp:
            if resp.status_code in (200, 201):
                return "published", f"{spec} → {nc.registry}"
            refusal = http.server_message(resp)
        # "cannot publish over the previously published version": another run got there first,
        # or the registry refuses for another reason (its message says which).
        have = registry_integrity(http, nc.registry, it)
        if have is None:
            raise WavryError(f"npm: publishing {spec} to {nc.registry} failed: HTTP {resp.status_code}: {refusal}",
                             hint="the registry refused it; its message says why (the rerun skips what was published)")
    if have != it.integrity:
        raise WavryError(f"npm: {spec} is already on {nc.registry} with other contents",
                         hint="npm never replaces a published version: release a new version")
    return "skipped", f"{spec} already published"


def publish_npm(nc: NpmConfig, dist: Path, artifacts: Iterable[Artifact], *, dry: bool,
                log: Callable[[str], None]) -> list[tuple[str, str, str]]:
    """Publish the tarballs that the registry does not have yet. Returns (file, action, detail) rows.

    The registry's HTTP API is spoken through the HTTP layer (net.Client), as `npm publish` would:
    the token goes to the registry's origin only (never along a redirect to another host or port),
    every message is scrubbed, every request has a timeout; no child process sees the token.
    """
    items = tarballs(dist, artifacts)
    if not items:
        raise WavryError(f"{dist}: no npm packages in manifest.json", hint="run `invoke npm` (or `invoke release`) first")
    rows: list[tuple[str, str, str]] = []
    if dry:
        for it in items:
            rows.append((it.path.name, "would publish", f"{it.name}@{it.version} → {nc.registry}"))
            log(f"(dry) npm publish {it.path.name} --registry {nc.registry}")
        return rows
    token = env_.secret_value(nc.token_env)
    if not token:
        raise ConfigError(f"channels.npm: the env var {nc.token_env} (the npm token) is not set",
                          hint="export it, or name another variable with channels.npm.token-env")
    mask_for_ci([token])
    http = Client("npm", hints={401: f"the registry refused the token in ${nc.token_env} (channels.npm.token-env)",
                                403: f"the token in ${nc.token_env} may not read or publish this package"})
    http.authorize(nc.registry, bearer=token)
    try:
        for it in items:
            action, detail = _publish_one(http, nc, it)
            rows.append((it.path.name, action, detail))
            log(f"npm: published {it.path.name} ({detail})" if action == "published"
                else f"npm: {it.name}@{it.version} already published")
    finally:
        http.close()
    return rows
