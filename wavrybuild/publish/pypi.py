"""[publish.pypi]: the release's wheels through the package-index upload API (PyPI's "legacy"
upload, which pypiserver, devpi, Artifactory and GitLab's PyPI registry implement too), sent by
twine (PyPA's uploader, run through proc.py with the token in its environment).

Idempotent like every destination: the index's simple page says which files are there and their
sha256; the same bytes are success, other bytes under that name an error (an index never replaces
a file). Without a token, under GitHub Actions or GitLab CI, the job's OIDC identity is exchanged
for a short-lived upload token (trusted publishing, https://docs.pypi.org/trusted-publishers/).
"""

from __future__ import annotations

import contextlib
import html
import importlib.util
import json
import os
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from .. import env as env_
from .. import proc
from ..config.publish import PypiConfig
from ..errors import ConfigError
from ..net import redirect_policy
from .base import Action, HttpClient, LocalFile, PublishError, ReleaseRef

LINK = re.compile(r"<a\s[^>]*?href\s*=\s*[\"']([^\"']+)[\"'][^>]*>([^<]+)</a>", re.IGNORECASE)


def twine_command(repository_url: str, wheel: Path, token: str) -> proc.Command:
    """`twine upload` of one wheel (twine reads the core metadata from the wheel and sends the
    upload API's form, https://docs.pypi.org/api/upload/). The token reaches twine through its
    environment (TWINE_PASSWORD), never argv; ~/.pypirc and the keyring are not consulted."""
    return proc.Command(
        (sys.executable, "-m", "twine", "--no-color", "upload", "--non-interactive", "--disable-progress-bar", "--verbose",
         "--config-file", os.devnull, "--repository-url", repository_url, str(wheel)),
        env={"TWINE_USERNAME": "__token__", "TWINE_PASSWORD": token, "PYTHON_KEYRING_BACKEND":
             "keyring.backends.null.Keyring"},
        secret_env=frozenset({"TWINE_PASSWORD"}),
        unset_env=frozenset({"TWINE_REPOSITORY", "TWINE_REPOSITORY_URL", "TWINE_CERT", "TWINE_CLIENT_CERT",
                             "TWINE_USERNAME"}),
    )


TWINE_LEVEL = re.compile(r"^(?:INFO|ERROR|WARNING|DEBUG)\s+")
TWINE_HTTP_ERROR = re.compile(r"HTTPError: ([0-9]{3})\b(.*?) from ")


def _status(output: str) -> int:
    m = TWINE_HTTP_ERROR.search(output)
    return int(m.group(1)) if m else 0


def twine_failure(output: str) -> str:
    """What went wrong, from `twine --verbose upload`'s output: `HTTP <status> <reason>: <the
    index's own message>` (JSON `message`/`error`, else its first line of text), or twine's last
    error lines (not a wheel, no connection). Raw: the caller scrubs it."""
    lines = [TWINE_LEVEL.sub("", line).strip() for line in output.splitlines()]
    lines = [line for line in lines if line]
    m = TWINE_HTTP_ERROR.search(output)
    if m is None:
        errors = [TWINE_LEVEL.sub("", line).strip() for line in output.splitlines() if line.startswith("ERROR")]
        return "twine failed: " + (" ".join(errors or lines[-3:]) or "no message")[:400]
    status = f"HTTP {m.group(1)}{m.group(2).rstrip()}"
    start = next((i for i, line in enumerate(lines) if line.startswith("Response from ")), None)
    end = next((i for i, line in enumerate(lines) if line.startswith("HTTPError: ")), len(lines))
    body = "\n".join(lines[start + 2:end]) if start is not None else ""
    detail = ""
    with contextlib.suppress(ValueError):
        data = json.loads(body)
        if isinstance(data, dict):
            detail = str(data.get("message") or data.get("error") or "")
    if not detail and body and not body.startswith("<"):
        detail = body.splitlines()[0]
    detail = " ".join(detail.split())[:200]
    return status + (f": {detail}" if detail else "")


class PypiDestination:
    kind = "pypi"

    def __init__(self, c: PypiConfig, release: ReleaseRef, token: str) -> None:
        self.c = c
        self.token = token
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
        if importlib.util.find_spec("twine") is None:
            raise PublishError(f"pypi: {f.name}: twine is not installed in this Python ({sys.executable})",
                               hint="pip install twine (a dependency of wavrybuild: reinstall wavrybuild with its dependencies)")
        # The upload itself is twine's (it retries nothing but GETs: a POST that may have landed is
        # judged by the index below instead).
        done = proc.run(twine_command(self.c.repository_url, f.path, self.token), check=False,
                        secrets=(self.token,), tail_lines=12)
        if done.returncode == 0:
            return "uploaded", ""
        # "File already exists" (another run got there first), or an answer lost after the file
        # landed: judge by what is there now.
        there = self._there(f, fresh=True)
        if there is not None:
            return self._same_or_refuse(f, there)
        raise self.http.fail(f"pypi: {f.name}: upload: POST {self.c.repository_url}: {twine_failure(done.stdout)}",
                             hint=self.http.hints.get(_status(done.stdout), "the index refused the file (its message "
                                                      "says why); rerunning resumes where this stopped"))

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

