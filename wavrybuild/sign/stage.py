"""The sign stage: detached signatures (gpg, minisign, ssh) over SHA256SUMS, and over every
artifact with [sign] artifacts = true. Authenticode is applied by the package stage.

Resumable: re-signing gives new bytes (gpg puts a time in signatures), so signatures that are
there for this SHA256SUMS, methods and keys are kept."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import ClassVar

from ..checksum import SUMS_NAME, parse_sums, sha256_file, sha256_many
from ..config import SIGN_METHODS
from ..dist import Transaction, writes
from ..errors import ConfigError, WavryError
from ..fsutil import tmp_dir
from ..manifest import Manifest
from ..pipeline.requirements import Requirement
from ..pipeline.stage import Run, Step, configured
from ..ui import mask_for_ci
from . import signatures as sg


def _subjects(run: Run) -> tuple[Manifest, list[Path]]:
    """SHA256SUMS (and with [sign] artifacts, every artifact), checked against manifest.json first."""
    dist, manifest = run.state.dist, run.state.manifest
    sums = dist / SUMS_NAME
    if manifest is None or not sums.is_file():
        raise WavryError(f"{sums}: missing", hint="run `invoke package` and `invoke checksum` first")
    released = manifest.released(run.cfg.release.publish)  # only what is published is vouched for
    if parse_sums(sums.read_text()) != {a.path: a.sha256 for a in released}:
        raise WavryError(f"{sums}: does not match manifest.json", hint="run `invoke checksum` again")
    subjects = [sums]
    # The provenance statement is signed on its own too: verifiers of SLSA provenance take the file alone.
    subjects += [dist / a.path for a in released if a.kind == "provenance" and not run.cfg.sign.artifacts]
    if run.cfg.sign.artifacts:
        subjects += [dist / a.path for a in released]
        actual = sha256_many(subjects[1:])
        for a in released:
            if actual[dist / a.path] != a.sha256:
                raise WavryError(f"{dist / a.path}: changed since `invoke checksum`", hint="run `invoke package` again")
    return manifest, subjects


class SignStage:
    name: ClassVar[str] = "sign"

    def __init__(self, *, methods: tuple[str, ...] = ()) -> None:
        for m in methods:
            if m not in SIGN_METHODS:
                raise ConfigError(f"--method {m}: unknown signing method", hint="methods: " + ", ".join(SIGN_METHODS))
        self.only = methods

    def _methods(self, run: Run) -> list[str]:
        return sg.detached_methods(run.cfg.sign, self.only)

    def applies(self, run: Run) -> bool:
        return bool(self._methods(run))

    def requires(self, run: Run) -> Sequence[Requirement]:
        return sg.requirements(run.cfg, self._methods(run))

    def keys(self, run: Run) -> Mapping[str, str | None]:
        dist, cfg = run.state.dist, run.cfg
        methods = self._methods(run)
        sums = dist / SUMS_NAME
        if not sums.is_file() or not all((dist / f"{SUMS_NAME}{sg.SUFFIX[m]}").is_file() for m in methods):
            return {"": None}
        data = [sha256_file(sums), methods, cfg.sign.artifacts, cfg.sign.fingerprint()]
        return {"": hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()}

    def _require(self, run: Run) -> list[str]:
        return configured(run, self._methods(run), "sign.methods", 'add e.g. methods = ["gpg"] under [sign], or pass --method')

    def steps(self, run: Run, todo: Sequence[str] | None) -> Sequence[Step]:
        """A step per method. Its commands are made when it runs, not here: they carry the
        passphrase's and the OIDC identity's places, which a dry run does not read."""
        cfg, dist = run.cfg, run.state.dist
        methods = self._require(run)
        names = ["SHA256SUMS"] + (["every artifact"] if cfg.sign.artifacts else [])
        work = tmp_dir(dist) / f"sign-{os.getpid()}"
        jobs: list[sg.SignJob] = []
        subjects: list[Path] = []

        def start() -> None:
            subjects[:] = _subjects(run)[1]
            passphrases = {"gpg": cfg.sign.gpg.passphrase_env, "minisign": cfg.sign.minisign.passphrase_env}
            mask_for_ci([sg.Secret(passphrases[m]).value for m in methods if m in passphrases])
            work.mkdir(parents=True, exist_ok=True)

        def sign(method: str) -> None:
            try:
                for job in sg.plan(cfg, dist, subjects, work, only=(method,)):
                    run.ui.command(job.command.display())
                    sg.run_job(job)
                    jobs.append(job)
            except BaseException:
                shutil.rmtree(work, ignore_errors=True)
                raise

        return [Step.finish(start),
                *(Step.write(f"would sign {', '.join(names)} with {m} → SHA256SUMS{sg.SUFFIX[m]}", partial(sign, m))
                  for m in methods),
                Step.finish(lambda: self._commit(run, jobs, work))]

    def _commit(self, run: Run, jobs: list[sg.SignJob], work: Path) -> bool:
        """Every signature succeeded: only now do they enter dist/."""
        manifest = run.state.require_manifest()
        tx = Transaction(run.state, None, manifest)
        try:
            for job in jobs:
                tx.put(job.output.name, writes(job.output.read_bytes()))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        done = {(j.method, j.subject.name) for j in jobs}
        manifest.signatures = sorted(
            [s for s in manifest.signatures if (s["method"], s["signs"]) not in done]
            + [{"method": j.method, "file": j.output.name, "signs": j.subject.name, "signer": j.signer} for j in jobs],
            key=lambda s: s["file"])
        tx.commit()
        run.ui.table("Signatures", ["method", "signature", "signs", "signer"],
                     [(j.method, j.output.name, j.subject.name, j.signer) for j in jobs])
        return True
