"""An OCI distribution API client (https://github.com/opencontainers/distribution-spec, spec.md):
what the container channel needs of a registry — fetch a base image pinned by digest, and push
blobs and manifests idempotently (HEAD first; a blob or manifest already there is not sent again).

Authentication as registries ask for it in their 401 answer (`WWW-Authenticate`): Basic with the
configured login, or Bearer — a token fetched from the challenge's realm (the Docker token
protocol that Docker Hub, GHCR, GitLab and Harbor use), with the login when there is one — or a
bearer token given as it is. Every request goes through `net.Client` (credentials bound to their
origin, one scrubber, timeouts), so no credential reaches a message.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from ... import env as env_
from ...config.container import BaseImage, ContainerConfig, is_loopback
from ...config.values import HttpUrl
from ...errors import ConfigError
from ...net import Client
from .format import INDEX_TYPES, MANIFEST_TYPES, Base, Blob, Platform, digest_of

ACCEPT = ", ".join((*INDEX_TYPES, *MANIFEST_TYPES))
MAX_MANIFEST = 4 << 20  # the spec's recommended limit for a manifest a registry accepts
CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
Response = Any  # a requests.Response from net.Client.call (only net.py imports requests)


@dataclass(frozen=True)
class Login:
    user: str | None = None
    password: str | None = None
    token: str | None = None


def api_url(host: str, registry: str | None = None) -> str:
    """The API origin of a registry host: the configured registry's URL when it is that host,
    Docker Hub's API host for docker.io, else https://host."""
    if registry is not None and urlsplit(registry).netloc == host:
        return registry.rstrip("/")
    return "https://registry-1.docker.io" if host == "docker.io" else f"https://{host}"


