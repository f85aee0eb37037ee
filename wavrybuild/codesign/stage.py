"""The codesign stage ([sign] authenticode): every Windows binary the build staged is signed once,
right after build and smoke, into dist/.wavrybuild/codesigned/<target>/, and the build record names
the signed copy (`BinaryRecord.signed`). Every later stage takes its binaries through
`DistState.built`/`shipped`, which hand out that copy: the .zip, the wheel, the npm package, the
MSI and setup.exe, and the SBOM all carry (and describe) the same signed bytes.

Resumable per target: the key is the unsigned binaries' digests, the signing settings and the
signing time, and the signed copies' digests (a lost or altered copy is signed again). A signed
copy also keeps a note of what it was signed from, so a rebuild to the same bytes signs nothing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import ClassVar

from ..checksum import sha256_file
from ..config import TargetConfig
from ..errors import WavryError
from ..fsutil import tmp_dir
from ..package.archive import source_date_epoch
from ..pipeline.requirements import KeyFile, Requirement, Tool
from ..pipeline.stage import Planned, Run, Step
from ..record import BinaryRecord
from ..ui import mask_for_ci
from . import authenticode as ac


class CodesignStage:
    name: ClassVar[str] = "codesign"

    def __init__(self, *, chosen: bool = False) -> None:
        self.chosen = chosen  # the run's Windows targets must all be built (release); else the built ones

    def applies(self, run: Run) -> bool:
        return "authenticode" in run.cfg.sign.methods and any(t.triple.is_windows for t in run.targets)

    def requires(self, run: Run) -> Sequence[Requirement]:
        """osslsigncode and the certificate (its password may be empty: not required)."""
        return [Tool(ac.TOOL[0], "sign.methods: authenticode", ac.TOOL[1]),
                KeyFile(run.cfg.sign.authenticode.pkcs12, "sign.authenticode.pkcs12",
                        "the .p12 code-signing certificate (or WAVRYBUILD_AUTHENTICODE_PKCS12)")]

    def _targets(self, run: Run) -> list[TargetConfig]:
        built = run.state.built_ids()
        return [t for t in run.targets if t.triple.is_windows and (self.chosen or t.id in built)]

    def _signing_time(self, run: Run) -> int:
        # The release's SOURCE_DATE_EPOCH, the one the package stage stamps the archives with.
        return source_date_epoch(run.cfg.project.manifest_path.parent)[0]


    def keys(self, run: Run) -> Mapping[str, str | None]:
        record, dist = run.state.record, run.state.dist
        keys: dict[str, str | None] = {}
        settings = None
        for t in self._targets(run):
            rec = record.targets.get(t.id)
            if rec is None or not rec.ok:
                keys[t.id] = None  # not built: run() says so
                continue
            settings = settings or ac.settings(run.cfg, self._signing_time(run))
            data = [settings] + [[b.name, _digest(dist / b.path), b.signed, _digest(dist / b.signed) if b.signed else ""]
                                 for b in rec.binaries]
            keys[t.id] = hashlib.sha256(json.dumps(data).encode()).hexdigest()
        return keys

    def steps(self, run: Run, todo: Sequence[str] | None) -> Sequence[Step]:
        """Per binary, the osslsigncode command (its password file is made when it runs: the path
        shown is a placeholder) and the signed copy; not echoed again when run (the table says
        which were signed). A copy already signed from the same bytes is left as it is."""
        cfg, dist, record = run.cfg, run.state.dist, run.state.record
        targets = [t for t in self._targets(run) if todo is None or t.id in todo]
        built = run.state.built_ids()  # (not DistState.built: that hands out the signed copies this stage makes)
        missing = [t for t in targets if t.id not in built]
        if missing and not run.dry:
            raise WavryError(f"{missing[0].id}: nothing to sign: not built", hint=f"run `invoke build --target {missing[0].id}`")
        when = self._signing_time(run)
        rows: list[tuple[str, str, str, str]] = []
        out = [Step.write(f"would sign {t.id}'s .exe files with osslsigncode (once built)") for t in missing]
        signed: list[bool] = []

        def start() -> None:
            ac.require_tool()
            mask_for_ci([ac.password(cfg).value])

        def sign(t: TargetConfig, b: BinaryRecord, settings: str) -> None:
            dest = ac.signed_path(dist, t.id, b)
            signed.append(ac.sign_binary(cfg, dist / b.path, dest, tmp_dir(dist), when, settings))
            b.signed = dest.relative_to(dist).as_posix()
            rows.append((t.id, b.name, sha256_file(dest)[:16] + "…", "signed" if signed[-1] else "unchanged"))

        for t in (t for t in targets if t.id in built):
            try:
                settings = ac.settings(cfg, when)
                for b in record.targets[t.id].binaries:
                    dest = ac.signed_path(dist, t.id, b)
                    cmd = ac.authenticode_command(cfg, dist / b.path, tmp_dir(dist) / dest.name,
                                                  Path("<password file>"), when)
                    out += [Step(Planned(cmd.display(), command=True), partial(sign, t, b, settings), quiet=True),
                            Step.write(f"would write {dest}")]
            except WavryError as exc:  # a dry run says so; the real one stops there
                if not run.dry:
                    raise
                out.append(Step.write(f"cannot sign {t.id} here: {exc.message}" + (f"; {exc.hint}" if exc.hint else "")))
                break

        def finish() -> bool:
            record.save(dist)
            run.state.forget_record()
            run.ui.table("Authenticode", ["target", "binary", "sha256", "state"], rows)
            return any(signed)

        return [Step.finish(start), *out, Step.finish(finish)]


def _digest(path: Path) -> str:
    return sha256_file(path) if path.is_file() else ""
