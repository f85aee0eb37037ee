"""Publishing: upload what dist/manifest.json describes to GitHub Releases, an HTTP PUT server or a
directory. Configured in [publish] of targets.toml; reference and semantics in docs/publishing.md.

Every destination is idempotent and resumable: before sending a file it looks at what is already
there and skips a file with the same size and sha256, so a rerun after any failure (a SIGKILL in
the middle of an upload included) completes the release without duplicates. Files go out in an
order that keeps a partial release honest: artifacts, then their signatures and sidecars, then
SHA256SUMS, then manifest.json — SHA256SUMS never lists a file that is not there yet.

Secrets are never keys in targets.toml: only the names of the env vars holding them (`*-env`).
They travel in request headers only, never in URLs, log lines or error messages.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import quote

import requests

from . import env as env_
from .checksum import SIDECAR_SUFFIX, SIGNATURE_SUFFIXES, SUMS_NAME, SumsError, parse_sums, sha256_file, sha256_many
from .config import Config
from .config.publish import (
    DESTINATIONS,
    DestinationConfig,
    DirectoryConfig,
    GitHubConfig,
    HttpConfig,
    PublishConfig,
)
from .errors import ConfigError, WavryError
from .fsutil import atomic_writer, fsync_dir
from .manifest import MANIFEST_NAME, Manifest
from .triple import suggest
from .ui import mask_for_ci

if TYPE_CHECKING:
    from .config.npm import NpmConfig

Action = Literal["uploaded", "skipped", "replaced", "would upload", "published", "would publish"]

# (connect, read) seconds. Transfers get a long read timeout: after the last byte of a large upload
# the server may take a while (GitHub scans assets) before it answers.
API_TIMEOUT = (15, 60)
TRANSFER_TIMEOUT = (15, 600)
CHUNK = 1 << 20
GITHUB_PER_PAGE = 100
TMP_DIR_NAME = ".wavrybuild-tmp"


class PublishError(WavryError):
    """An upload failed. Names the destination, the file and the HTTP status; never a secret.

    `results` holds what was done before the failure (a rerun skips those files).
    """

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, results: list[PublishResult] | None = None) -> None:
        super().__init__(message, hint=hint)
        self.results: list[PublishResult] = results or []


@dataclass(frozen=True)
class PublishResult:
    destination: str  # github | http | directory
    file: str  # name relative to dist/
    action: Action
    detail: str = ""

    def line(self) -> str:
        return f"{self.destination}: {self.file}: {self.action}" + (f" ({self.detail})" if self.detail else "")


# --- what is published ------------------------------------------------------------------------------

@dataclass(frozen=True)
class LocalFile:
    name: str  # relative to dist/, '/'-separated: the name it gets at the destination
    path: Path
    size: int
    sha256: str


@dataclass(frozen=True)
class ReleaseRef:
    """The context templates are expanded with: from the manifest, i.e. what was actually built."""

    name: str
    version: str
    commit: str

    def values(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "commit": self.commit}


def _dist_error(message: str, hint: str) -> PublishError:
    return PublishError(message, hint=hint)


def collect(dist: Path) -> tuple[ReleaseRef, list[LocalFile]]:
    """Every file to publish, in upload order, after checking dist/ is consistent.

    Nothing is sent anywhere unless each artifact still has the size and sha256 manifest.json
    records and SHA256SUMS lists exactly those digests.
    """
    manifest = Manifest.load(dist)
    if manifest is None or not manifest.artifacts:
        raise _dist_error(f"{Manifest.path(dist)}: missing or lists no artifacts",
                          "run `invoke package` and `invoke checksum` first")
    sums = dist / SUMS_NAME
    if not sums.is_file():
        raise _dist_error(f"{sums}: missing", "run `invoke checksum` first")
    try:
        listed = parse_sums(sums.read_text())
    except (SumsError, UnicodeDecodeError) as exc:
        raise _dist_error(f"{sums}: {exc}", "run `invoke checksum` again") from None
    if listed != {a.path: a.sha256 for a in manifest.artifacts}:
        raise _dist_error(f"{sums}: does not match manifest.json", "run `invoke checksum` again")
    missing = [a.path for a in manifest.artifacts if not (dist / a.path).is_file()]
    if missing:
        raise _dist_error(f"{dist}: listed in manifest.json but missing: {', '.join(missing)}",
                          "run `invoke package` again")
    names = [a.path for a in manifest.artifacts]
    for described in [*(a.path for a in manifest.artifacts), SUMS_NAME]:
        suffixes = SIGNATURE_SUFFIXES if described == SUMS_NAME else (SIDECAR_SUFFIX, *SIGNATURE_SUFFIXES)
        names += [described + s for s in suffixes if (dist / (described + s)).is_file()]
    names += [SUMS_NAME, MANIFEST_NAME]
    digests = sha256_many(dist / n for n in names)
    for a in manifest.artifacts:
        path = dist / a.path
        if digests[path] != a.sha256 or path.stat().st_size != a.size:
            raise _dist_error(f"{path}: changed since `invoke package` (size or sha256 differs from manifest.json)",
                              "run `invoke package` and `invoke checksum` again")
    files = [LocalFile(n, dist / n, (dist / n).stat().st_size, digests[dist / n]) for n in names]
    commit = manifest.git.get("commit") if isinstance(manifest.git, dict) else None
    return ReleaseRef(manifest.name, manifest.version, str(commit) if commit else "nocommit"), files


# --- destinations -------------------------------------------------------------------------------------

class Destination(Protocol):
    kind: str

    def where(self, f: LocalFile) -> str:
        """Where the file goes (URL, path, asset), for messages and dry runs. No I/O."""
        ...

    def start(self) -> None:
        """Read the remote state once (or create the release)."""
        ...

    def put(self, f: LocalFile) -> tuple[Action, str]:
        """Make the destination hold `f`; return what was done and why."""
        ...

    def close(self) -> None:
        ...


def _secret(cfg: Config, key: str, env: str) -> str:
    value = env_.secret_value(env)
    if not value:
        raise ConfigError(f"{cfg.project.config_path}: publish.{key}: environment variable {env} is not set (or empty)",
                          hint=f"export {env} with the credential, or name another variable in publish.{key}")
    return value


def _message(resp: requests.Response) -> str:
    """The server's own explanation, short: GitHub's JSON `message`, else the start of the body."""
    with contextlib.suppress(ValueError, AttributeError):
        data = resp.json()
        if isinstance(data, dict) and data.get("message"):
            return str(data["message"])[:200]
    with contextlib.suppress(Exception):
        text = resp.text.strip()
        # An HTML error page says nothing the status line does not; a plain-text body might.
        return "" if not text or text.startswith("<") else text.splitlines()[0][:200]
    return ""


class _Http:
    """A requests.Session wrapper: timeouts on every call, and errors that never carry a secret."""

    def __init__(self, kind: str, secrets: list[str], hints: Mapping[int, str]) -> None:
        self.kind = kind
        self.secrets = [s for s in secrets if s]
        self.hints = hints
        self.session = requests.Session()

    def scrub(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "***")
        return text

    def call(self, method: str, url: str, what: str, expect: tuple[int, ...] = (200,),
             timeout: tuple[int, int] = API_TIMEOUT, **kwargs: Any) -> requests.Response:
        try:
            resp = self.session.request(method, url, timeout=timeout, **kwargs)
        except requests.RequestException as exc:
            raise PublishError(self.scrub(f"{self.kind}: {what}: {method} {url} failed: {exc}"),
                               hint="check the URL and the network; rerunning resumes where this stopped") from None
        if resp.status_code not in expect:
            detail = _message(resp)
            resp.close()
            raise PublishError(
                self.scrub(f"{self.kind}: {what}: {method} {url}: HTTP {resp.status_code} {resp.reason}"
                           + (f": {detail}" if detail else "")),
                hint=self.hints.get(resp.status_code, "rerunning resumes where this stopped"),
            )
        return resp

    def json(self, resp: requests.Response, what: str) -> Any:
        """The JSON body; a page that is not JSON (a wrong api-url, a proxy's login page) is a clear error."""
        try:
            body = resp.json()
        except ValueError:
            raise PublishError(f"{self.kind}: {what}: {resp.request.method} {resp.url}: "
                               f"HTTP {resp.status_code} but the answer is not JSON",
                               hint="check that the API URL points at the GitHub REST API") from None
        return body

    def json_object(self, resp: requests.Response, what: str) -> dict[str, Any]:
        body = self.json(resp, what)
        if not isinstance(body, dict):
            raise PublishError(f"{self.kind}: {what}: {resp.request.method} {resp.url}: the answer is JSON but not an object",
                               hint="check that the API URL points at the GitHub REST API")
        return body

    def sha256_of(self, url: str, what: str, headers: Mapping[str, str] | None = None) -> str:
        """Download and hash, streamed: never holds the file in memory."""
        h = hashlib.sha256()
        with self.call("GET", url, what, stream=True, timeout=TRANSFER_TIMEOUT, headers=headers or {}) as resp:
            try:
                for chunk in resp.iter_content(CHUNK):
                    h.update(chunk)
            except requests.RequestException as exc:
                raise PublishError(self.scrub(f"{self.kind}: {what}: reading {url} failed: {exc}")) from None
        return h.hexdigest()

    def close(self) -> None:
        self.session.close()


def _auth_hints(env: str | None, what: str) -> dict[int, str]:
    credential = f"${env}" if env else "the credential"
    return {401: f"check {credential}: the server did not accept it",
            403: f"{credential} is valid but may not write to {what}"}


class GitHubDestination:
    kind = "github"

    def __init__(self, c: GitHubConfig, release: ReleaseRef, token: str) -> None:
        self.c = c
        self.tag = c.tag.format(**release.values())
        self.http = _Http("github", [token], {
            **_auth_hints(c.token_env, c.repo),
            403: f"${c.token_env} may not write releases of {c.repo} (it needs contents: write)",
            404: f"check publish.github.repo ({c.repo}) and that ${c.token_env} can see it",
        })
        self.http.session.headers.update({
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        })
        self.repo_url = f"{c.api_url}/repos/{c.repo}"
        self.release: dict[str, Any] = {}
        self.upload_base = ""
        self.assets: dict[str, dict[str, Any]] = {}

    def where(self, f: LocalFile) -> str:
        return f"{self.c.repo} release {self.tag}: asset {PurePosixPath(f.name).name}"

    def start(self) -> None:
        self.release = self._find_release() or self._create_release()
        if self.c.upload_url:
            self.upload_base = f"{self.c.upload_url}/repos/{self.c.repo}/releases/{self.release['id']}/assets"
        else:
            # "https://uploads.github.com/repos/o/r/releases/1/assets{?name,label}": drop the URI template.
            self.upload_base = re.sub(r"\{[^}]*\}$", "", str(self.release.get("upload_url", "")))
        if not self.upload_base:
            raise PublishError(f"github: release {self.tag}: the API returned no upload_url",
                               hint="set publish.github.upload-url")
        assets = list(self._paged(f"{self.repo_url}/releases/{self.release['id']}/assets", f"release {self.tag}: list assets"))
        self.assets = {a["name"]: a for a in assets}

    def _paged(self, url: str, what: str) -> Iterator[dict[str, Any]]:
        """Every item of a paginated list: follow the Link header; without one, ask for the next page
        until a page comes back empty (servers may cap per_page below what was asked)."""
        params: dict[str, Any] | None = {"per_page": GITHUB_PER_PAGE, "page": 1}
        next_url: str | None = url
        for _ in range(1000):  # a bound against a server that always says "next"
            if next_url is None:
                return
            resp = self.http.call("GET", next_url, what, params=params)
            items = self.http.json(resp, what)
            if not isinstance(items, list):
                raise PublishError(f"github: {what}: GET {next_url}: expected a JSON list")
            yield from items
            if "next" in resp.links:
                next_url, params = resp.links["next"]["url"], None
            elif "link" not in resp.headers and items and params is not None:
                params = {**params, "page": params["page"] + 1}
            else:
                next_url = None

    def _find_release(self) -> dict[str, Any] | None:
        what = f"release {self.tag}"
        resp = self.http.call("GET", f"{self.repo_url}/releases/tags/{quote(self.tag, safe='/')}", what, expect=(200, 404))
        if resp.status_code == 200:
            return self.http.json_object(resp, what)
        # A draft has no tag yet, so the tag lookup cannot see it: search the list (which shows
        # drafts to a token that can push) so a rerun with draft = true does not make a second draft.
        for rel in self._paged(f"{self.repo_url}/releases", f"{what}: list releases"):
            if rel.get("tag_name") == self.tag:
                return rel
        return None

    def _create_release(self) -> dict[str, Any]:
        body = {"tag_name": self.tag, "name": self.tag, "draft": self.c.draft, "prerelease": self.c.prerelease}
        resp = self.http.call("POST", f"{self.repo_url}/releases", f"release {self.tag}: create", json=body,
                              expect=(201, 422))
        if resp.status_code == 201:
            return self.http.json_object(resp, f"release {self.tag}: create")
        # 422: someone created it between our lookup and now (a concurrent run); use theirs.
        found = self._find_release()
        if found is None:
            raise PublishError(f"github: release {self.tag}: create: HTTP 422: {_message(resp)}",
                               hint="check that the tag name is valid")
        return found

    def put(self, f: LocalFile) -> tuple[Action, str]:
        name = PurePosixPath(f.name).name
        old = self.assets.get(name)
        reason = ""
        if old is not None:
            state = old.get("state", "uploaded")
            if state != "uploaded":
                reason = f"removed an incomplete asset (state {state!r}) left by an interrupted upload"
            elif old.get("size") == f.size and self._remote_sha256(old, name) == f.sha256:
                return "skipped", "same size and sha256"
            else:
                reason = "an asset of that name had different content"
            self._delete(old, name)
        asset = self._upload(f, name)
        self.assets[name] = asset
        return ("replaced", reason) if old is not None else ("uploaded", "")

    def _remote_sha256(self, asset: dict[str, Any], name: str) -> str:
        digest = asset.get("digest")
        if isinstance(digest, str) and digest.startswith("sha256:"):
            return digest.removeprefix("sha256:").lower()
        # Older GitHub Enterprise versions have no `digest`: hash the asset itself. The API URL with
        # this Accept works for private repositories; requests drops the token on the redirect to storage.
        url = asset.get("url") or asset.get("browser_download_url")
        return self.http.sha256_of(str(url), f"{name}: download to compare", {"Accept": "application/octet-stream"})

    def _delete(self, asset: dict[str, Any], name: str) -> None:
        self.http.call("DELETE", f"{self.repo_url}/releases/assets/{asset['id']}", f"{name}: delete old asset",
                       expect=(204, 404)).close()
        self.assets.pop(name, None)

    def _upload(self, f: LocalFile, name: str) -> dict[str, Any]:
        with f.path.open("rb") as body:
            resp = self.http.call(
                "POST", self.upload_base, f"{name}: upload", expect=(201,), timeout=TRANSFER_TIMEOUT,
                params={"name": name}, data=body,
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(f.size)},
            )
        asset = self.http.json_object(resp, f"{name}: upload")
        digest = asset.get("digest")
        if asset.get("size") != f.size or (isinstance(digest, str) and digest != f"sha256:{f.sha256}"):
            raise PublishError(f"github: {name}: the uploaded asset has size {asset.get('size')} and {digest}, "
                               f"expected {f.size} and sha256:{f.sha256}", hint="rerun to replace it")
        return asset

    def close(self) -> None:
        self.http.close()


