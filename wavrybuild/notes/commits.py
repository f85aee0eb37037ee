"""The notes' changes from the commits since the previous release tag, read as Conventional Commits
(`type(scope)!: subject`, a `BREAKING CHANGE:` footer): breaking changes, features and fixes, each
with its short hash, linked to the commit when the repository's web address is known.

Commit text is untrusted (anyone who lands a commit writes it): every field is made one line with no
control or format characters, shortened, and escaped so it renders as the text it is — no HTML,
entity, hidden link, image, heading or mention of its own (a bare URL stays visible text).
Reproducible: the same commit (and tags) gives the same bytes; nothing depends on the clock or on
how git abbreviates hashes in this clone."""

from __future__ import annotations

import contextlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from .. import proc
from ..config.checks import TagTemplate
from ..config.values import CommitId, GitRef, HttpUrl

# A release with no earlier tag reads the whole history: years of a busy project fit, a runaway
# repository does not make the notes (or the release page, 125,000 characters on GitHub) unusable.
MAX_COMMITS = 2000
MAX_TEXT = 200  # characters of one subject, scope or footer line as shown
SHORT = 7  # a fixed abbreviation: git's own grows with the clone's size, and the notes must not
GROUPS = (("breaking", "Breaking changes"), ("feat", "Features"), ("fix", "Fixes"))

_HEADER = re.compile(r"(?P<type>[A-Za-z]+)(?:\((?P<scope>[^()]*)\))?(?P<bang>!)?: (?P<subject>.*\S.*)")
_BREAKING = re.compile(r"BREAKING[ -]CHANGE: ?(?P<text>.*)")
_FOOTER = re.compile(r"(?:[A-Za-z-]+|BREAKING CHANGE)(?:: | #)")
# Escaped wherever they stand: emphasis, links and images, HTML and entities, GFM tables,
# strikethrough, math and @mentions (a release page would notify the named account).
_INLINE = frozenset("\\*_[]()<>!|&~$@{}")
# Escaped at the start of the text only: what would open a heading, quote, list or fence there.
_LEADING = frozenset("#+-=>")


@dataclass(frozen=True)
class Commit:
    sha: CommitId
    message: str  # the whole message as git holds it, decoded (invalid UTF-8 replaced)


@dataclass(frozen=True)
class Change:
    group: str  # one of GROUPS' keys
    scope: str | None
    subject: str
    sha: CommitId
    note: str | None = None  # a BREAKING CHANGE footer's text


@dataclass(frozen=True)
class History:
    """The commits of this release, newest first. `since`: the previous release's tag (None: the
    whole history is this release's); `truncated`: more than MAX_COMMITS were there."""

    commits: tuple[Commit, ...]
    since: GitRef | None
    pattern: str  # the tag pattern searched, as shown to the reader
    truncated: bool = False


@dataclass(frozen=True)
class Unread:
    """Why no changes can be listed (the notes then have no changes section)."""

    reason: str


# --- git ---------------------------------------------------------------------------------------------

def _git(root: Path, *args: str) -> proc.Captured:
    # The user's config must not change what is read: no replacement objects, no signature or
    # colour lines in log's output, messages as UTF-8 whatever their recorded encoding.
    return proc.capture_all(["git", "-C", str(root), "--no-replace-objects", "-c", "i18n.logOutputEncoding=UTF-8",
                             "-c", "log.showSignature=false", "-c", "color.ui=never", *args])


def _tail(done: proc.Captured) -> str:
    text = " ".join((done.error or done.stderr.decode(errors="replace")).split())
    return f" ({text[:300]})" if text else ""


def tag_glob(template: TagTemplate) -> str:
    """The glob `git describe --match` takes for every tag the template can render: each field a `*`
    (a GitRef holds no glob character, so the rest matches itself)."""
    return re.sub(r"\{[a-z]+\}", "*", str(template))


