"""The provenance stage ([provenance]): dist/provenance.intoto.json, a SLSA v1 statement whose
subjects are every artifact of the release; it runs after every stage that adds files and before
checksum (which lists it) and sign (which signs it)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import ClassVar
from urllib.parse import urlsplit, urlunsplit

from .. import env as env_
from .. import proc
from ..checksum import sha256_file
from ..config.sbom import ProvenanceConfig
from ..dist import Transaction, writes
from ..pipeline.stage import Run, Step, configured
from . import slsa as provenance

CI_PREFIXES = ("GITHUB_", "CI_", "GITLAB_")


def public_remote(url: str | None) -> str | None:
    """The origin URL without credentials (a token in an https URL must not reach the statement),
    or None for a local one (a path or file:// URL names this machine, not the source: two
    checkouts of one commit would otherwise give different statements)."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme == "file" or len(parts.scheme) == 1 or (not parts.scheme and url.startswith(("/", ".", "~", "\\"))):
        return None  # a one-letter scheme is a Windows drive (C:/src/repo)
    if parts.scheme and parts.netloc and "@" in parts.netloc:
        parts = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1])
    return urlunsplit(parts) if parts.scheme else url


class ProvenanceStage:
    name: ClassVar[str] = "provenance"

    def applies(self, run: Run) -> bool:
        return run.cfg.provenance is not None

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return {}

    def steps(self, run: Run, todo: Sequence[str] | None) -> Sequence[Step]:
        pc = configured(run, run.cfg.provenance, "provenance", "add [provenance] (docs/sbom-provenance.md)")
        n = len(run.state.manifest.artifacts) if run.state.manifest else 0
        return [Step.write(f"would write {run.state.dist / provenance.NAME} (SLSA v1, {n} subjects so far)",
                           lambda: self._write(run, pc))]

    def _write(self, run: Run, pc: ProvenanceConfig) -> bool:
        manifest = run.state.require_manifest()
        root = run.cfg.project.root
        ci = env_.matching(lambda k: isinstance(k, str) and k.startswith(CI_PREFIXES) and "TOKEN" not in k)
        doc = provenance.statement(
            manifest, run.state.record, ci, invocation=["invoke", *sys.argv[1:]],
            config_sha256=sha256_file(run.cfg.project.config_path),
            remote=public_remote((proc.capture(["git", "-C", str(root), "remote", "get-url", "origin"]) or "").strip()),
            builder_id=pc.builder_id, kinds=run.cfg.release.publish)
        tx = Transaction(run.state, "provenance", manifest)
        a = tx.add(provenance.NAME, writes(provenance.dumps(doc).encode()), target="", triple="", fmt="intoto.json",
                   binaries=[])
        changed = tx.commit(lambda a: True)
        builder = doc["predicate"]["runDetails"]["builder"]["id"]
        run.ui.info(f"{provenance.NAME}: {len(doc['subject'])} subjects, builder {builder} ({a.size} bytes)")
        return changed
