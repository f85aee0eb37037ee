"""[publish.crates]: the workspace crates the package phase packaged (package/cratefiles.py: the
`.crate` files `cargo package` verified, and their publish metadata), uploaded through the
registry's web API (https://doc.rust-lang.org/cargo/reference/registry-web-api.html#publish) with
no cargo: the release job needs no Rust.

Both files of each crate are read from dist/ as the manifest lists them, their sha256 checked
against it, the metadata parsed strictly (cratemeta.py). They go out in dependency order (a crate
after the workspace crates it depends on). Before each upload the registry's sparse index says
what is published: the same version with the same checksum is "already published" (a rerun, or
another job got there first); the same version with other bytes is an error naming the crate and
version, since a registry never replaces a version. The token is read from the environment only,
sent only to the web API's origin (net.py), and never shown.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import env as env_
from ..config import Config
from ..config.publish import CratesConfig
from ..config.values import HttpUrl
from ..cratemeta import KIND, CrateMeta, CrateMetaError, crate_file, metadata_file, parse_metadata, publish_body
from ..errors import ConfigError, WavryError
from ..manifest import Artifact, Manifest
from ..ui import mask_for_ci
from .base import Action, HttpClient, PublishError, PublishResult

CRATES_IO_API = "https://crates.io"  # what index.crates.io's config.json says: known without asking
NEW = "/api/v1/crates/new"
ATTEMPTS = 3
HINT = "run the package phase again (`invoke crates`, or the part job): the release job publishes what it packaged"


def index_path(name: str) -> str:
    """Where the sparse index keeps a crate (cargo's registry index layout)."""
    n = name.lower()
    if len(n) <= 2:
        return f"{len(n)}/{n}"
    if len(n) == 3:
        return f"3/{n[0]}/{n}"
    return f"{n[:2]}/{n[2:4]}/{n}"


@dataclass(frozen=True)
class CrateUpload:
    """One crate to publish: its metadata (checked) and its .crate file with the sha256 the manifest records."""

    meta: CrateMeta
    path: Path
    sha256: str

    @property
    def spec(self) -> str:
        return f"{self.meta.name}@{self.meta.vers}"


class CrateError(PublishError):
    exit_code = 2


class Refused(PublishError):
    """The registry answered the upload with a refusal (not a 200, not a 5xx): never tried again."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _checked(dist: Path, a: Artifact, where: Path) -> Path:
    path = dist / a.path
    if path.is_symlink() or not path.is_file():
        raise CrateError(f"{where}: {a.path}: listed but not a file in {dist}", hint=HINT)
    if path.stat().st_size != a.size or _sha256(path) != a.sha256:
        raise CrateError(f"{where}: {a.path}: its sha256 (or size) differs from the manifest's", hint=HINT)
    return path


def read_uploads(cc: CratesConfig, dist: Path, *, missing_ok: bool = False) -> list[CrateUpload]:
    """The crates of [publish.crates] as dist/manifest.json lists them, each checked, in upload order.
    missing_ok: leave out a crate not packaged yet (a dry run before the package phase)."""
    where = Manifest.path(dist)
    manifest = Manifest.load(dist)
    listed = {a.path: a for a in (manifest.artifacts if manifest else []) if a.kind == KIND}
    found: dict[str, CrateUpload] = {}
    for a in sorted(listed.values(), key=lambda a: a.path):
        if a.format != "json":
            continue
        path = _checked(dist, a, where)
        try:
            meta = parse_metadata(path.read_bytes())
        except CrateMetaError as exc:
            raise CrateError(f"{where}: {a.path}: not the metadata of a crate: {exc}", hint=HINT) from None
        # The names pair the two files: a metadata file speaks for its own .crate only.
        if a.path != metadata_file(meta.name, meta.vers):
            raise CrateError(f"{where}: {a.path}: holds the metadata of {meta.name} {meta.vers}, whose file is "
                             f"{metadata_file(meta.name, meta.vers)}", hint=HINT)
        crate = listed.get(crate_file(meta.name, meta.vers))
        if crate is None or crate.format != "crate":
            raise CrateError(f"{where}: {crate_file(meta.name, meta.vers)}: not listed as a crate file, but "
                             f"{a.path} is", hint=HINT)
        crate_path = _checked(dist, crate, where)
        if meta.name in found:
            raise CrateError(f"{where}: {meta.name} is listed in two versions ({found[meta.name].meta.vers}, "
                             f"{meta.vers})", hint=HINT)
        found[meta.name] = CrateUpload(meta, crate_path, crate.sha256)
    for a in listed.values():
        if a.format == "crate" and not any(u.path.name == a.path for u in found.values()):
            raise CrateError(f"{where}: {a.path}: a crate file without its metadata file", hint=HINT)
    missing = [n for n in cc.packages if n not in found]
    if missing and not missing_ok:
        raise CrateError(f"{where}: no packaged crate for {', '.join(missing)} (publish.crates.packages)", hint=HINT)
    return upload_order([found[n] for n in cc.packages if n in found])


def upload_order(uploads: list[CrateUpload]) -> list[CrateUpload]:
    """Each crate after the crates of the list it depends on."""
    by_name = {u.meta.name: u for u in uploads}
    out: list[CrateUpload] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if by_name[name] in out:
            return
        if name in visiting:
            raise CrateError(f"crates: {name} is part of a dependency cycle")
        visiting.add(name)
        for dep in by_name[name].meta.internal_deps(list(by_name)):
            visit(dep)
        out.append(by_name[name])

    for u in uploads:
        visit(u.meta.name)
    return out


class Registry:
    """The registry's sparse index (read without credentials) and its web API (the token, nowhere else)."""

    def __init__(self, cc: CratesConfig, token: str) -> None:
        self.cc = cc
        self.http = HttpClient("crates", [token] if token else [], {
            401: f"check ${cc.token_env}: the registry did not accept it",
            403: f"${cc.token_env} may not publish this crate (a token scoped to other crates, or not an owner)"})
        self.token = token
        self.api: str | None = CRATES_IO_API if cc.index == "https://index.crates.io/" else None

    def api_url(self) -> str:
        """The web API's root: the index's config.json names it (a server answer: checked as a URL)."""
        if self.api is None:
            url = self.cc.index + "config.json"
            with self.http.call("GET", url, "the index's config.json") as resp:
                body = self.http.json_object(resp, "the index's config.json")
            api = body.get("api")
            if not isinstance(api, str) or not HttpUrl.valid(api):
                raise self.http.fail(f"crates: {url}: names no web API (\"api\": an http or https URL)",
                                     hint="this registry takes no uploads through the web API")
            self.api = api.rstrip("/")
        if self.token:
            self.http.authorize(self.api, headers={"Authorization": self.token})
        return self.api

    def published(self, name: str) -> dict[str, str]:
        """Each published version of `name` and its cksum, from the sparse index."""
        url = self.cc.index + index_path(name)
        resp = self.http.call("GET", url, f"{name}: index", expect=(200, 404, 410, 451),
                              headers={"Cache-Control": "no-cache"})
        with resp:
            if resp.status_code != 200:
                return {}
            out: dict[str, str] = {}
            for line in resp.text.splitlines():
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                    vers, cksum = entry["vers"], entry["cksum"]
                except (ValueError, KeyError, TypeError):
                    raise PublishError(f"crates: {url}: not a registry index file") from None
                if isinstance(vers, str) and isinstance(cksum, str):
                    out[vers] = cksum
            return out

    def put(self, u: CrateUpload, url: str) -> list[str]:
        """The upload; the registry's warnings."""
        body = publish_body(u.meta, u.path.read_bytes())
        what = f"{u.spec}: publish"
        # Every status is taken here: a 5xx may be tried again, any other refusal is final (Refused).
        # Not idempotent (a second publish of a version is refused): _publish_one asks the index before trying again.
        with self.http.call("PUT", url, what, expect=tuple(range(200, 600)), transfer=True, idempotent=False, data=body,
                            headers={"Content-Type": "application/octet-stream"}) as resp:
            if resp.status_code != 200:
                detail = self.http.server_message(resp)
                error = PublishError if resp.status_code >= 500 else Refused
                raise error(self.http.scrub(f"crates: {what}: PUT {url}: HTTP {resp.status_code} {resp.reason}"
                                            + (f": {detail}" if detail else "")),
                            hint=self.http.hints.get(resp.status_code, "the registry refused it: fix that and rerun "
                                                     "(what was published is skipped)"))
            answer = self.http.json_object(resp, what)
        warnings = answer.get("warnings")
        lines: list[str] = []
        if isinstance(warnings, dict):
            for key, values in warnings.items():
                if isinstance(values, list):
                    lines += [self.http.scrub(f"{key}: {str(v)[:200]}") for v in values]
        return lines

    def close(self) -> None:
        self.http.close()


def _already(u: CrateUpload, published: dict[str, str]) -> bool:
    """True when the index lists this version with this checksum; an error when with another."""
    cksum = published.get(u.meta.vers)
    if cksum is None:
        return False
    if cksum != u.sha256:
        raise PublishError(f"crates: {u.spec} is already published with other bytes (index cksum {cksum[:16]}…, "
                           f"this .crate {u.sha256[:16]}…)",
                           hint="a registry never replaces a version: bump the version to publish a change")
    return True


def publish_crates(cfg: Config, cc: CratesConfig, dist: Path, *, dry: bool,
                   log: Callable[[str], None]) -> list[PublishResult]:
    uploads = read_uploads(cc, dist, missing_ok=dry)
    where = cfg.project.config_path
    token = "" if dry else env_.secret_value(cc.token_env)
    if not dry and not token:
        raise ConfigError(f"{where}: publish.crates.token-env: environment variable {cc.token_env} is not set (or empty)",
                          hint=f"export {cc.token_env} with the registry's API token (publish-update scope)")
    mask_for_ci([token])
    registry = Registry(cc, token)
    results: list[PublishResult] = []
    try:
        if dry:
            # A dry run contacts nothing: the API of a registry other than crates.io is named by its index.
            url = (registry.api or f"(the api of {cc.index}config.json)") + NEW
            for u in uploads:
                results.append(PublishResult("crates", u.spec, "would publish",
                                             f"PUT {url}: {u.path.name}, sha256 {u.sha256[:16]}… (unless already there)"))
            packaged = {u.meta.name for u in uploads}
            results += [PublishResult("crates", name, "would publish", f"PUT {url}, once the crates stage packages it")
                        for name in cc.packages if name not in packaged]
            return results
        url = registry.api_url() + NEW
        for u in uploads:
            action, detail = _publish_one(registry, u, url, log)
            results.append(PublishResult("crates", u.spec, action, detail))
            log(results[-1].line())
    except PublishError as exc:
        exc.results = results + exc.results
        raise
    except WavryError as exc:
        raise PublishError(exc.message, hint=exc.hint, results=results) from None
    finally:
        registry.close()
    return results


def _publish_one(registry: Registry, u: CrateUpload, url: str, log: Callable[[str], None]) -> tuple[Action, str]:
    if _already(u, registry.published(u.meta.name)):
        return "skipped", "already published with the same checksum"
    for attempt in range(1, ATTEMPTS + 1):
        log(f"crates: PUT {url} {u.meta.name} {u.meta.vers}")
        try:
            for warning in registry.put(u, url):
                log(f"crates: {u.spec}: registry warning: {warning}")
            return "published", url
        except Refused:
            raise
        except PublishError as exc:
            # No answer, or a 5xx: the registry may have stored it all the same (the index says so).
            if attempt == ATTEMPTS:
                raise
            log(f"crates: {u.spec}: {exc.message}; trying again ({attempt + 1}/{ATTEMPTS})")
            if _already(u, registry.published(u.meta.name)):
                return "published", url
    raise AssertionError("unreachable")
