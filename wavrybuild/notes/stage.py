"""The notes stage ([release]): dist/RELEASE_NOTES.md from the changelog (or the commits since the
previous tag) and the manifest, listed in the manifest (and so in SHA256SUMS) like every other
release file."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import ClassVar

from .. import env as env_
from ..config import Config
from ..config.checks import TagTemplate
from ..config.values import CommitId
from ..dist import Transaction, writes
from ..errors import WavryError
from ..fsutil import Refused, read_regular
from ..manifest import Manifest
from ..pipeline.stage import Run, Step
from .changelog import NOTES_NAME, changelog_section, render
from .commits import CommitLinks, Unread, github_links, gitlab_links, read_history, repository_links
from .commits import section as changes_section

KIND = "notes"
CHANGELOG_LIMIT = 16 << 20  # bytes: years of a busy project's changelog are a few hundred KiB


def release_tag(cfg: Config, manifest: Manifest) -> tuple[TagTemplate, dict[str, str]]:
    """The template the release's tag is made from (the release page's), and the values it is
    rendered with (publish.base.ReleaseRef's, from the manifest)."""
    dest = cfg.publish.github or cfg.publish.gitlab
    template = dest.tag if dest is not None else TagTemplate("v{version}")
    commit = manifest.git.get("commit") if isinstance(manifest.git, dict) else None
    day = datetime.datetime.fromtimestamp(manifest.source_date_epoch, datetime.UTC).strftime("%Y-%m-%d")
    return template, {"name": manifest.name, "version": manifest.version,
                      "commit": str(commit) if commit else "nocommit", "date": day}


def commit_links(cfg: Config) -> CommitLinks | None:
    """Where the commits are shown: the GitHub repository published to, else the GitLab project
    (on the API's site, as the publish stage finds it), else Cargo.toml's `repository` on a known forge."""
    github, gitlab = cfg.publish.github, cfg.publish.gitlab
    if github is not None:
        return github_links(github.api_url, github.repo)
    if gitlab is not None and gitlab.project is not None:
        links = gitlab_links(gitlab.api_url or env_.var("CI_API_V4_URL") or "https://gitlab.com/api/v4", gitlab.project)
        if links is not None:
            return links
    repository = cfg.project.repository
    return repository_links(repository) if repository else None


def commits_section(cfg: Config, manifest: Manifest) -> str | Unread:
    """The changes since the previous tag, or why they cannot be listed."""
    commit = manifest.git.get("commit") if isinstance(manifest.git, dict) else None
    if not isinstance(commit, str) or not CommitId.valid(commit):
        return Unread("the release was not built from a git checkout (manifest.json names no commit)")
    template, values = release_tag(cfg, manifest)
    history = read_history(cfg.project.root, CommitId.parse(commit), template, values)
    return history if isinstance(history, Unread) else changes_section(history, commit_links(cfg))


def notes_text(run: Run, manifest: Manifest) -> str:
    cfg = run.cfg
    section: str | None = None
    path = cfg.release.changelog
    if cfg.release.source == "commits":
        found = commits_section(cfg, manifest)
        if isinstance(found, Unread):
            run.ui.warn(f"{NOTES_NAME}: no changes listed: {found.reason}")
        else:
            section = found
    elif path is not None and cfg.release.source == "changelog":
        try:
            text = read_regular(path, CHANGELOG_LIMIT).decode("utf-8")
        except Refused as exc:  # replaced by a FIFO or a device since the config was loaded, or huge
            raise WavryError(str(exc), hint="check [release] changelog") from None
        except UnicodeDecodeError as exc:
            raise WavryError(f"{path}: cannot be read ({exc})", hint="check [release] changelog") from None
        section = changelog_section(text, manifest.version)
        if section is None:
            raise WavryError(f"{path}: no section for version {manifest.version}",
                             hint=f"add a heading `## [{manifest.version}] - YYYY-MM-DD` with this release's changes")
    # render leaves out the notes and the provenance; an artifact of a kind not published is not listed.
    return render(cfg, manifest, section, manifest.released(cfg.release.publish))


class NotesStage:
    name: ClassVar[str] = "notes"

    def applies(self, run: Run) -> bool:
        return run.cfg.release.notes

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return {}  # unchanged notes are detected by their bytes

    def steps(self, run: Run, todo: Sequence[str] | None) -> Sequence[Step]:
        release = run.cfg.release
        source = {"changelog": f" with the {release.changelog.name if release.changelog else ''} section",
                  "commits": " with the changes since the previous tag", "none": ""}[release.source]
        if release.template is not None:
            source += f" laid out by {release.template.path.name}"
        return [Step.write(f"would write {run.state.dist / NOTES_NAME}{source}, listing every artifact",
                           lambda: self._write(run))]

    def _write(self, run: Run) -> bool:
        manifest = run.state.require_manifest()
        text = notes_text(run, manifest)
        tx = Transaction(run.state, KIND, manifest)
        tx.add(NOTES_NAME, writes(text.encode()), target="", triple="", fmt="md", binaries=[])
        changed = tx.commit(lambda a: True)
        run.ui.info(f"{run.state.dist / NOTES_NAME}: " + ("written" if tx.written else "unchanged"))
        return changed
