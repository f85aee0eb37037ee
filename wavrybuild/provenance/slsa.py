"""SLSA v1 build provenance as an in-toto v1 Statement: which builder made which files (every
artifact's SHA-256 is a subject) from which source commit, how it was invoked, and with what
toolchains. Pure: `statement` builds the document from the manifest, the build record and the CI
environment; the provenance stage writes it, checksum lists it and sign signs it.

No timestamps unless CI supplies them: the same release on the same builder gives the same bytes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .. import __version__
from ..manifest import Manifest
from ..record import BuildRecord

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://wavrybuild.invalid/release/v1"  # this project's own build type: see docs/sbom-provenance.md
NAME = "provenance.intoto.json"
LOCAL_BUILDER = "urn:wavrybuild:local"


def builder_of(env: Mapping[str, str]) -> tuple[str, dict[str, Any], dict[str, str]]:
    """(builder id, the CI's external parameters, run metadata) from the CI's variables."""
    if env.get("GITHUB_ACTIONS") == "true" and env.get("GITHUB_WORKFLOW_REF"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        params = {"workflow": {"ref": env.get("GITHUB_REF", ""), "repository": f"{server}/{env.get('GITHUB_REPOSITORY', '')}",
                               "path": env["GITHUB_WORKFLOW_REF"].split("@")[0].split("/", 2)[-1]},
                  "event": env.get("GITHUB_EVENT_NAME", "")}
        run_id = f"{server}/{env.get('GITHUB_REPOSITORY', '')}/actions/runs/{env.get('GITHUB_RUN_ID', '')}" \
                 f"/attempts/{env.get('GITHUB_RUN_ATTEMPT', '1')}"
        return f"{server}/{env['GITHUB_WORKFLOW_REF']}", params, {"invocationId": run_id}
    if env.get("GITLAB_CI") == "true":
        server = env.get("CI_SERVER_URL", "")
        params = {"pipeline": {"ref": env.get("CI_COMMIT_REF_NAME", ""),
                               "repository": f"{server}/{env.get('CI_PROJECT_PATH', '')}",
                               "source": env.get("CI_PIPELINE_SOURCE", "")}}
        return (f"{server}/{env.get('CI_PROJECT_PATH', '')}/-/runners/{env.get('CI_RUNNER_ID', '')}", params,
                {"invocationId": env.get("CI_JOB_URL", "")})
    return LOCAL_BUILDER, {}, {}


def statement(manifest: Manifest, record: BuildRecord, env: Mapping[str, str], *, invocation: list[str],
              config_sha256: str, remote: str | None, builder_id: str | None = None,
              kinds: Sequence[str] | None = None) -> dict[str, Any]:
    """`kinds`: what [release] publish chooses (None: every kind); the subjects are the published files."""
    subjects = sorted(({"name": a.path, "digest": {"sha256": a.sha256}} for a in manifest.released(kinds)
                       if a.kind != "provenance"), key=lambda s: str(s["name"]))
    builder, ci, metadata = builder_of(env)
    commit = str(manifest.git.get("commit") or "")
    source: dict[str, Any] = {"uri": f"git+{remote}" if remote else "", "digest": {"gitCommit": commit}}
    # Each compiler (toolchain, `rustc -V`, commit) once, with the targets it built: a release made
    # by several rustc versions says so, and which binary came from which (docs/sbom-provenance.md).
    built: dict[tuple[str, str, str], list[str]] = {}
    for t in record.targets.values():
        if t.ok:
            built.setdefault((t.toolchain or "", t.rustc or "", t.rustc_commit or ""), []).append(t.id)
    resolved = [source] + [{"name": label or "rustc", **({"digest": {"gitCommit": commit}} if commit else {}),
                            "annotations": {"rustc": rustc, "targets": sorted(ids)}}
                           for (label, rustc, commit), ids in sorted(built.items())]
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "source": source,
                    "invocation": invocation,
                    "config": {"path": "targets.toml", "digest": {"sha256": config_sha256}},
                    "targets": sorted({a.target for a in manifest.artifacts if a.target}),
                    **ci,
                },
                "internalParameters": {"wavrybuild": __version__, "sourceDateEpoch": manifest.source_date_epoch},
                "resolvedDependencies": resolved,
            },
            "runDetails": {
                "builder": {"id": builder_id or builder, "version": {"wavrybuild": __version__}},
                "metadata": metadata,
            },
        },
    }


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def subject_problems(doc: Any, listed: Mapping[str, str]) -> list[str]:
    """How a provenance statement's subjects differ from SHA256SUMS (every file but itself)."""
    if not isinstance(doc, dict) or doc.get("_type") != STATEMENT_TYPE or doc.get("predicateType") != PREDICATE_TYPE:
        return ["not an in-toto v1 statement with a SLSA v1 predicate"]
    got = {}
    for s in doc.get("subject", []):
        if isinstance(s, dict) and isinstance(s.get("digest"), dict):
            got[str(s.get("name"))] = str(s["digest"].get("sha256"))
    want = {k: v for k, v in listed.items() if k != NAME}
    problems = [f"{n}: not a subject" for n in sorted(set(want) - set(got))]
    problems += [f"{n}: a subject, but not in SHA256SUMS" for n in sorted(set(got) - set(want))]
    problems += [f"{n}: digest differs from SHA256SUMS" for n in sorted(set(got) & set(want)) if got[n] != want[n]]
    return problems
