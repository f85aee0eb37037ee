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

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .. import env as env_
from ..checksum import SUMS_NAME
from ..config import Config
from ..config.publish import (
    DESTINATIONS,
    CratesConfig,
    DestinationConfig,
    GitHubConfig,
    GitLabConfig,
    HttpConfig,
    PublishConfig,
    PypiConfig,
)
from ..errors import ConfigError, WavryError, suggest
from ..pipeline.requirements import AnyOf, EnvVar, Requirement
from ..ui import mask_for_ci

if TYPE_CHECKING:
    from ..config.npm import NpmConfig


from ..manifest import Manifest
from . import tap
from .base import Destination, LocalFile, PublishError, PublishResult, ReleaseRef, collect
from .crates import publish_crates
from .destinations import DirectoryDestination, HttpDestination
from .github import GitHubDestination
from .gitlab import GitLabDestination
from .npm import publish_npm
from .pypi import PypiDestination, upload_token

__all__ = ["PublishError", "PublishResult", "publish"]


def _secret(cfg: Config, key: str, env: str) -> str:
    value = env_.secret_value(env)
    if not value:
        raise ConfigError(f"{cfg.project.config_path}: publish.{key}: environment variable {env} is not set (or empty)",
                          hint=f"export {env} with the credential, or name another variable in publish.{key}")
    return value


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


REGISTRIES = ("npm", "crates", "container", "homebrew")  # published from their own inputs, not as dist/'s files


def _tap(cfg: Config, only: tuple[str, ...]) -> bool:
    """Whether the Homebrew formula is committed to a tap ([channels.homebrew] tap; `only` may choose it)."""
    if "homebrew" in only and not tap.taps(cfg):
        raise ConfigError(f"{cfg.project.config_path}: channels.homebrew.tap: not configured",
                          hint="add tap = \"owner/homebrew-tap\" to [channels.homebrew] (docs/channels-package-managers.md)")
    return bool(tap.taps(cfg)) and (not only or "homebrew" in only)


def _container(cfg: Config, only: tuple[str, ...]) -> bool:
    """Whether [channels.container]'s images are pushed (configured, and `only` does not leave them out)."""
    if "container" in only and cfg.channels.container is None:
        raise ConfigError(f"{cfg.project.config_path}: channels.container: not configured",
                          hint="add [channels.container] (docs/channels-container.md)")
    return cfg.channels.container is not None and (not only or "container" in only)


def _crates(cfg: Config, only: tuple[str, ...]) -> CratesConfig | None:
    cc = cfg.publish.crates
    if "crates" in only and cc is None:
        raise ConfigError(f"{cfg.project.config_path}: publish.crates: not configured",
                          hint='add [publish.crates] packages = ["…"] (docs/publishing.md)')
    return None if cc is None or (only and "crates" not in only) else cc


def _chosen(cfg: Config, pcfg: PublishConfig, only: tuple[str, ...]) -> list[DestinationConfig]:
    only = tuple(o for o in only if o not in REGISTRIES)
    if not pcfg.files:
        raise ConfigError(f"{cfg.project.config_path}: publish: no destination configured",
                          hint="add [publish.github], [publish.gitlab], [publish.pypi], [publish.http] or [publish.directory] "
                                   "(docs/publishing.md)")
    for name in only:
        if name not in DESTINATIONS:
            near = suggest(name, list(DESTINATIONS))
            raise ConfigError(f"publish destination {name!r} is unknown" + (f"; did you mean {near!r}?" if near else ""),
                              hint="destinations: " + ", ".join(DESTINATIONS))
        if pcfg.get(name) is None:
            raise ConfigError(f"{cfg.project.config_path}: publish.{name}: not configured",
                              hint="configured: " + ", ".join(d.kind for d in pcfg.destinations))
    return [d for d in pcfg.files if not only or d.kind in only]


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
    if isinstance(d, GitLabConfig):
        token = _secret(cfg, "gitlab.token-env", d.token_env)
        mask_for_ci([token])
        return GitLabDestination(d, release, token, *_gitlab_where(cfg, d))
    if isinstance(d, PypiConfig):
        token = upload_token(d)
        mask_for_ci([token])
        return PypiDestination(d, release, token)
    assert not isinstance(d, CratesConfig)  # published from the source, not as files
    return DirectoryDestination(d, release)