class Registry:
    """One repository of one registry."""

    def __init__(self, client: Client, url: str, repository: str, login: Login = Login()) -> None:
        self.http, self.url, self.repository, self.login = client, url.rstrip("/"), repository, login
        if login.user and login.password:
            client.secret(login.password, user=login.user)
        if login.token:
            client.authorize(self.url, bearer=login.token)
        self._authed: str | None = None  # the challenge answered last (not answered twice in a row)

    def _url(self, path: str) -> str:
        return f"{self.url}/v2/{self.repository}/{path}"

    # -- authentication -------------------------------------------------------------------------------

    def _answer(self, resp: Response, what: str) -> None:
        header = resp.headers.get("WWW-Authenticate", "")
        scheme = header.split(" ", 1)[0].lower()
        if header == self._authed or scheme not in ("basic", "bearer"):
            hint = ("check the registry login (channels.container user-env/password-env or token-env): "
                    "the registry did not accept it" if self._authed or self.login.token else
                    "name the variables holding the registry login in channels.container user-env and password-env")
            raise self.http.fail(f"{self.http.kind}: {what}: {resp.request.method} {resp.url}: HTTP 401 Unauthorized",
                                 hint=hint)
        self._authed = header
        if scheme == "basic":
            if not (self.login.user and self.login.password):
                raise self.http.fail(f"{self.http.kind}: {what}: {self.url} asks for a login",
                                     hint="set channels.container user-env and password-env")
            self.http.authorize(self.url, basic=(self.login.user, self.login.password))
            return
        params = dict(CHALLENGE.findall(header))
        self.http.authorize(self.url, bearer=self._token(params, what))

    def _token(self, params: dict[str, str], what: str) -> str:
        """A token from the challenge's realm (the Docker registry token protocol)."""
        realm = params.get("realm", "")
        if not HttpUrl.valid(realm) or (urlsplit(realm).scheme == "http" and not is_loopback(urlsplit(realm).hostname or "")):
            raise self.http.fail(f"{self.http.kind}: {what}: the registry's token realm {realm[:200]!r} is not an https URL",
                                 hint="a login is only sent to an https token server")
        query = {k: v for k, v in params.items() if k in ("service", "scope")}
        auth = (self.login.user, self.login.password) if self.login.user and self.login.password else None
        resp = self.http.call("GET", realm, f"{what}: token", params=query, auth=auth)
        with resp:
            body = self.http.json_object(resp, f"{what}: token")
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str) or not token:
            raise self.http.fail(f"{self.http.kind}: {what}: the token server's answer holds no token")
        self.http.secret(token)
        return token

    def request(self, method: str, url: str, what: str, expect: tuple[int, ...], **kwargs: Any) -> Response:
        """One API request, answering the registry's authentication challenge when it asks."""
        for _ in range(3):
            data = kwargs.get("data")
            resp = self.http.call(method, url, what, (*expect, 401), **kwargs)
            if resp.status_code != 401:
                self._authed = None
                return resp
            resp.close()
            self._answer(resp, what)
            kwargs["data"] = data
        raise self.http.fail(f"{self.http.kind}: {what}: {method} {url}: HTTP 401 Unauthorized",
                             hint="check the registry login")

    # -- reading --------------------------------------------------------------------------------------

    def has_blob(self, digest: str) -> bool:
        resp = self.request("HEAD", self._url(f"blobs/{digest}"), f"blob {digest[:19]}: look up", (200, 404))
        resp.close()
        return bool(resp.status_code == 200)

    def blob(self, digest: str, media_type: str) -> Blob:
        what = f"{self.repository}: blob {digest[:19]}"
        resp = self.request("GET", self._url(f"blobs/{digest}"), what, (200,), transfer=True)
        with resp:
            data = resp.content
        if digest_of(data) != digest:
            raise self.http.fail(f"{self.http.kind}: {what}: the registry sent other bytes than the digest names",
                                 hint="the registry (or a proxy) is broken or compromised: nothing was used")
        return Blob(media_type, data)

    def manifest(self, reference: str) -> Blob:
        """The manifest or index named by `reference` (a digest is checked against the bytes)."""
        what = f"{self.repository}@{reference[:19]}"
        resp = self.request("GET", self._url(f"manifests/{reference}"), what, (200,), headers={"Accept": ACCEPT})
        with resp:
            data = resp.content[:MAX_MANIFEST + 1]
            media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        if reference.startswith("sha256:") and digest_of(data) != reference:
            raise self.http.fail(f"{self.http.kind}: {what}: the registry sent a manifest that is not the pinned digest",
                                 hint="the registry (or a proxy) is broken or compromised: nothing was used")
        return Blob(media_type or _media_type(data), data)

    def manifest_digest(self, reference: str) -> str | None:
        """The digest `reference` (a tag or digest) names now, or None when the registry lacks it."""
        resp = self.request("HEAD", self._url(f"manifests/{reference}"), f"{self.repository}:{reference}: look up",
                            (200, 404), headers={"Accept": ACCEPT})
        resp.close()
        return resp.headers.get("Docker-Content-Digest") if resp.status_code == 200 else None

    # -- writing --------------------------------------------------------------------------------------

    def put_blob(self, blob: Blob) -> bool:
        """Upload `blob` unless the repository has it (monolithic upload: POST, then PUT ?digest=).
        True when it was sent."""
        if self.has_blob(blob.digest):
            return False
        what = f"{self.repository}: upload {blob.digest[:19]}"
        resp = self.request("POST", self._url("blobs/uploads/"), what, (202,))
        resp.close()
        location = resp.headers.get("Location")
        if not location:
            raise self.http.fail(f"{self.http.kind}: {what}: the registry gave no upload location")
        target = urljoin(self._url("blobs/uploads/"), location)
        if urlsplit(target).netloc != urlsplit(self.url).netloc:
            raise self.http.fail(f"{self.http.kind}: {what}: the upload location is on another host ({urlsplit(target).netloc})",
                                 hint="the registry's answer is refused: the image would go elsewhere")
        sep = "&" if urlsplit(target).query else "?"
        # Not sent again blindly: a second PUT to a closed upload session is a 404 (the next push's HEAD finds the blob).
        resp = self.request("PUT", f"{target}{sep}digest={blob.digest}", what, (201,), transfer=True, idempotent=False,
                            data=blob.data, headers={"Content-Type": "application/octet-stream"})
        resp.close()
        return True

    def put_manifest(self, reference: str, manifest: Blob) -> bool:
        """Make `reference` name `manifest`; False when it already does."""
        if self.manifest_digest(reference) == manifest.digest:
            return False
        what = f"{self.repository}:{reference[:19]}: put manifest"
        resp = self.request("PUT", self._url(f"manifests/{reference}"), what, (201,), data=manifest.data,
                            headers={"Content-Type": manifest.media_type})
        resp.close()
        return True


