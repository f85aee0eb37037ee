"""What every destination shares: the files to publish (collected from dist/ and checked), the
Destination protocol, results and errors, and the HTTP client (`net.Client`, the one HTTP layer)
raising PublishError."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from ..checksum import SIDECAR_SUFFIX, SIGNATURE_SUFFIXES, SUMS_NAME, SumsError, parse_sums, sha256_many
from ..errors import WavryError
from ..manifest import MANIFEST_NAME, Manifest
from ..net import CHUNK as CHUNK  # re-exported: the directory destination copies in these chunks
from ..net import Client
from ..notes.changelog import NOTES_NAME

Action = Literal["uploaded", "skipped", "replaced", "would upload", "published", "would publish", "updated",
                 "removed"]

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
    date: str = "1970-01-01"  # UTC date of the release's commit (SOURCE_DATE_EPOCH): the same on a rerun
    notes: str = ""  # RELEASE_NOTES.md, when the release has it

    def values(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "commit": self.commit, "date": self.date}

    @property
    def is_prerelease(self) -> bool:
        """semver's pre-release part: 1.2.0-rc.1 (not build metadata: 1.2.0+abc)."""
        return "-" in self.version.split("+", 1)[0]


def dist_error(message: str, hint: str) -> PublishError:
    return PublishError(message, hint=hint)


def collect(dist: Path) -> tuple[ReleaseRef, list[LocalFile]]:
    """Every file to publish, in upload order, after checking dist/ is consistent.

    Nothing is sent anywhere unless each artifact still has the size and sha256 manifest.json
    records and SHA256SUMS lists exactly those digests.
    """
    manifest = Manifest.load(dist)
    if manifest is None or not manifest.artifacts:
        raise dist_error(f"{Manifest.path(dist)}: missing or lists no artifacts",
                          "run `invoke package` and `invoke checksum` first")
    # Only the kinds [release] publish chose (recorded by the checksum stage) leave dist/.
    released = manifest.released(manifest.published)
    sums = dist / SUMS_NAME
    if not sums.is_file():
        raise dist_error(f"{sums}: missing", "run `invoke checksum` first")
    try:
        listed = parse_sums(sums.read_text())
    except (SumsError, UnicodeDecodeError) as exc:
        raise dist_error(f"{sums}: {exc}", "run `invoke checksum` again") from None
    if listed != {a.path: a.sha256 for a in released}:
        raise dist_error(f"{sums}: does not match manifest.json", "run `invoke checksum` again")
    missing = [a.path for a in released if not (dist / a.path).is_file()]
    if missing:
        raise dist_error(f"{dist}: listed in manifest.json but missing: {', '.join(missing)}",
                          "run `invoke package` again")
    names = [a.path for a in released]
    for described in [*(a.path for a in released), SUMS_NAME]:
        suffixes = SIGNATURE_SUFFIXES if described == SUMS_NAME else (SIDECAR_SUFFIX, *SIGNATURE_SUFFIXES)
        names += [described + s for s in suffixes if (dist / (described + s)).is_file()]
    names += [SUMS_NAME, MANIFEST_NAME]
    digests = sha256_many(dist / n for n in names)
    for a in released:
        path = dist / a.path
        if digests[path] != a.sha256 or path.stat().st_size != a.size:
            raise dist_error(f"{path}: changed since `invoke package` (size or sha256 differs from manifest.json)",
                              "run `invoke package` and `invoke checksum` again")
    files = [LocalFile(n, dist / n, (dist / n).stat().st_size, digests[dist / n]) for n in names]
    commit = manifest.git.get("commit") if isinstance(manifest.git, dict) else None
    day = datetime.datetime.fromtimestamp(manifest.source_date_epoch, datetime.UTC).strftime("%Y-%m-%d")
    notes_file = dist / NOTES_NAME
    notes = notes_file.read_text(encoding="utf-8") if NOTES_NAME in {a.path for a in released} else ""
    return ReleaseRef(manifest.name, manifest.version, str(commit) if commit else "nocommit", day, notes), files


# --- destinations -------------------------------------------------------------------------------------

class Destination(Protocol):
    kind: str

    def select(self, files: list[LocalFile]) -> list[LocalFile]:
        """The release files this destination takes (PyPI: the wheels; the others: all)."""
        ...

    def where(self, f: LocalFile) -> str:
        """Where the file goes (URL, path, asset), for messages and dry runs. No I/O."""
        ...

    def start(self) -> None:
        """Read the remote state once (or create the release)."""
        ...

    def put(self, f: LocalFile) -> tuple[Action, str]:
        """Make the destination hold `f`; return what was done and why."""
        ...

    def finish(self, files: list[LocalFile]) -> list[tuple[str, Action, str]]:
        """After every file is there: make the release visible (publish a draft), drop what a
        rolling release no longer has. Returns (what, action, detail) rows."""
        ...

    def close(self) -> None:
        ...


class HttpClient(Client):
    """The HTTP layer (`net.Client`: credentials bound to origins, the redirect rule, one scrubber,
    timeouts) raising PublishError, which carries what was done before the failure."""

    error = PublishError


def auth_hints(env: str | None, what: str) -> dict[int, str]:
    credential = f"${env}" if env else "the credential"
    return {401: f"check {credential}: the server did not accept it",
            403: f"{credential} is valid but may not write to {what}"}