def credentials(cfg: Config, only: tuple[str, ...] = ()) -> list[Requirement]:
    """The variables `_open` and the registries will read, checked before a release builds
    (pipeline/requirements.py): the same choice of destinations as `publish`, no value read."""
    npm, crates = _npm(cfg, only), _crates(cfg, only)
    out: list[Requirement] = []
    if npm is not None:
        out.append(EnvVar(npm.token_env, "channels.npm.token-env"))
    if crates is not None:
        out.append(EnvVar(crates.token_env, "publish.crates.token-env"))
    oci = cfg.channels.container
    if oci is not None and _container(cfg, only):
        out += [EnvVar(name, f"channels.container.{key}") for name, key in
                ((oci.token_env, "token-env"), (oci.user_env, "user-env"), (oci.password_env, "password-env")) if name]
    if _tap(cfg, only):
        out += [EnvVar(t.token_env, "channels.homebrew.tap-token-env") for t in tap.taps(cfg)]
    registries_only = bool(only) and set(only) <= set(REGISTRIES)
    for d in [] if registries_only or not cfg.publish.files else _chosen(cfg, cfg.publish, only):
        if isinstance(d, GitHubConfig | GitLabConfig):
            out.append(EnvVar(d.token_env, f"publish.{d.kind}.token-env"))
        elif isinstance(d, HttpConfig):
            out += [EnvVar(name, f"publish.http.{key}") for name, key in
                    ((d.token_env, "token-env"), (d.user_env, "user-env"), (d.password_env, "password-env")) if name]
        elif isinstance(d, PypiConfig):
            token = EnvVar(d.token_env, "publish.pypi.token-env")
            oidc = (EnvVar("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "GitHub Actions id-token"),
                    EnvVar(d.id_token_env, "publish.pypi.id-token-env")) if d.trusted_publishing else ()
            out.append(AnyOf((token, *oidc), "publish.pypi.token-env",
                             f"export {d.token_env}" + (", or publish from GitHub Actions (permissions: id-token: "
                                                         f"write) or GitLab CI (id_tokens: {d.id_token_env})"
                                                         if d.trusted_publishing else "")) if oidc else token)
    return out


def _dry(d: DestinationConfig, release: ReleaseRef) -> Destination:
    # Built without credentials: a dry run reads no secret and makes no network call.
    if isinstance(d, GitHubConfig):
        return GitHubDestination(d, release, "")
    if isinstance(d, HttpConfig):
        return HttpDestination(d, release, None, None)
    if isinstance(d, PypiConfig):
        return PypiDestination(d, release, "")
    assert not isinstance(d, CratesConfig)  # published from the source, not as files
    if isinstance(d, GitLabConfig):
        project, api = d.project or env_.var("CI_PROJECT_ID") or "(CI_PROJECT_ID)", d.api_url or env_.var("CI_API_V4_URL")
        return GitLabDestination(d, release, "", project, api or "https://gitlab.com/api/v4")
    return DirectoryDestination(d, release)


def _gitlab_where(cfg: Config, d: GitLabConfig) -> tuple[str, str]:
    """The project and API URL: from targets.toml, else from the CI job's own variables."""
    project = d.project or env_.var("CI_PROJECT_ID")
    if not project:
        raise ConfigError(f"{cfg.project.config_path}: publish.gitlab.project: not set, and $CI_PROJECT_ID is not "
                          "either (not in a GitLab CI job)", hint='set project = "group/name" (or its numeric id)')
    return project, d.api_url or env_.var("CI_API_V4_URL") or "https://gitlab.com/api/v4"


def _registries(cfg: Config, dist: Path, npm: NpmConfig | None, crates: CratesConfig | None, dry: bool,
                log: Callable[[str], None], container: bool = False) -> list[PublishResult]:
    """npm packages, crates and container images (from their own files in dist/), each idempotent on its own."""
    results: list[PublishResult] = []
    if container:
        from .container import publish_container  # loaded only with [channels.container]

        results += publish_container(cfg, dist, dry=dry, log=log)
    if npm is not None:
        manifest = Manifest.load(dist)
        try:
            rows = publish_npm(npm, dist, manifest.artifacts if manifest else [], dry=dry, log=log)
        except WavryError as exc:
            raise PublishError(exc.message, hint=exc.hint) from None
        results += [PublishResult("npm", file, action, detail) for file, action, detail in rows]  # type: ignore[arg-type]
    if crates is not None:
        try:
            results += publish_crates(cfg, crates, dist, dry=dry, log=log)
        except PublishError as exc:
            exc.results = results + exc.results
            raise
    return results


def _same_choice(cfg: Config, dist: Path) -> None:
    """SHA256SUMS was written for the kinds targets.toml chooses now: else another set would go out."""
    manifest = Manifest.load(dist)
    kinds = cfg.release.publish
    if manifest is not None and manifest.published != (list(kinds) if kinds is not None else None):
        said = ", ".join(manifest.published) if manifest.published is not None else "every kind"
        raise PublishError(f"{dist / SUMS_NAME}: written for other kinds ({said}) than "
                           f"{cfg.project.config_path} release.publish chooses",
                           hint="run `invoke checksum` (and `invoke sign`) again")


def publish(cfg: Config, dist: Path, only: tuple[str, ...] = (), dry: bool = False,
            log: Callable[[str], None] = print) -> list[PublishResult]:
    """Upload dist/'s release to every configured destination (or those in `only`), in order.

    Raises ConfigError for configuration and missing credentials, PublishError for a failed
    transfer (its `results` say what was done before). Rerunning is always safe.
    """
    pcfg = cfg.publish
    npm, crates, container, to_tap = _npm(cfg, only), _crates(cfg, only), _container(cfg, only), _tap(cfg, only)
    registries_only = (bool(only) and set(only) <= set(REGISTRIES)) or (
        not only and not pcfg.files and (npm is not None or crates is not None or container or to_tap))
    chosen = [] if registries_only else _chosen(cfg, pcfg, only)
    # Crates are published from their own files in dist/: a crates-only run needs no SHA256SUMS.
    release, files = collect(dist) if chosen or npm is not None else (ReleaseRef("", "", ""), [])
    if chosen or npm is not None:
        _same_choice(cfg, dist)
    results: list[PublishResult] = []

    def record(result: PublishResult) -> None:
        results.append(result)
        log(result.line())

    # Package registries first: a release page that links to `npm install` should find it there.
    results += _registries(cfg, dist, npm, crates, dry, log, container)
    if dry:
        for d in chosen:
            dest = _dry(d, release)
            for f in dest.select(files):
                record(PublishResult(d.kind, f.name, "would upload", dest.where(f)))
            if isinstance(dest, GitHubDestination):
                record(PublishResult(d.kind, f"release {dest.tag}", "would publish",
                                     "a draft until the last upload" + ("; then left a draft" if dest.c.draft else "")))
            elif isinstance(dest, GitLabDestination) and dest.c.release:
                record(PublishResult(d.kind, f"release {dest.tag}", "would publish", "with a link to every file"))
        for row in tap.dry_rows(cfg, dist) if to_tap else []:
            record(row)
        return results
    # Every credential is read before the first byte goes anywhere: a missing one fails fast.
    dests = [_open(cfg, d, release) for d in chosen]
    tap_jobs = tap.prepare(cfg, dist) if to_tap else []
    try:
        for dest in dests:
            _upload_all(dest, files, record)
        # The tap last: its formula's URLs point at the files just uploaded.
        results += tap.publish_tap(tap_jobs, log)
    except PublishError as exc:
        exc.results = list(results)
        raise
    finally:
        for dest in dests:
            dest.close()
    return results


def _upload_all(dest: Destination, files: list[LocalFile], record: Callable[[PublishResult], None]) -> None:
    dest.start()
    mine = dest.select(files)
    for f in mine:
        action, detail = dest.put(f)
        record(PublishResult(dest.kind, f.name, action, detail))
    for what, action, detail in dest.finish(mine):
        record(PublishResult(dest.kind, what, action, detail))
