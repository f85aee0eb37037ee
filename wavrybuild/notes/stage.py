"""The notes stage ([release]): dist/RELEASE_NOTES.md from the changelog and the manifest, listed
in the manifest (and so in SHA256SUMS) like every other release file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from ..dist import Transaction, writes
from ..errors import WavryError
from ..fsutil import Refused, read_regular
from ..manifest import Manifest
from ..pipeline.stage import Run, Step
from .changelog import NOTES_NAME, changelog_section, render

KIND = "notes"
CHANGELOG_LIMIT = 16 << 20  # bytes: years of a busy project's changelog are a few hundred KiB


def notes_text(run: Run, manifest: Manifest) -> str:
    cfg = run.cfg
    section = None
    path = cfg.release.changelog
    if path is not None:
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
        source = f" with the {run.cfg.release.changelog.name} section" if run.cfg.release.changelog else ""
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
