"""Release or snapshot: whether this checkout is a release (HEAD at its release tag, a clean tree)
or a snapshot, which is built and packaged with a snapshot version and never published.

The decision is a pure function of the checkout's state (`decide`); git is read once, through
proc.py (`read_git`). The release tag is the one the release page is made from: [publish.github]
or [publish.gitlab] `tag`, else `v{version}` (or a bare `{version}`). A snapshot's versions carry a
suffix every package format sorts before the release: semver `1.2.3-snapshot.g<sha7>` (npm, archive
names, Cargo-style), Debian and rpm `1.2.3~snapshot.g<sha7>` (channels/linux/nfpm.package_version),
PEP 440 `1.2.3.dev0+snapshot.g<sha7>` (`pep440_local`; never uploaded, so a local label is fine).
Publishing an untagged or dirty tree takes `invoke release --publish-untagged` or
WAVRYBUILD_PUBLISH_UNTAGGED=1 (docs/publishing.md "Snapshot or release")."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import env as env_
from . import proc
from .config.checks import TagTemplate
from .config.snapshots import base_version, is_snapshot, pep440_local, snapshot_version
from .config.values import CommitId, Component, GitRef
from .errors import ConfigError

__all__ = ["ENV", "FLAG", "Decision", "GitState", "Release", "Snapshot", "apply", "base_version", "decide",
           "decide_for", "is_snapshot", "pep440_local", "read_git", "release_tags", "snapshot_version",
           "untagged_setting"]

if TYPE_CHECKING:
    from .config import Config

FLAG = "--publish-untagged"
ENV = "WAVRYBUILD_PUBLISH_UNTAGGED"


@dataclass(frozen=True)
class GitState:
    """What the decision needs of the checkout. `commit` None: not a git checkout (or no commit)."""

    commit: CommitId | None
    dirty: bool = False  # tracked files differ from HEAD (untracked files, dist/ among them, do not count)
    tags: frozenset[str] = frozenset()  # the tags pointing at HEAD
    date: str = "1970-01-01"  # HEAD's commit date (UTC), for a {date} in the tag template


@dataclass(frozen=True)
class Release:
    """Published as the release: at its tag and clean, or told to (`why`)."""

    why: str


@dataclass(frozen=True)
class Snapshot:
    """Built and packaged with a snapshot version; nothing published, no repository touched."""

    why: str  # "not at tag v1.2.3", "dirty tree", "not a git checkout"
    commit: CommitId | None = None

    def version(self, version: str) -> str:
        return snapshot_version(version, self.commit)

    @property
    def summary(self) -> str:
        """What the release summary says."""
        return f"snapshot: not published (why: {self.why})"


Decision = Release | Snapshot


# --- the decision (pure) ------------------------------------------------------------------------------

def release_tags(template: TagTemplate | None, values: Mapping[str, str]) -> tuple[str, ...]:
    """The tag names that make HEAD a release: the configured template's, else v<version> or <version>."""
    if template is not None:
        try:
            return (str(template.render(values)),)
        except ValueError:  # a version or commit no tag name can hold: no tag can be there
            return ()
    version = values.get("version", "")
    return tuple(t for t in (f"v{version}", version) if GitRef.valid(t))


def decide(state: GitState, wanted: tuple[str, ...], *, publish_untagged: str | None = None) -> Decision:
    """Release or snapshot, and why. `publish_untagged`: who asked to publish anyway (the flag or
    the variable's name), None: nobody."""
    shown = " or ".join(wanted) or "(none: the version makes no tag name)"
    if state.commit is None:
        why = "not a git checkout"
    elif state.dirty:
        why = "dirty tree: tracked files differ from the commit"
    elif not state.tags.intersection(wanted):
        why = f"not at tag {shown}"
    else:
        return Release(f"at tag {sorted(state.tags.intersection(wanted))[0]}")
    if publish_untagged is not None:
        return Release(f"{why}, published as asked by {publish_untagged}")
    return Snapshot(why, state.commit)


