"""The checksum stage: dist/SHA256SUMS (the format `sha256sum -c` reads) for every artifact in
manifest.json, after checking each artifact still has the bytes the manifest records."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from ..checksum import SIDECAR_SUFFIX, SUMS_NAME, format_line, format_sums, sha256_many
from ..dist import Transaction, described_by, writes
from ..errors import WavryError
from ..manifest import MANIFEST_NAME, Manifest
from ..pipeline.stage import Run, Step


def _checked(run: Run) -> tuple[Manifest, dict[str, str]]:
    dist = run.state.dist
    manifest = run.state.manifest
    if manifest is None or not manifest.artifacts:
        raise WavryError(f"{dist / MANIFEST_NAME}: missing or empty", hint="run `invoke package` first")
    artifacts = manifest.released(run.cfg.release.publish)
    if not artifacts:
        raise WavryError(f"{dist / MANIFEST_NAME}: none of its artifacts is of a kind [release] publish chooses",
                         hint="make them (`invoke release`) or choose the kinds that are made")
    paths = {a.path: dist / a.path for a in artifacts}
    missing = [n for n, p in paths.items() if not p.is_file()]
    if missing:
        raise WavryError(f"{dist}: artifacts listed in manifest.json are missing: {', '.join(missing)}",
                         hint="run `invoke package` again")
    actual = sha256_many(paths.values())
    for a in artifacts:
        if actual[paths[a.path]] != a.sha256:
            raise WavryError(f"{paths[a.path]}: changed since `invoke package` (sha256 differs from manifest.json)",
                             hint="run `invoke package` again")
    return manifest, {a.path: a.sha256 for a in artifacts}


class ChecksumStage:
    name: ClassVar[str] = "checksum"

    def __init__(self, *, sidecars: bool = False) -> None:
        self.sidecars = sidecars

    def applies(self, run: Run) -> bool:
        return True

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return {}

    def steps(self, run: Run, todo: Sequence[str] | None) -> Sequence[Step]:
        sums = run.state.dist / SUMS_NAME
        if run.dry and run.state.manifest is None:
            return [Step.write(f"would write {sums} from {run.state.dist / MANIFEST_NAME}")]
        manifest, digests = _checked(run)
        use_sidecars = self.sidecars or run.cfg.checksum.sidecars
        text = format_sums(digests).encode()
        # Bytes, not text: text mode would read a CRLF copy as equal to ours.
        changed = not sums.is_file() or sums.read_bytes() != text
        kinds = run.cfg.release.publish
        # What vouched for an artifact that is no longer published (an earlier run's choice).
        unvouched = [n for a in manifest.artifacts if a.path not in digests for n in described_by(a.path)
                     if (run.state.dist / n).is_file()]

        def write() -> bool:
            tx = Transaction(run.state, None, manifest)
            if use_sidecars:
                for name, digest in digests.items():
                    tx.put(name + SIDECAR_SUFFIX, writes(format_line(digest, Path(name).name).encode()))
            tx.put(SUMS_NAME, writes(text))
            for name in unvouched:
                (run.state.dist / name).unlink(missing_ok=True)
            manifest.published = list(kinds) if kinds is not None else None
            manifest.checksums = {"file": SUMS_NAME, "sha256": hashlib.sha256(text).hexdigest(), "sidecars": use_sidecars}
            tx.commit()
            run.ui.table(f"{sums}", ["sha256", "artifact"], [(d, n) for n, d in sorted(digests.items())])
            return SUMS_NAME in tx.written

        return [Step.write(f"{sums}: {'would be written' if changed else 'up to date'} for {len(digests)} artifacts"
                           + (" (with .sha256 sidecars)" if use_sidecars else ""), write)]
