"""[publish.gitlab]: the release files in the project's generic package registry, then a GitLab
Release (tag, notes, one asset link per file). REST API v4: https://docs.gitlab.com/api/packages/generic_packages/
and https://docs.gitlab.com/api/releases/.

Idempotent: the package's file list (with each file's sha256) is read first; the same bytes are
skipped, other bytes are uploaded and the old file of that name deleted, so a rerun after a kill
ends with exactly one file per name. GitLab keeps an upload only once its last byte arrived.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from ..config.publish import GitLabConfig
from .base import Action, HttpClient, LocalFile, PublishError, ReleaseRef, auth_hints

PER_PAGE = 100


class GitLabDestination:
    kind = "gitlab"

    def __init__(self, c: GitLabConfig, release: ReleaseRef, token: str, project: str, api_url: str) -> None:
        self.c = c
        self.ref = release
        values = release.values()
        try:  # the templates were checked at load; the real version and commit are checked here
            self.package = c.package.render(values)
            self.version = c.package_version.render(values)
            self.tag = c.tag.render(values)
        except ValueError as exc:
            raise PublishError(f"gitlab: publish.gitlab: {exc}", hint="fix publish.gitlab's templates") from None
        self.project = project
        self.api = api_url.rstrip("/")
        self.base = f"{self.api}/projects/{quote(project, safe='')}"
        self.http = HttpClient("gitlab", [token], {
            **auth_hints(c.token_env, project),
            403: f"${c.token_env} may not write packages or releases of {project}",
            404: f"check publish.gitlab.project ({project}) and that ${c.token_env} can see it",
        })
        job = c.token_kind == "job" or (c.token_kind == "auto" and c.token_env == "CI_JOB_TOKEN")
        if token:
            # Bound to the API's origin: a 302 to another host or port (object storage) goes without it.
            self.http.authorize(self.api, headers={"JOB-TOKEN" if job else "PRIVATE-TOKEN": token})
        self.files: dict[str, list[dict[str, Any]]] = {}  # file name -> package files of that name
        self.package_id: int | None = None

    def select(self, files: list[LocalFile]) -> list[LocalFile]:
        return files

    def file_url(self, name: str) -> str:
        parts = (quote(x, safe="") for x in (self.package, self.version, name))
        return f"{self.base}/packages/generic/" + "/".join(parts)

    def where(self, f: LocalFile) -> str:
        return f"{self.project}: package {self.package} {self.version}: {self._name(f)}"

    @staticmethod
    def _name(f: LocalFile) -> str:
        # Generic package file names are flat; a `sub/file` name travels as `sub%2Ffile`'s basename.
        return PurePosixPath(f.name).name

    def _paged(self, url: str, what: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        page = 1
        for _ in range(1000):
            resp = self.http.call("GET", url, what, params={**(params or {}), "per_page": PER_PAGE, "page": page})
            items = self.http.json(resp, what)
            if not isinstance(items, list):
                raise self.http.fail(f"gitlab: {what}: GET {url}: expected a JSON list")
            yield from items
            nxt = resp.headers.get("X-Next-Page", "")
            if not nxt.strip() or not items:
                return
            page = int(nxt)

    def start(self) -> None:
        what = f"package {self.package} {self.version}"
        found = [p for p in self._paged(f"{self.base}/packages", f"{what}: find",
                                        {"package_type": "generic", "package_name": self.package})
                 if p.get("name") == self.package and p.get("version") == self.version]
        self.files = {}
        if found:
            self.package_id = int(found[0]["id"])
            for pf in self._paged(f"{self.base}/packages/{self.package_id}/package_files", f"{what}: list files"):
                self.files.setdefault(str(pf.get("file_name")), []).append(pf)

    def _delete(self, pf: dict[str, Any], name: str) -> None:
        self.http.call("DELETE", f"{self.base}/packages/{pf['package_id']}/package_files/{pf['id']}",
                       f"{name}: delete the old file", expect=(204, 404)).close()

    def put(self, f: LocalFile) -> tuple[Action, str]:
        name = self._name(f)
        old = self.files.get(name, [])
        same = [pf for pf in old if pf.get("file_sha256") == f.sha256 and pf.get("size") == f.size]
        if same:
            for pf in old:
                if pf is not same[-1]:
                    self._delete(pf, name)  # duplicates from an earlier run or another uploader
            self.files[name] = [same[-1]]
            return "skipped", "same size and sha256"
        with f.path.open("rb") as body:
            # Not idempotent: GitLab keeps every upload of a name (a second PUT is a duplicate).
            resp = self.http.call("PUT", self.file_url(name), f"{name}: upload", expect=(200, 201),
                                  transfer=True, idempotent=False, params={"select": "package_file"}, data=body,
                                  headers={"Content-Type": "application/octet-stream", "Content-Length": str(f.size)})
        new = self.http.json_object(resp, f"{name}: upload")
        if new.get("file_sha256") not in (None, f.sha256):
            raise self.http.fail(f"gitlab: {name}: the uploaded file has sha256 {new.get('file_sha256')}, expected {f.sha256}",
                                 hint="rerun to replace it")
        for pf in old:
            self._delete(pf, name)
        self.files[name] = [new]
        return ("replaced", "a file of that name had different content") if old else ("uploaded", "")

    def finish(self, files: list[LocalFile]) -> list[tuple[str, Action, str]]:
        if not self.c.release:
            return []
        rows: list[tuple[str, Action, str]] = []
        what = f"release {self.tag}"
        resp = self.http.call("GET", f"{self.base}/releases/{quote(self.tag, safe='')}", what, expect=(200, 403, 404))
        release = self.http.json_object(resp, what) if resp.status_code == 200 else None
        resp.close()
        if release is None:
            body: dict[str, Any] = {"name": self.tag, "tag_name": self.tag, "description": self.ref.notes}
            if self.ref.commit != "nocommit":
                body["ref"] = self.ref.commit  # where GitLab makes the tag when it does not exist yet
            self.http.call("POST", f"{self.base}/releases", f"{what}: create", expect=(201,), json=body).close()
            rows.append((what, "published", f"tag {self.tag}"))
        elif self.ref.notes and release.get("description") != self.ref.notes:
            self.http.call("PUT", f"{self.base}/releases/{quote(self.tag, safe='')}", f"{what}: update notes",
                           json={"description": self.ref.notes}).close()
            rows.append((what, "updated", "notes"))
        links_url = f"{self.base}/releases/{quote(self.tag, safe='')}/assets/links"
        links = {str(link.get("name")): link for link in self._paged(links_url, f"{what}: list links")}
        for f in files:
            name = self._name(f)
            want = {"name": name, "url": self.file_url(name), "direct_asset_path": f"/{name}",
                    "link_type": "package" if f.name.endswith((".whl", ".deb", ".rpm", ".tgz")) else "other"}
            have = links.get(name)
            if have is None:
                self.http.call("POST", links_url, f"{what}: link {name}", expect=(201,), json=want).close()
                rows.append((f"link {name}", "uploaded", ""))
            elif have.get("url") != want["url"] or have.get("link_type") != want["link_type"]:
                self.http.call("PUT", f"{links_url}/{have['id']}", f"{what}: link {name}", json=want).close()
                rows.append((f"link {name}", "updated", ""))
        return rows

    def close(self) -> None:
        self.http.close()