def _media_type(data: bytes) -> str:
    try:
        doc = json.loads(data)
    except ValueError:
        return ""
    return str(doc.get("mediaType", "")) if isinstance(doc, dict) else ""


def fetch_base(client: Client, base: BaseImage, platform: Platform, registry: str | None, login: Login) -> Base:
    """The base image's config and layers for `platform`, every blob checked against its digest.
    `login` is used only when the base lives on the configured registry."""
    reg = Registry(client, api_url(base.host, registry), base.repository,
                   login if registry is not None and api_url(base.host, registry) == registry.rstrip("/") else Login())
    top = reg.manifest(base.digest)
    doc = _json(client, top, str(base))
    if top.media_type in INDEX_TYPES or "manifests" in doc:
        wanted = platform.as_json()
        found = [m for m in doc.get("manifests") or [] if isinstance(m, dict) and _matches(m.get("platform"), wanted)]
        if not found:
            raise client.fail(f"{base}: the base image has no {platform} image",
                              hint="choose a multi-arch base that holds every platform of channels.container.targets")
        top = reg.manifest(str(found[0]["digest"]))
        doc = _json(client, top, str(base))
    if top.media_type not in (*MANIFEST_TYPES, "") or "layers" not in doc:
        raise client.fail(f"{base}: not an image manifest ({top.media_type or 'no media type'})")
    config = json.loads(reg.blob(doc["config"]["digest"], doc["config"]["mediaType"]).data)
    if not isinstance(config, dict) or config.get("architecture") != platform.architecture:
        raise client.fail(f"{base}: the base image is {config.get('architecture') if isinstance(config, dict) else '?'}, "
                          f"not {platform.architecture}", hint="pin a multi-arch index, or a base of that architecture")
    diff_ids = config.get("rootfs", {}).get("diff_ids")
    if not isinstance(diff_ids, list) or len(diff_ids) != len(doc["layers"]):
        raise client.fail(f"{base}: its config's rootfs.diff_ids do not match its layers")
    layers = tuple(reg.blob(str(x["digest"]), str(x["mediaType"])) for x in doc["layers"])
    return Base(config, layers)


def _json(client: Client, blob: Blob, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(blob.data)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or len(blob.data) > MAX_MANIFEST:
        raise client.fail(f"{what}: the registry's manifest is not a JSON object")
    return doc


def _matches(found: Any, wanted: dict[str, str]) -> bool:
    if not isinstance(found, dict):
        return False
    return found.get("os") == wanted["os"] and found.get("architecture") == wanted["architecture"] and (
        "variant" not in wanted or found.get("variant") in (wanted["variant"], None))


def read_login(config_path: object, cc: ContainerConfig) -> Login:
    """The registry login from the variables channels.container names (read now, never stored in
    the config); a named variable that is unset is a ConfigError naming it."""
    def value(key: str, name: str) -> str:
        v = env_.secret_value(name)
        if not v:
            raise ConfigError(f"{config_path}: channels.container.{key}: environment variable {name} is not set (or empty)",
                              hint=f"export {name}, or name another variable in channels.container.{key}")
        return v

    if cc.token_env:
        return Login(token=value("token-env", cc.token_env))
    if cc.user_env and cc.password_env:
        return Login(value("user-env", cc.user_env), value("password-env", cc.password_env))
    return Login()
