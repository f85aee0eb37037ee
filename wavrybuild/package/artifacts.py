"""The artifacts stage ([[artifacts]]): each entry's command run (argv, in targets.toml's
directory, without the release's secrets), then its directory packed by the deterministic
archiver, listed in the manifest like the binaries' archives (kind "extra")."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from functools import cache, partial
from pathlib import Path
from typing import BinaryIO, ClassVar

from .. import proc
from ..config.artifacts import ExtraArtifact, versioned
from ..dist import Transaction
from ..errors import CommandFailed, WavryError
from ..fsutil import file_kind
from ..pipeline.stage import Run, Step
from ..ui import human_size
from .archive import Entry, HashingWriter, source_date_epoch, write_archive

KIND = "extra"


def _refuse_special(a: ExtraArtifact, p: Path) -> None:
    """Only regular files and directories are packed. A FIFO would hang the packing (reading it
    waits for a writer), a device such as /dev/zero would never end, a socket cannot be read."""
    mode = p.lstat().st_mode
    if stat.S_ISLNK(mode):
        raise WavryError(f"{a.name}: {p} is a symlink; an archive holds only files and directories",
                         hint="make the build copy the file instead of linking it")
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise WavryError(f"{a.name}: {p} is {file_kind(mode)}; an archive holds only files and directories",
                         hint=f"remove it from {a.directory} (or make the build write a regular file there)")


def entries(a: ExtraArtifact) -> list[Entry]:
    """Every regular file under the directory. A symlink is refused: followed, it could pack a file
    from outside the directory; kept, it could point an unpacking user outside theirs."""
    if not a.directory.is_dir():
        raise WavryError(f"{a.name}: {a.directory} is not a directory" + (" after its command ran" if a.command else ""),
                         hint="check [[artifacts]] directory (and that the command writes there)")
    out = []
    for dirpath, dirnames, filenames in os.walk(a.directory):
        for name in sorted(dirnames + filenames):
            _refuse_special(a, Path(dirpath, name))
        for name in sorted(filenames):
            p = Path(dirpath, name)
            out.append(Entry(p.relative_to(a.directory).as_posix(), p, os.access(p, os.X_OK)))
    if not out:
        raise WavryError(f"{a.name}: {a.directory} holds no file", hint="nothing would be released")
    return out


class ArtifactsStage:
    name: ClassVar[str] = "artifacts"

    def applies(self, run: Run) -> bool:
        # In a CI matrix exactly one part makes them: the one with the first configured target.
        # Those on a rolling tag are released on their own (rolling.py), never into dist/.
        return bool(versioned(run.cfg.artifacts)) and (not run.part or run.cfg.targets[0] in run.targets)

    def _command(self, run: Run, a: ExtraArtifact) -> proc.Command:
        # No credential reaches it: proc gives every child env.SecretPolicy's environment.
        return proc.Command(a.command, cwd=run.cfg.project.root)

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return {}  # the command always runs (its inputs are not ours to know); unchanged bytes stay put

    def steps(self, run: Run, todo: Sequence[str] | None) -> Sequence[Step]:
        mtime, _ = source_date_epoch(run.cfg.project.root)
        # Made when the run starts (a dry run from scratch has no manifest yet), before any command runs.
        tx = cache(lambda: Transaction(run.state, KIND, run.state.require_manifest()))
        rows: list[tuple[str, str, str]] = []
        out = [Step.finish(lambda: tx() is None)]  # False: opening it changes nothing
        for a in versioned(run.cfg.artifacts):
            if a.command:
                out.append(Step.command(self._command(run, a), on_line=run.ui.raw, failed=partial(command_failed, a)))

            def pack(a: ExtraArtifact = a) -> None:
                files = entries(a)

                def write(f: BinaryIO) -> None:
                    write_archive(HashingWriter(f), a.format, a.top, files, mtime)  # type: ignore[arg-type]

                art = tx().add(a.name, write, target="", triple="", fmt=a.format, binaries=[])
                rows.append((a.name, str(len(files)), human_size(art.size)))

            out.append(Step.write(f"would pack {a.directory} into {run.state.dist / a.name} ({a.format})", pack))

        def commit() -> bool:
            changed = tx().commit(lambda x: True)
            run.ui.table("Artifacts", ["artifact", "files", "size", "state"],
                         [(*r, "written" if r[0] in tx().written else "unchanged") for r in rows])
            return changed

        return [*out, Step.finish(commit)]


def command_failed(a: ExtraArtifact, exc: CommandFailed) -> WavryError:
    """The error of an artifact whose command failed (its own artifacts and rolling ones alike)."""
    return WavryError(f"{a.name}: its command failed (exit {exc.returncode}):\n{exc.stderr_tail[-800:]}",
                      hint="fix the build of this artifact; nothing of it reached dist/")
