"""[channels.homebrew] tap: the formula the package-managers stage wrote, committed to a Homebrew tap
repository through GitHub's contents API (GET then PUT /repos/{owner}/{repo}/contents/{path}),
idempotently: the file's git blob sha is compared with the formula's own, and the same bytes send
nothing; a changed formula is PUT with the sha of the blob it replaces (GitHub refuses a PUT over
a file whose sha it was not given), a missing one without a sha (GitHub creates it).

The formula is read from dist/ and checked against manifest.json (size and sha256) before anything
is sent. The token comes from the variable tap-token-env names, read before the first request, and
goes to the API's origin only; it never appears in a message."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .. import env as env_
from ..config import Config
from ..config.pkgmanagers import TapConfig
from ..errors import ConfigError
from ..manifest import Manifest
from ..ui import mask_for_ci
from .base import HttpClient, PublishError, PublishResult, auth_hints


@dataclass(frozen=True)
class Formula:
    tap: TapConfig
    path: str  # in the tap repository
    name: str  # the file in dist/
    data: bytes
    version: str

    @property
    def where(self) -> str:
        return f"{self.tap.repo}: {self.path}" + (f" on {self.tap.branch}" if self.tap.branch else "")


def git_blob_sha(data: bytes) -> str:
    """The sha git (and GitHub's contents API) gives a file's bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def taps(cfg: Config) -> list[TapConfig]:
    """Every bundle's configured tap (what `publish` will commit to)."""
    out = []
    for bundle in cfg.bundles:
        hb = cfg.view(bundle).channels.homebrew
        if hb is not None and hb.tap is not None:
            out.append(hb.tap)
    return out


def formulas(cfg: Config, dist: Path) -> list[Formula]:
    """The formulas to commit, each read from dist/ and checked against manifest.json."""
    manifest = Manifest.load(dist)
    out = []
    for bundle in cfg.bundles:
        view = cfg.view(bundle)
        hb = view.channels.homebrew
        if hb is None or hb.tap is None:
            continue
        name = f"{view.project.name}.rb"
        art = next((a for a in manifest.artifacts if a.kind == "homebrew" and a.path == name), None) if manifest else None
        path = dist / name
        if art is None or not path.is_file():
            raise PublishError(f"channels.homebrew.tap: {path} is not in {Manifest.path(dist)}",
                               hint="run `invoke package-managers` (or `invoke release`) first")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != art.sha256:
            raise PublishError(f"channels.homebrew.tap: {path}: changed since it was written (sha256 differs from "
                               "manifest.json)", hint="run `invoke package-managers` again")
        out.append(Formula(hb.tap, str(hb.tap.path_of(view.project.name)), name, data, view.project.version))
    return out


def _token(cfg: Config, tap: TapConfig) -> str:
    value = env_.secret_value(tap.token_env)
    if not value:
        raise ConfigError(f"{cfg.project.config_path}: channels.homebrew.tap-token-env: environment variable "
                          f"{tap.token_env} is not set (or empty)",
                          hint=f"export {tap.token_env} with a token that may write {tap.repo}'s contents")
    return value


def prepare(cfg: Config, dist: Path) -> list[tuple[Formula, str]]:
    """Every formula with its token, read now: `publish` calls this before its first upload."""
    todo = formulas(cfg, dist)
    tokens = [_token(cfg, f.tap) for f in todo]
    mask_for_ci(tokens)
    return list(zip(todo, tokens, strict=True))


def dry_rows(cfg: Config, dist: Path) -> list[PublishResult]:
    """What `publish` would commit: no credential read, nothing contacted."""
    return [PublishResult("homebrew", f.name, "would upload", f.where) for f in formulas(cfg, dist)]


def publish_tap(jobs: list[tuple[Formula, str]], log: Callable[[str], None]) -> list[PublishResult]:
    """Commit each formula to its tap (after the release's files are uploaded: its URLs then work)."""
    results: list[PublishResult] = []
    for f, token in jobs:
        try:
            row = _commit(f, token)
        except PublishError as exc:
            exc.results = results + exc.results
            raise
        results.append(row)
        log(row.line())
    return results


def _commit(f: Formula, token: str) -> PublishResult:
    tap = f.tap
    http = HttpClient("homebrew", [token], {
        **auth_hints(tap.token_env, tap.repo),
        403: f"${tap.token_env} may not write {tap.repo} (it needs contents: write)",
        404: f"check channels.homebrew.tap ({tap.repo}) and that ${tap.token_env} can see it",
    })
    try:
        http.session.headers.update({"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"})
        http.authorize(tap.api_url, bearer=token)
        url = f"{tap.api_url}/repos/{tap.repo}/contents/{quote(f.path)}"
        ref = {"ref": str(tap.branch)} if tap.branch else {}
        what = f"tap {f.where}"
        resp = http.call("GET", url, f"{what}: read", expect=(200, 404), params=ref)
        old: str | None = None
        if resp.status_code == 200:
            body = http.json_object(resp, f"{what}: read")
            if body.get("type") != "file" or not isinstance(body.get("sha"), str):
                raise http.fail(f"homebrew: {what}: the tap holds something else than a file there",
                                hint="choose another channels.homebrew.tap-path")
            old = str(body["sha"])
            if old == git_blob_sha(f.data):
                return PublishResult("homebrew", f.name, "skipped", f"{f.where}: the same formula is there")
        put: dict[str, str] = {"message": f"{Path(f.name).stem} {f.version}",
                               "content": base64.b64encode(f.data).decode()}
        if old is not None:
            put["sha"] = old
        if tap.branch:
            put["branch"] = str(tap.branch)
        http.call("PUT", url, f"{what}: write", expect=(200, 201), json=put)
        return PublishResult("homebrew", f.name, "updated" if old else "uploaded", f.where)
    finally:
        http.close()