class HttpDestination:
    kind = "http"

    def __init__(self, c: HttpConfig, release: ReleaseRef, token: str | None, basic: tuple[str, str] | None) -> None:
        self.base = c.url.format(**release.values()).rstrip("/")
        env = c.token_env or c.password_env
        self.http = _Http("http", [token or "", basic[1] if basic else ""], _auth_hints(env, self.base))
        if token:
            self.http.session.headers["Authorization"] = f"Bearer {token}"
        if basic:
            self.http.session.auth = basic

    def where(self, f: LocalFile) -> str:
        return f"{self.base}/{quote(f.name)}"

    def start(self) -> None:
        pass

    def put(self, f: LocalFile) -> tuple[Action, str]:
        url = self.where(f)
        head = self.http.call("HEAD", url, f"{f.name}: check", expect=(200, 404, 405, 501), allow_redirects=True)
        head.close()
        exists = head.status_code == 200
        same_size = exists and head.headers.get("Content-Length") == str(f.size)
        # Same size is not same content: download and hash (streamed) before trusting it.
        if same_size and self.http.sha256_of(url, f"{f.name}: download to compare") == f.sha256:
            return "skipped", "same size and sha256"
        with f.path.open("rb") as body:
            self.http.call("PUT", url, f"{f.name}: upload", expect=(200, 201, 204), timeout=TRANSFER_TIMEOUT,
                           data=body, headers={"Content-Type": "application/octet-stream",
                                               "Content-Length": str(f.size)}).close()
        return ("replaced", "different content was there") if exists else ("uploaded", "")

    def close(self) -> None:
        self.http.close()


