"""Fan-out over a CI matrix: `release --part` writes a part manifest beside its artifacts;
`release --merge DIR` collects the parts into dist/ (never building), then checksum → sign →
publish. Parts are data from other machines: parts.py reads and checks every one of them (and
every file they list) before anything is written to dist/.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from ..config import Config, TargetConfig
from ..dist import Transaction
from ..fsutil import tmp_dir, write_atomic
from ..manifest import MANIFEST_NAME, Manifest
from ..pipeline.stage import Run, Step
from .parts import MergeError, Parts, read_parts, writer
from .partsign import SIG_SUFFIXES, sign_part, trust

__all__ = ["MergeError", "MergeStage", "part_name", "write_part_manifest"]


def part_name(targets: tuple[TargetConfig, ...]) -> str:
    return "manifest-part-" + "+".join(t.id for t in targets) + ".json"


def write_part_manifest(cfg: Config, targets: tuple[TargetConfig, ...]) -> Path:
    """The part's manifest, under a name of its own so that parts can be unpacked side by side,
    and signed when [ci] part-key says so (an old signature never stays beside a new manifest)."""
    dist = cfg.project.dist_dir
    dest = dist / part_name(targets)
    for sig in SIG_SUFFIXES:
        dest.with_name(dest.name + sig).unlink(missing_ok=True)
    write_atomic(dest, (dist / MANIFEST_NAME).read_bytes(), tmp_dir=tmp_dir(dist))
    sign_part(cfg, dest)
    return dest


def _check_targets(cfg: Config, parts_dir: Path, parts: Parts) -> None:
    """Every target has its part: a merge never builds."""
    have = {s.artifact.target for s in parts.files.values() if s.artifact.kind == "archive"}
    missing = [t.id for t in cfg.targets if t.id not in have]
    if missing:
        raise MergeError(f"{parts_dir}: no part for {', '.join(missing)}: a merge never builds",
                         hint="run the matrix job for these targets (or drop them from targets.toml)")


class MergeStage:
    name: ClassVar[str] = "merge"

    def __init__(self, parts_dir: Path) -> None:
        self.parts_dir = parts_dir

    def applies(self, run: Run) -> bool:
        return True

    def _collect(self, run: Run) -> Parts:
        if not self.parts_dir.is_dir():
            raise MergeError(f"{self.parts_dir}: no such directory", hint="download the matrix jobs' parts into it first")
        if trust(run.cfg) is None:
            run.ui.warn(f"{self.parts_dir}: the parts are unauthenticated: no [ci] part-key is configured, so "
                        "whoever can write where the parts are kept can replace an artifact, its sha256 and its "
                        "part manifest together (docs/ci.md, \"Signed parts\")")
        parts = read_parts(self.parts_dir, run.state.dist, run.cfg)
        if parts is None:
            raise MergeError(f"{self.parts_dir}: no part manifests (manifest-part-*.json) found",
                             hint="each matrix job runs `invoke release --part --target T` and uploads dist/")
        _check_targets(run.cfg, self.parts_dir, parts)
        return parts

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return {}

    def steps(self, run: Run, todo: Sequence[str] | None) -> Sequence[Step]:
        parts = self._collect(run)
        copies = [Step.write(f"would copy {self.parts_dir / s.rel} → {run.state.dist / path}")
                  for path, s in sorted(parts.files.items())]
        # The copies go in as one transaction (the manifest merged first): the last step makes them.
        return [*copies, Step.finish(lambda: self._merge(run, parts))]

    def _merge(self, run: Run, parts: Parts) -> bool:
        context, old = parts.context, run.state.manifest
        merged = Manifest(
            crate=context.crate, name=context.name, version=context.version, git=context.git,
            source_date_epoch=context.source_date_epoch, source_date_epoch_from=context.source_date_epoch_from,
            tools={**context.tools, "rustc": dict(sorted(parts.rustc.items()))},
            artifacts=list(old.artifacts) if old else [], checksums=old.checksums if old else None,
            signatures=list(old.signatures) if old else [], packages=context.packages,
            published=old.published if old else None,  # the checksum stage records the choice
        )
        tx = Transaction(run.state, None, merged)
        try:
            for _path, src in sorted(parts.files.items()):
                tx.add_copy(src.artifact, self.parts_dir / src.rel, writer(self.parts_dir, src))
        except BaseException:
            for s in tx.staged:  # a file changed while merging: leave dist/ as it was
                s.part.unlink(missing_ok=True)
            raise
        changed = tx.commit(lambda a: True)
        run.ui.info(f"merged {len(parts.files)} files from {self.parts_dir} into {run.state.dist}")
        return changed