def read_history(root: Path, end: CommitId, template: TagTemplate, values: Mapping[str, str]) -> History | Unread:
    """The commits from the previous tag matching `template` (not this release's own tag) to
    `commit`, or why they cannot be read. Never raises for what git answers."""
    done = _git(root, "rev-parse", "--verify", "--quiet", f"{end}^{{commit}}")
    if not done.ok:
        return Unread(f"commit {end[:12]} (manifest.json's) is not in the git history at {root}{_tail(done)}")
    glob = tag_glob(template)
    describe = ["describe", "--tags", "--abbrev=0", f"--match={glob}"]
    # This release's own tag, if it is made already; values that make no tag name: none can exist.
    with contextlib.suppress(ValueError):
        describe.append(f"--exclude={template.render(values)}")
    found = _git(root, *describe, end)
    since: GitRef | None = None
    if found.ok:
        name = found.stdout.decode(errors="replace").strip()
        since = GitRef.parse(name) if GitRef.valid(name) else None
    if since is None:
        shallow = _git(root, "rev-parse", "--is-shallow-repository")
        if shallow.ok and shallow.stdout.strip() == b"true":
            return Unread(f"the clone at {root} is shallow and holds no earlier tag matching {glob!r}: "
                          "fetch the whole history (actions/checkout: fetch-depth: 0; GitLab CI: GIT_DEPTH: 0)")
    span = f"refs/tags/{since}..{end}" if since else str(end)
    log = _git(root, "log", "--no-color", "-z", "--format=%H%n%B", f"--max-count={MAX_COMMITS + 1}", span, "--")
    if not log.ok:
        return Unread(f"git log {span} failed in {root}{_tail(log)}")
    commits = parse_log(log.stdout)
    return History(commits[:MAX_COMMITS], since, glob, truncated=len(commits) > MAX_COMMITS)


def parse_log(raw: bytes) -> tuple[Commit, ...]:
    """`git log -z --format=%H%n%B` output: a record that does not start with a commit id (a message
    holding a NUL split it) is not a commit and is skipped."""
    out = []
    for record in raw.decode("utf-8", errors="replace").split("\0"):
        sha, _, message = record.lstrip("\n").partition("\n")
        if CommitId.valid(sha):
            out.append(Commit(CommitId.parse(sha), message))
    return tuple(out)


# --- Conventional Commits ---------------------------------------------------------------------------

def parse_change(c: Commit) -> Change | None:
    """The commit as a change of the notes, or None (not a conventional feature, fix or breaking change)."""
    lines = c.message.splitlines()
    m = _HEADER.fullmatch(lines[0].strip()) if lines else None
    if m is None:
        return None
    note = _breaking_note(lines[1:])
    kind = m["type"].lower()
    if m["bang"] or note is not None:
        group = "breaking"
    elif kind in ("feat", "fix"):
        group = kind
    else:
        return None
    scope = m["scope"].strip() if m["scope"] and m["scope"].strip() else None
    return Change(group, scope, m["subject"].strip(), c.sha, note or None)


def _breaking_note(body: list[str]) -> str | None:
    """A BREAKING CHANGE footer's text ("" when it has none), its continuation lines joined; None: no such footer."""
    for i, line in enumerate(body):
        m = _BREAKING.fullmatch(line.rstrip())
        if m is None:
            continue
        words = [m["text"]]
        for more in body[i + 1:]:
            if not more.strip() or _FOOTER.match(more):
                break
            words.append(more)
        return " ".join(" ".join(words).split())
    return None


# --- Markdown ---------------------------------------------------------------------------------------