class DirectoryDestination:
    kind = "directory"

    def __init__(self, c: DirectoryConfig, release: ReleaseRef) -> None:
        self.root = c.path
        self.target = c.path / c.layout.format(**release.values())
        # Temp files live beside the release dir, not in it, and carry host and pid: a run killed
        # mid-copy leaves nothing in the release dir, and the next run on this host removes them.
        self.tmp_root = c.path / TMP_DIR_NAME
        self.tmp = self.tmp_root / f"{socket.gethostname()}-{os.getpid()}"

    def where(self, f: LocalFile) -> str:
        return str(self.target / f.name)

    def start(self) -> None:
        if not self.root.is_dir():
            raise PublishError(f"directory: {self.root} does not exist",
                               hint="create it (or mount it), or fix publish.directory.path")
        self._remove_stale_tmp()

    def _remove_stale_tmp(self) -> None:
        if not self.tmp_root.is_dir():
            return
        host = socket.gethostname()
        for d in self.tmp_root.iterdir():
            owner, _, pid = d.name.rpartition("-")
            if owner == host and pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(d, ignore_errors=True)

    def put(self, f: LocalFile) -> tuple[Action, str]:
        dest = self.target / f.name
        exists = dest.is_file()
        if exists and dest.stat().st_size == f.size and sha256_file(dest) == f.sha256:
            return "skipped", "same size and sha256"
        try:
            with atomic_writer(dest, mode=0o644, tmp_dir=self.tmp) as out, f.path.open("rb") as src:
                shutil.copyfileobj(src, out, CHUNK)
        except OSError as exc:
            raise PublishError(f"directory: {f.name}: cannot write {dest}: {exc.strerror or exc}") from None
        return ("replaced", "different content was there") if exists else ("uploaded", "")

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.tmp_root.rmdir()  # only if no other run's temp dir is in it
        if self.target.is_dir():
            fsync_dir(self.target)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- the entry point ------------------------------------------------------------------------------------

