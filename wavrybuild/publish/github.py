"""[publish.github]: assets of a GitHub release (REST API; github.com or GitHub Enterprise)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from ..config.publish import (
    GitHubConfig,
)
from .base import (
    GITHUB_PER_PAGE,
    Action,
    HttpClient,
    LocalFile,
    PublishError,
    ReleaseRef,
    auth_hints,
)


class GitHubDestination:
    kind = "github"

    def __init__(self, c: GitHubConfig, release: ReleaseRef, token: str) -> None:
        self.c = c
        self.ref = release
        try:  # the tag template was checked at load; the real version and commit are checked here
            self.tag = c.tag.render(release.values())
        except ValueError as exc:
            raise PublishError(f"github: publish.github.tag: {exc}", hint="fix publish.github.tag") from None
        self.prerelease = release.is_prerelease if c.prerelease is None else c.prerelease
        self.http = HttpClient("github", [token], {
            **auth_hints(c.token_env, c.repo),
            403: f"${c.token_env} may not write releases of {c.repo} (it needs contents: write)",
            404: f"check publish.github.repo ({c.repo}) and that ${c.token_env} can see it",
        })
        self.http.session.headers.update({"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"})
        # The token goes to the API's origin only (and to the upload host, once known): never along
        # a redirect to asset storage or anywhere else.
        self.http.authorize(c.api_url, bearer=token)
        self.repo_url = f"{c.api_url}/repos/{c.repo}"
        self.release: dict[str, Any] = {}
        self.upload_base = ""
        self.assets: dict[str, dict[str, Any]] = {}

    def where(self, f: LocalFile) -> str:
        return f"{self.c.repo} release {self.tag}: asset {PurePosixPath(f.name).name}"

    @property
    def commit(self) -> str | None:
        return self.ref.commit if re.fullmatch(r"[0-9a-f]{40}", self.ref.commit) else None

    def start(self) -> None:
        found = self._find_release()
        if self.c.rolling and self.commit is None:
            raise PublishError(f"github: release {self.tag}: a rolling tag is re-pointed at the release's commit, "
                               "and this release has none", hint="release from a git checkout")
        self.release = found or self._create_release()
        if found is not None and self.c.rolling and not found.get("draft"):
            self._repoint_tag()
        if self.c.upload_url:
            self.upload_base = f"{self.c.upload_url}/repos/{self.c.repo}/releases/{self.release['id']}/assets"
        else:
            # "https://uploads.github.com/repos/o/r/releases/1/assets{?name,label}": drop the URI template.
            self.upload_base = re.sub(r"\{[^}]*\}$", "", str(self.release.get("upload_url", "")))
        if not self.upload_base:
            raise PublishError(f"github: release {self.tag}: the API returned no upload_url",
                               hint="set publish.github.upload-url")
        # uploads.github.com is another origin than api.github.com: the API that holds the token names it.
        self.http.share(self.c.api_url, self.upload_base)
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
                raise self.http.fail(f"github: {what}: GET {next_url}: expected a JSON list")
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

    def _repoint_tag(self) -> None:
        """A rolling tag (nightly, website-latest) moves to this release's commit."""
        what = f"release {self.tag}: move the tag to {self.commit}"
        resp = self.http.call("PATCH", f"{self.repo_url}/git/refs/tags/{quote(self.tag, safe='/')}", what,
                              json={"sha": self.commit, "force": True}, expect=(200, 422))
        if resp.status_code == 422:  # no such ref (deleted by hand): make it
            self.http.call("POST", f"{self.repo_url}/git/refs", what, expect=(201,),
                           json={"ref": f"refs/tags/{self.tag}", "sha": self.commit}).close()
        resp.close()

    def _create_release(self) -> dict[str, Any]:
        # Always a draft first: assets go up while nobody can see a half-uploaded release (and a
        # repository with immutable releases accepts uploads only then); `finish` publishes it.
        body: dict[str, Any] = {"tag_name": self.tag, "name": self.tag, "draft": True, "prerelease": self.prerelease,
                                "body": self.ref.notes}
        if self.commit:
            body["target_commitish"] = self.commit  # where the tag is made when the draft is published
        if not self.c.latest:
            body["make_latest"] = "false"
        resp = self.http.call("POST", f"{self.repo_url}/releases", f"release {self.tag}: create", json=body,
                              expect=(201, 422))
        if resp.status_code == 201:
            return self.http.json_object(resp, f"release {self.tag}: create")
        # 422: someone created it between our lookup and now (a concurrent run); use theirs.
        found = self._find_release()
        if found is None:
            raise self.http.fail(f"github: release {self.tag}: create: HTTP 422: {self.http.server_message(resp)}",
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
        # this Accept works for private repositories; the HTTP layer drops the token on the redirect to storage.
        url = asset.get("url") or asset.get("browser_download_url")
        return self.http.sha256_of(str(url), f"{name}: download to compare", {"Accept": "application/octet-stream"})

    def _delete(self, asset: dict[str, Any], name: str) -> None:
        self.http.call("DELETE", f"{self.repo_url}/releases/assets/{asset['id']}", f"{name}: delete old asset",
                       expect=(204, 404)).close()
        self.assets.pop(name, None)

    def _upload(self, f: LocalFile, name: str) -> dict[str, Any]:
        with f.path.open("rb") as body:
            resp = self.http.call(
                "POST", self.upload_base, f"{name}: upload", expect=(201,), transfer=True,
                params={"name": name}, data=body,
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(f.size)},
            )
        asset = self.http.json_object(resp, f"{name}: upload")
        digest = asset.get("digest")
        if asset.get("size") != f.size or (isinstance(digest, str) and digest != f"sha256:{f.sha256}"):
            raise self.http.fail(f"github: {name}: the uploaded asset has size {asset.get('size')} and {digest}, "
                                 f"expected {f.size} and sha256:{f.sha256}", hint="rerun to replace it")
        return asset

    def select(self, files: list[LocalFile]) -> list[LocalFile]:
        return files

    def finish(self, files: list[LocalFile]) -> list[tuple[str, Action, str]]:
        names = {PurePosixPath(f.name).name for f in files}
        missing = sorted(n for n in names if self.assets.get(n, {}).get("state", "uploaded") != "uploaded"
                         or n not in self.assets)
        if missing:
            raise PublishError(f"github: release {self.tag}: not published: assets missing: {', '.join(missing)}",
                               hint="rerun `invoke publish`: it uploads what is missing")
        rows: list[tuple[str, Action, str]] = []
        if self.c.rolling:
            for name in sorted(set(self.assets) - names):
                self._delete(self.assets[name], name)
                rows.append((name, "removed", f"not part of this {self.tag} release"))
        want: dict[str, Any] = {"prerelease": self.prerelease}
        if self.ref.notes:
            want["body"] = self.ref.notes
        if self.c.rolling or self.release.get("draft"):
            want["target_commitish"] = self.commit
        if not self.c.draft:
            want["draft"] = False
        patch = {k: v for k, v in want.items() if v is not None and self.release.get(k) != v}
        if not patch:
            return rows
        if patch.get("draft") is False and not self.c.latest:
            patch["make_latest"] = "false"  # GitHub makes a newly published release "Latest" unless told not to
        what = f"release {self.tag}: " + ("publish" if patch.get("draft") is False else "update")
        resp = self.http.call("PATCH", f"{self.repo_url}/releases/{self.release['id']}", what, json=patch)
        self.release = self.http.json_object(resp, what)
        detail = ", ".join(sorted(patch))
        rows.append((f"release {self.tag}", "published" if patch.get("draft") is False else "updated", detail))
        return rows

    def close(self) -> None:
        self.http.close()