def one_line(text: str, limit: int = MAX_TEXT) -> str:
    """Untrusted text as one line: control, format (bidi overrides, zero-width) and separator
    characters dropped, whitespace runs made one space, at most `limit` characters."""
    kept = "".join(" " if ch.isspace() else ch for ch in text
                   if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"))
    flat = " ".join(kept.split())
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "…"


def _escape_plain(text: str) -> str:
    return "".join("\\" + ch if ch in _INLINE or ch == "`" else ch for ch in text)


def md_text(text: str) -> str:
    """One line of untrusted text as Markdown that shows exactly that text. Paired backticks stay
    code spans (their content is literal); every other character that Markdown or GitHub would read
    is escaped."""
    flat = one_line(text)
    parts = flat.split("`")
    if len(parts) % 2 == 1 and len(parts) > 1 and all(p.strip() for p in parts[1::2]):
        out = "".join(_escape_plain(p) if i % 2 == 0 else f"`{p}`" for i, p in enumerate(parts))
    else:
        out = _escape_plain(flat)
    if out[:1] in _LEADING:
        out = "\\" + out
    return re.sub(r"^(\d+)([.)])", r"\1\\\2", out)  # "1. x" would open an ordered list


# --- links ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CommitLinks:
    """Where a commit is shown on the web: `base` + `path` + the commit id."""

    base: str
    path: str = "/commit/"

    def url(self, sha: str) -> str:
        return f"{self.base}{self.path}{sha}"


def _web_base(url: str) -> str | None:
    """A checked URL as the base of links in Markdown: no query or fragment, no trailing `/` or
    `.git`, and the characters that would end a link destination (parentheses, <>) escaped."""
    if not HttpUrl.valid(url):
        return None
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        return None
    path = parts.path.rstrip("/").removesuffix(".git").rstrip("/")
    return quote(f"{parts.scheme}://{parts.netloc}{path}", safe=":/@!$&'*+,;=%~-._[]")


def github_links(api_url: str, repo: str) -> CommitLinks | None:
    """github.com for api.github.com; GitHub Enterprise serves its API under /api/v3 of the site."""
    parts = urlsplit(api_url)
    if parts.hostname == "api.github.com":
        site = "https://github.com"
    else:
        site = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/').removesuffix('/api/v3')}"
    base = _web_base(f"{site}/{repo}")
    return CommitLinks(base) if base else None


def gitlab_links(api_url: str, project: str) -> CommitLinks | None:
    """A project given by its path ("group/name"; an id names no web page) on the site of the API."""
    if project.isdigit():
        return None
    parts = urlsplit(api_url)
    site = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/').removesuffix('/api/v4')}"
    base = _web_base(f"{site}/{project}")
    return CommitLinks(base, "/-/commit/") if base else None


def repository_links(repository: str) -> CommitLinks | None:
    """Cargo.toml's `repository`, on a forge whose commit pages are known."""
    base = _web_base(repository)
    host = (urlsplit(base).hostname or "") if base else ""
    if not base or not host or len(urlsplit(base).path.strip("/").split("/")) < 2:
        return None
    if host in ("github.com", "codeberg.org", "gitea.com") or host.endswith(".github.com"):
        return CommitLinks(base)
    if host == "gitlab.com" or host.startswith("gitlab."):
        return CommitLinks(base, "/-/commit/")
    return None


# --- the section ------------------------------------------------------------------------------------

def _line(change: Change, links: CommitLinks | None) -> str:
    short = change.sha[:SHORT]
    ref = f"[{short}]({links.url(change.sha)})" if links else f"`{short}`"
    scope = f"**{md_text(change.scope)}:** " if change.scope else ""
    note = f" — {md_text(change.note)}" if change.note else ""
    return f"- {scope}{md_text(change.subject)}{note} ({ref})"


def section(history: History, links: CommitLinks | None) -> str:
    """The notes' "Changes" section: a heading, then each group that has changes."""
    changes = [ch for ch in (parse_change(c) for c in history.commits) if ch is not None]
    if history.since is not None:
        out = [f"## Changes since {md_text(history.since)}", ""]
    else:
        out = ["## Changes", "", f"Every commit so far: no earlier tag matches {md_text(history.pattern)}.", ""]
    if history.truncated:
        out += [f"Only the newest {MAX_COMMITS} commits are read.", ""]
    for key, title in GROUPS:
        lines = [_line(ch, links) for ch in changes if ch.group == key]
        if lines:
            out += [f"### {title}", "", *lines, ""]
    if not changes:
        n = len(history.commits)
        out += [f"No feature, fix or breaking change among the {n} commit{'s' if n != 1 else ''} "
                "(Conventional Commits: `feat: …`, `fix: …`, `type!: …`).", ""]
    return "\n".join(out).strip()

