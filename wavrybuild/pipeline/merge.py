"""Fan-out over a CI matrix: `release --part` writes a part manifest beside its artifacts;
`release --merge DIR` collects the parts into dist/ (never building), then checksum → sign →
publish. Every name a part manifest gives is confined to dist/ (Manifest.load_data refuses others).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from ..checksum import sha256_file
from ..config import Config, TargetConfig
from ..dist import Transaction
from ..errors import WavryError
from ..fsutil import write_atomic
from ..manifest import MANIFEST_NAME, Artifact, Manifest
from ..record import tmp_dir
from .stage import Planned, Run

Found = dict[str, tuple[Path, Artifact]]


class MergeError(WavryError):
    exit_code = 1


def part_name(targets: tuple[TargetConfig, ...]) -> str:
    return "manifest-part-" + "+".join(t.id for t in targets) + ".json"


def write_part_manifest(cfg: Config, targets: tuple[TargetConfig, ...]) -> Path:
    """The part's manifest, under a name of its own so that parts can be unpacked side by side."""
    dist = cfg.project.dist_dir
    dest = dist / part_name(targets)
    write_atomic(dest, (dist / MANIFEST_NAME).read_bytes(), tmp_dir=tmp_dir(dist))
    return dest


def _find_parts(parts_dir: Path) -> list[Path]:
    return sorted(p for p in parts_dir.rglob("manifest*.json")
                  if not any(part.startswith(".") for part in p.relative_to(parts_dir).parts)
                  and (p.name.startswith("manifest-part-") or p.name == "manifest.json"))


def _read_parts(parts_dir: Path, dist: Path) -> tuple[Found, Manifest | None, dict[str, Any]]:
    """Every part manifest's artifacts by file, checked to come from one commit and to agree."""
    found: Found = {}
    context: Manifest | None = None
    rustc: dict[str, Any] = {}
    for path in _find_parts(parts_dir):
        if path.parent.resolve() == dist.resolve() and path.name == "manifest.json":
            continue  # our own output from an earlier merge
        try:
            data = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise MergeError(f"{path}: not a part manifest (not valid JSON: {exc})") from None
        if not isinstance(data, dict):
            raise MergeError(f"{path}: not a part manifest (a JSON {type(data).__name__}, not an object)")
        part = Manifest.load_data(data, path)  # refuses artifact paths outside dist/
        if context is None:
            context = part
        part_rustc = part.tools.get("rustc", {})
        if isinstance(part_rustc, dict):
            rustc.update(part_rustc)
        for key in ("crate", "version", "git", "source_date_epoch"):
            if getattr(part, key) != getattr(context, key):
                raise MergeError(f"{path}: {key} {getattr(part, key)!r} differs from the other parts' "
                                 f"{getattr(context, key)!r}", hint="every part must come from the same commit")
        for a in part.artifacts:
            # Keyed by file: a target may bring an archive and a wheel.
            if a.path in found and found[a.path][1].sha256 != a.sha256:
                raise MergeError(f"{path}: {a.path} also comes from {found[a.path][0]} with other bytes")
            found[a.path] = (path.parent / a.path, a)
    return found, context, rustc


def _check_parts(cfg: Config, found: Found) -> None:
    """Every target has its part, and every file is there with the bytes its part says."""
    have = {a.target for _, a in found.values() if a.kind == "archive"}
    missing = [t.id for t in cfg.targets if t.id not in have]
    if missing:
        raise MergeError(f"no part for {', '.join(missing)}: a merge never builds",
                         hint="run the matrix job for these targets (or drop them from targets.toml)")
    for src, a in found.values():
        if not src.is_file():
            raise MergeError(f"{src}: listed by a part manifest but missing")
        if sha256_file(src) != a.sha256:
            raise MergeError(f"{src}: sha256 differs from its part manifest (corrupted upload?)")


class MergeStage:
    name: ClassVar[str] = "merge"

    def __init__(self, parts_dir: Path) -> None:
        self.parts_dir = parts_dir

    def applies(self, run: Run) -> bool:
        return True

    def _collect(self, run: Run) -> tuple[Found, Manifest, dict[str, Any]]:
        if not self.parts_dir.is_dir():
            raise MergeError(f"{self.parts_dir}: no such directory", hint="download the matrix jobs' parts into it first")
        found, context, rustc = _read_parts(self.parts_dir, run.state.dist)
        if context is None:
            raise MergeError(f"{self.parts_dir}: no part manifests (manifest-part-*.json) found",
                             hint="each matrix job runs `invoke release --part --target T` and uploads dist/")
        _check_parts(run.cfg, found)
        return found, context, rustc

    def plan(self, run: Run) -> Sequence[Planned]:
        found, _context, _rustc = self._collect(run)
        return [Planned(f"would copy {src} → {run.state.dist / a.path}") for _p, (src, a) in sorted(found.items())]

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return {}

    def run(self, run: Run, todo: Sequence[str] | None) -> bool:
        found, context, rustc = self._collect(run)
        old = run.state.manifest
        merged = Manifest(
            crate=context.crate, name=context.name, version=context.version, git=context.git,
            source_date_epoch=context.source_date_epoch, source_date_epoch_from=context.source_date_epoch_from,
            tools={**context.tools, "rustc": dict(sorted(rustc.items()))},
            artifacts=list(old.artifacts) if old else [], checksums=old.checksums if old else None,
            signatures=list(old.signatures) if old else [], packages=context.packages,
        )
        tx = Transaction(run.state, None, merged)
        for _path, (src, a) in sorted(found.items()):
            tx.add_copy(a, src)
        changed = tx.commit(lambda a: True)
        run.ui.info(f"merged {len(found)} files from {self.parts_dir} into {run.state.dist}")
        return changed