# --- the boundary: the flag's variable and git -------------------------------------------------------

def untagged_setting(value: str | None) -> bool:
    """WAVRYBUILD_PUBLISH_UNTAGGED: 1/true/yes or 0/false/no (empty: unset); anything else refused."""
    if value is None or value.strip() == "":
        return False
    word = value.strip().lower()
    if word in ("1", "true", "yes"):
        return True
    if word in ("0", "false", "no"):
        return False
    raise ConfigError(f"{ENV}: {value[:40]!r} is not a yes/no value",
                      hint=f"set {ENV}=1 to publish a checkout that is not at its release tag, or unset it")


def _git(root: Path, *args: str) -> proc.Captured:
    return proc.capture_all(["git", "-C", str(root), "--no-replace-objects", "-c", "color.ui=never", *args])


def _ci_tag() -> str | None:
    """The tag a CI job says it runs for (a tag pipeline's clone may not fetch the tag itself)."""
    name = env_.var("CI_COMMIT_TAG") or (env_.var("GITHUB_REF_NAME") if env_.var("GITHUB_REF_TYPE") == "tag" else None)
    return name if name and GitRef.valid(name) else None


def read_git(root: Path) -> GitState:
    """The checkout holding `root`: HEAD, dirty or not, the tags at HEAD. Never raises for git's answers."""
    head = _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    sha = head.stdout.decode(errors="replace").strip() if head.ok else ""
    if not CommitId.valid(sha):
        return GitState(None)
    commit = CommitId.parse(sha)
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    dirty = not status.ok or bool(status.stdout.strip())
    listed = _git(root, "tag", "--points-at", "HEAD")
    tags = {t for t in listed.stdout.decode(errors="replace").splitlines() if GitRef.valid(t)} if listed.ok else set()
    ci = _ci_tag()
    if ci is not None and _git(root, "rev-parse", "--verify", "--quiet", f"refs/tags/{ci}^{{commit}}").stdout.strip() \
            in (b"", sha.encode()):
        tags.add(ci)  # the job's tag: not fetched here, or fetched and at HEAD
    when = _git(root, "log", "-1", "--format=%ct", "HEAD")
    stamp = when.stdout.strip()
    day = datetime.datetime.fromtimestamp(int(stamp), datetime.UTC).strftime("%Y-%m-%d") if when.ok and \
        stamp.isdigit() else "1970-01-01"
    return GitState(commit, dirty, frozenset(tags), day)


def tag_template(cfg: Config) -> TagTemplate | None:
    """The release page's tag template, as the notes read it; None: the default (v{version})."""
    dest = cfg.publish.github or cfg.publish.gitlab
    return dest.tag if dest is not None else None


def decide_for(cfg: Config, *, flag: bool, state: GitState | None = None) -> Decision:
    """This checkout's decision for `cfg`: git read now (unless given), the flag, the variable."""
    state = read_git(cfg.project.root) if state is None else state
    values = {"name": cfg.project.name, "version": cfg.project.version, "commit": state.commit or "nocommit",
              "date": state.date}
    asked = FLAG if flag else (ENV if untagged_setting(env_.var(ENV)) else None)
    if is_snapshot(cfg.project.version):  # a merge of parts that were built as a snapshot
        return Release(f"asked by {asked}") if asked else Snapshot("the parts were built as a snapshot", state.commit)
    return decide(state, release_tags(tag_template(cfg), values), publish_untagged=asked)


def apply(cfg: Config, decision: Decision) -> Config:
    """The config a snapshot is packaged from: every released package's version with the suffix."""
    if not isinstance(decision, Snapshot):
        return cfg
    p = cfg.project
    packages = tuple(dataclasses.replace(x, version=Component.parse(decision.version(x.version))) for x in p.packages)
    lead = next((x for x in packages if x.name == p.metadata.name),
                dataclasses.replace(p.metadata, version=Component.parse(decision.version(p.metadata.version))))
    return dataclasses.replace(cfg, project=dataclasses.replace(p, packages=packages, metadata=lead))