def _npm(cfg: Config, only: tuple[str, ...]) -> NpmConfig | None:
    """[channels.npm] when it publishes and `only` does not leave it out; else None."""
    nc = cfg.channels.npm
    if "npm" in only and (nc is None or not nc.publish):
        raise ConfigError(f"{cfg.project.config_path}: channels.npm: " + ("not configured" if nc is None else "publish = false"),
                          hint="add [channels.npm] (docs/channels-npm.md)" if nc is None else "set channels.npm.publish = true")
    if nc is None or not nc.publish or (only and "npm" not in only):
        return None
    return nc


def _chosen(cfg: Config, pcfg: PublishConfig, only: tuple[str, ...]) -> list[DestinationConfig]:
    only = tuple(o for o in only if o != "npm")
    if not pcfg.destinations:
        raise ConfigError(f"{cfg.project.config_path}: publish: no destination configured",
                          hint="add [publish.github], [publish.http] or [publish.directory] (docs/publishing.md)")
    for name in only:
        if name not in DESTINATIONS:
            near = suggest(name, list(DESTINATIONS))
            raise ConfigError(f"publish destination {name!r} is unknown" + (f"; did you mean {near!r}?" if near else ""),
                              hint="destinations: " + ", ".join(DESTINATIONS))
        if pcfg.get(name) is None:
            raise ConfigError(f"{cfg.project.config_path}: publish.{name}: not configured",
                              hint="configured: " + ", ".join(d.kind for d in pcfg.destinations))
    return [d for d in pcfg.destinations if not only or d.kind in only]


