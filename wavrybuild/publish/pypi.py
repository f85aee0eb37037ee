"""[publish.pypi]: the release's wheels through the package-index upload API (PyPI's "legacy"
upload, which pypiserver, devpi, Artifactory and GitLab's PyPI registry implement too).

Idempotent like every destination: the index's simple page says which files are there and their
sha256; the same bytes are success, other bytes under that name an error (an index never replaces
a file). Without a token, under GitHub Actions or GitLab CI, the job's OIDC identity is exchanged
for a short-lived upload token (trusted publishing, https://docs.pypi.org/trusted-publishers/).
"""

from __future__ import annotations

import email.parser
import html
import re
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from .. import env as env_
from ..config.publish import PypiConfig
from ..errors import ConfigError
from ..net import redirect_policy
from .base import Action, HttpClient, LocalFile, PublishError, ReleaseRef

LINK = re.compile(r"<a\s[^>]*?href\s*=\s*[\"']([^\"']+)[\"'][^>]*>([^<]+)</a>", re.IGNORECASE)
# Core metadata fields the upload API takes as form fields (the rest of METADATA stays in the wheel).
FORM_FIELDS = {"Summary": "summary", "Home-page": "home_page", "Author": "author", "Author-email": "author_email",
               "License": "license", "Description-Content-Type": "description_content_type",
               "Requires-Python": "requires_python"}


def wheel_metadata(path: Path) -> email.message.Message:
    with zipfile.ZipFile(path) as zf:
        names = [n for n in zf.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
        if len(names) != 1:
            raise PublishError(f"pypi: {path.name}: not a wheel (no single .dist-info/METADATA)")
        return email.parser.Parser().parsestr(zf.read(names[0]).decode("utf-8"))


def upload_form(f: LocalFile) -> list[tuple[str, str]]:
    """The upload API's form fields for one wheel (https://docs.pypi.org/api/upload/)."""
    meta = wheel_metadata(f.path)
    form = [(":action", "file_upload"), ("protocol_version", "1"), ("filetype", "bdist_wheel"), ("pyversion", "py3"),
            ("metadata_version", str(meta["Metadata-Version"])), ("name", str(meta["Name"])),
            ("version", str(meta["Version"])), ("sha256_digest", f.sha256)]
    form += [(field, str(meta[key])) for key, field in FORM_FIELDS.items() if meta[key]]
    form += [("project_urls", str(v)) for v in meta.get_all("Project-URL") or []]
    body = meta.get_payload()
    if isinstance(body, str) and body.strip():
        form.append(("description", body))
    return form


class PypiDestination:
    kind = "pypi"

    def __init__(self, c: PypiConfig, release: ReleaseRef, token: str) -> None:
        self.c = c
        self.http = HttpClient("pypi", [token], {
            401: f"the upload token was refused: check ${c.token_env} (or the trusted publisher on the index)",
            403: "the token may not upload to this project (a project-scoped token of another project?)",
        })
        if token:
            # What PyPI's API tokens expect; sent to the upload URL's and the index's origins only,
            # not to a file host the simple page links to.
            self.http.authorize(c.repository_url, basic=("__token__", token))
            self.http.authorize(c.index_url, basic=("__token__", token))
        # Each project's simple page, read once per run (not once per wheel).
        self._pages: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {}

    def select(self, files: list[LocalFile]) -> list[LocalFile]:
        return [f for f in files if f.name.endswith(".whl") and "/" not in f.name]

    def where(self, f: LocalFile) -> str:
        return f"{self.c.repository_url} (project {self._project(f)})"

    def start(self) -> None:
        self._pages.clear()

    @staticmethod
    def _project(f: LocalFile) -> str:
        try:
            return str(parse_wheel_filename(f.name)[0])
        except InvalidWheelFilename as exc:
            raise PublishError(f"pypi: {f.name}: {exc}") from None

    def _listing(self, project: str) -> tuple[str, dict[str, tuple[str, str]]]:
        """(page URL, {file name: (sha256 or "", href)}) of the project's simple page."""
        url = self.c.index_url + canonicalize_name(project) + "/"
        for _ in range(3):
            resp = self.http.call("GET", url, f"{project}: list files", expect=(200, 404, 301, 302, 303, 307, 308),
                                  headers={"Accept": "text/html"}, allow_redirects=False)
            with resp:
                if resp.status_code == 200:
                    text = resp.text
                    break
                where = urljoin(url, resp.headers.get("Location", ""))
                if resp.status_code == 404:
                    return url, {}
                policy = redirect_policy(url, where)
                if policy == "refuse":
                    raise self.http.fail(f"pypi: {project}: GET {url}: refused a redirect from https to plain http "
                                         f"({where})", hint="use the index's https URL")
                # A fallback to another index (pypiserver sends unknown projects to pypi.org): this
                # index has no such project.
                if policy == "drop":
                    return url, {}
                url = where
        else:
            raise self.http.fail(f"pypi: {project}: {self.c.index_url}: too many redirects")
        files = {}
        for href, label in LINK.findall(text):
            href = html.unescape(href)
            fragment = urlsplit(href).fragment
            sha = fragment.split("=", 1)[1].lower() if fragment.startswith("sha256=") else ""
            files[html.unescape(label).strip()] = (sha, href)
        return url, files

    def _there(self, f: LocalFile, *, fresh: bool = False) -> str | None:
        """The sha256 of the index's file of this name, or None when it has none. `fresh`: read the
        page again (after "file exists": another run uploaded it meanwhile)."""
        project = self._project(f)
        if fresh or project not in self._pages:
            self._pages[project] = self._listing(project)
        url, files = self._pages[project]
        if f.name not in files:
            return None
        sha, href = files[f.name]
        return sha or self.http.sha256_of(urljoin(url, href), f"{f.name}: download to compare")

    def _same_or_refuse(self, f: LocalFile, sha: str) -> tuple[Action, str]:
        if sha == f.sha256:
            return "skipped", "on the index with the same sha256"
        raise PublishError(f"pypi: {f.name} is already on {self.c.index_url} with other contents "
                           f"(sha256 {sha[:16]}…, this release's {f.sha256[:16]}…)",
                           hint="a package index never replaces a file: release a new version")

    def put(self, f: LocalFile) -> tuple[Action, str]:
        there = self._there(f)
        if there is not None:
            return self._same_or_refuse(f, there)
        form = upload_form(f)
        with f.path.open("rb") as content:
            resp = self.http.call("POST", self.c.repository_url, f"{f.name}: upload", expect=(200, 201, 400, 409),
                                  transfer=True, data=form,
                                  files={"content": (f.name, content, "application/octet-stream")})
        with resp:
            if resp.status_code in (200, 201):
                return "uploaded", ""
            # "File already exists" (another run got there first): judge by what is there now.
            there = self._there(f, fresh=True)
            if there is not None:
                return self._same_or_refuse(f, there)
            raise self.http.fail(f"pypi: {f.name}: upload: HTTP {resp.status_code}: {self.http.server_message(resp)}",
                                 hint="the index refused the file; its message says why")

    def finish(self, files: list[LocalFile]) -> list[tuple[str, Action, str]]:
        return []

    def close(self) -> None:
        self.http.close()


# --- trusted publishing ------------------------------------------------------------------------------

def _ci_identity(c: PypiConfig, audience: str, http: HttpClient) -> str | None:
    """The CI job's OIDC token for `audience`: GitHub Actions hands one out on request (with
    `permissions: id-token: write`); GitLab CI puts it in the variable `id_tokens:` names."""
    url, request_token = env_.var("ACTIONS_ID_TOKEN_REQUEST_URL"), env_.secret_value("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if url and request_token:
        http.secret(request_token)
        resp = http.call("GET", url, "GitHub Actions OIDC token", params={"audience": audience},
                         headers={"Authorization": f"bearer {request_token}"})
        value = http.json_object(resp, "GitHub Actions OIDC token").get("value")
        if not isinstance(value, str) or not value:
            raise PublishError("pypi: GitHub Actions returned no OIDC token")
        return value
    return env_.secret_value(c.id_token_env) or None


def upload_token(c: PypiConfig, dry: bool = False) -> str:
    """The token from `token-env`, else (trusted publishing) one minted for this job's identity."""
    token = env_.secret_value(c.token_env)
    if token or dry:
        return token or ""
    missing = ConfigError(f"publish.pypi.token-env: environment variable {c.token_env} is not set (or empty), "
                          "and this job has no OIDC identity for trusted publishing",
                          hint=f"export {c.token_env}, or publish from GitHub Actions (permissions: id-token: write) "
                               f"or GitLab CI (id_tokens: {c.id_token_env}: aud: pypi) with a trusted publisher")
    if not c.trusted_publishing:
        raise missing
    http = HttpClient("pypi", [], {422: "the index does not trust this job: check its trusted publisher settings"})
    try:
        resp = http.call("GET", f"{c.oidc_url}/_/oidc/audience", "trusted publishing: audience", expect=(200, 404))
        if resp.status_code == 404:  # this index has no trusted publishing
            raise missing
        audience = http.json_object(resp, "trusted publishing: audience").get("audience")
        if not isinstance(audience, str):
            raise PublishError(f"pypi: {c.oidc_url}/_/oidc/audience: no audience in the answer")
        identity = _ci_identity(c, audience, http)
        if identity is None:
            raise missing
        http.secret(identity)
        resp = http.call("POST", f"{c.oidc_url}/_/oidc/mint-token", "trusted publishing: mint a token",
                         json={"token": identity}, expect=(200, 422))
        body: dict[str, Any] = http.json_object(resp, "trusted publishing: mint a token")
        if resp.status_code != 200 or not isinstance(body.get("token"), str):
            errors = "; ".join(str(e.get("description") or e.get("code")) for e in body.get("errors") or []
                               if isinstance(e, dict))
            raise http.fail(f"pypi: trusted publishing refused: {body.get('message') or resp.status_code}"
                            + (f": {errors}" if errors else ""),
                            hint="register this repository and workflow as a trusted publisher of the project")
        return str(body["token"])
    finally:
        http.close()