def _open(cfg: Config, d: DestinationConfig, release: ReleaseRef) -> Destination:
    """The destination, with its credentials read from the environment (now, and only here)."""
    if isinstance(d, GitHubConfig):
        token = _secret(cfg, "github.token-env", d.token_env)
        mask_for_ci([token])
        return GitHubDestination(d, release, token)
    if isinstance(d, HttpConfig):
        bearer = _secret(cfg, "http.token-env", d.token_env) if d.token_env else None
        basic = None
        if d.user_env and d.password_env:
            basic = (_secret(cfg, "http.user-env", d.user_env), _secret(cfg, "http.password-env", d.password_env))
        mask_for_ci([bearer or "", basic[1] if basic else ""])
        return HttpDestination(d, release, bearer, basic)
    return DirectoryDestination(d, release)


def _dry(d: DestinationConfig, release: ReleaseRef) -> Destination:
    # Built without credentials: a dry run reads no secret and makes no network call.
    if isinstance(d, GitHubConfig):
        return GitHubDestination(d, release, "")
    if isinstance(d, HttpConfig):
        return HttpDestination(d, release, None, None)
    return DirectoryDestination(d, release)


def publish(cfg: Config, dist: Path, only: tuple[str, ...] = (), dry: bool = False,
            log: Callable[[str], None] = print) -> list[PublishResult]:
    """Upload dist/'s release to every configured destination (or those in `only`), in order.

    Raises ConfigError for configuration and missing credentials, PublishError for a failed
    transfer (its `results` say what was done before). Rerunning is always safe.
    """
    pcfg = cfg.publish
    npm = _npm(cfg, only)
    file_only = only == ("npm",) or (npm is not None and not only and not pcfg.destinations)
    chosen = [] if file_only else _chosen(cfg, pcfg, only)
    release, files = collect(dist)
    results: list[PublishResult] = []

    def record(result: PublishResult) -> None:
        results.append(result)
        log(result.line())

    if npm is not None:
        # Package registries first: a release page that links to `npm install` should find it there.
        from .channels.npm import publish_npm
        from .manifest import Manifest
        from .record import tmp_dir

        manifest = Manifest.load(dist)
        try:
            rows = publish_npm(npm, dist, manifest.artifacts if manifest else [], dry=dry, log=log, tmp=tmp_dir(dist))
        except WavryError as exc:
            raise PublishError(exc.message, hint=exc.hint, results=list(results)) from None
        for file, action, detail in rows:
            results.append(PublishResult("npm", file, action, detail))  # type: ignore[arg-type]

    if dry:
        for d in chosen:
            dest = _dry(d, release)
            for f in files:
                record(PublishResult(d.kind, f.name, "would upload", dest.where(f)))
        return results
    # Every credential is read before the first byte goes anywhere: a missing one fails fast.
    dests = [_open(cfg, d, release) for d in chosen]
    try:
        for dest in dests:
            dest.start()
            for f in files:
                action, detail = dest.put(f)
                record(PublishResult(dest.kind, f.name, action, detail))
    except PublishError as exc:
        exc.results = list(results)
        raise
    finally:
        for dest in dests:
            dest.close()
    return results
