"""The repository's thin CI files: actionlint on the GitHub workflows, the GitLab file parses."""

from __future__ import annotations

import json
import shutil
import subprocess

import yaml

from tests.conftest import REPO, invoke


def test_github_workflows_pass_actionlint() -> None:
    actionlint = shutil.which("actionlint")
    assert actionlint, "actionlint is not installed (pip install -e '.[test]' brings it)"
    workflows = sorted((REPO / ".github/workflows").glob("*.yml"))
    assert {w.name for w in workflows} == {"release.yml", "release-matrix.yml", "release-phases.yml"}
    done = subprocess.run([actionlint, *map(str, workflows)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_workflows_are_thin_and_least_privilege() -> None:
    single = yaml.safe_load((REPO / ".github/workflows/release.yml").read_text())
    assert single["permissions"] == {"contents": "read"}
    assert single["concurrency"]["group"].startswith("release-")
    steps = single["jobs"]["release"]["steps"]
    runs = [s["run"] for s in steps if "run" in s]
    assert runs[-1] == "python -m invoke release"
    # A release job trusts no cache (another workflow could have poisoned it) and pins every action.
    assert not any(s.get("uses", "").startswith("actions/cache") for s in steps)
    matrix = yaml.safe_load((REPO / ".github/workflows/release-matrix.yml").read_text())
    assert "fromJSON(needs.plan.outputs.matrix)" in matrix["jobs"]["build"]["strategy"]["matrix"]
    assert any("--merge parts" in s.get("run", "") for s in matrix["jobs"]["merge"]["steps"])
    # Phases: packages by commit into storage; the release job only merges (no toolchain, no build).
    phases = yaml.safe_load((REPO / ".github/workflows/release-phases.yml").read_text())
    assert phases["permissions"] == {"contents": "read"} and "WAVRYBUILD_STORAGE" in phases["env"]
    assert any("--part --target" in s.get("run", "") for s in phases["jobs"]["packages"]["steps"])
    release = [s.get("run", "") for s in phases["jobs"]["release"]["steps"]]
    assert any("--merge-from-storage" in r for r in release) and not any("toolchain" in r for r in release)


def test_gitlab_child_pipeline_in_phases_merges_from_storage() -> None:
    done = invoke("plan", "--format", "gitlab", cwd=REPO, env={"WAVRYBUILD_STORAGE": "s3://releases/demo"})
    assert done.returncode == 0, done.stderr
    child = json.loads(done.stdout)
    assert child["merge"]["script"][-1] == 'python3 -m invoke release --merge-from-storage "$CI_COMMIT_SHA"'
    assert all(not need["artifacts"] for need in child["merge"]["needs"])


def test_github_workflows_pass_zizmor() -> None:
    """zizmor (PyPI), offline audits: pinned actions, no persisted credentials, no template
    injection into `run:`, no cache poisoning, least-privilege permissions."""
    zizmor = shutil.which("zizmor")
    assert zizmor, "zizmor is not installed (pip install -e '.[test]' brings it)"
    done = subprocess.run([zizmor, "--offline", "--no-progress", str(REPO / ".github/workflows")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout + done.stderr


def test_gitlab_file_parses_and_child_pipeline_is_yaml() -> None:
    gitlab = yaml.safe_load((REPO / ".gitlab-ci.yml").read_text())
    assert {"plan", "release", "release-single"} <= set(gitlab)
    assert gitlab["release"]["trigger"]["include"][0]["artifact"] == "release-pipeline.json"
    done = invoke("plan", "--format", "gitlab", cwd=REPO)
    assert done.returncode == 0, done.stderr
    child = yaml.safe_load(done.stdout)  # JSON is YAML: GitLab reads the artifact as a pipeline
    assert child == json.loads(done.stdout)
    parts = {name.removeprefix("part:"): job for name, job in child.items() if name.startswith("part:")}
    assert parts and child["default"]["image"].startswith("python:")  # children do not inherit `default:`
    for target, job in parts.items():
        assert job["script"][1] == f"python3 -m invoke toolchain --install --target {target}"  # its own only
        assert job["script"][-1] == f"python3 -m invoke release --part --target {target}"


def test_release_jobs_attest_build_provenance_of_every_listed_file() -> None:
    for name, job in (("release.yml", "release"), ("release-matrix.yml", "merge"), ("release-phases.yml", "release")):
        wf = yaml.safe_load((REPO / ".github/workflows" / name).read_text())
        j = wf["jobs"][job]
        assert j["permissions"] == {"contents": "write", "id-token": "write", "attestations": "write"}, name
        attest = [s for s in j["steps"] if s.get("uses", "").startswith("actions/attest-build-provenance@")]
        assert len(attest) == 1 and attest[0]["with"] == {"subject-checksums": "dist/SHA256SUMS"}, name
        # After the release step that wrote SHA256SUMS.
        assert j["steps"].index(attest[0]) == len(j["steps"]) - 1
    # A matrix part's SBOMs and installers travel to the merge job.
    build = yaml.safe_load((REPO / ".github/workflows/release-matrix.yml").read_text())["jobs"]["build"]
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert {"dist/*.cdx.json", "dist/*.dmg", "dist/*.msi", "dist/*.deb"} <= set(upload["with"]["path"].split())


def test_part_jobs_upload_every_file_the_merge_reads() -> None:
    """A signed part's signature (.minisig, .sigstore.json) and the crates stage's files travel with the
    part through CI artifacts; a glob that misses one makes the merge refuse or lack the part."""
    from fnmatch import fnmatch

    from wavrybuild.ci.matrix import PART_FILES
    from wavrybuild.init import github_workflow

    written = ["dist/manifest-part-x86_64-unknown-linux-gnu.json", "dist/manifest-part-x86_64-unknown-linux-gnu.json.minisig",
               "dist/manifest-part-x86_64-unknown-linux-gnu.json.sigstore.json", "dist/p2p-core-0.7.0.crate",
               "dist/p2p-core-0.7.0.crate.json", "dist/wavry-demo-0.1.0-x86_64-unknown-linux-gnu.tar.gz"]
    gitlab = json.loads(invoke("plan", "--format", "gitlab", cwd=REPO).stdout)
    lists = {job: spec["artifacts"]["paths"] for job, spec in gitlab.items() if job.startswith("part:")}
    for text, name in ((REPO / ".github/workflows/release-matrix.yml").read_text(), "release-matrix.yml"), \
                      (github_workflow(), "init's workflow"):
        steps = yaml.safe_load(text)["jobs"]["build"]["steps"]
        upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact"))
        lists[name] = upload["with"]["path"].split()
    assert lists and PART_FILES
    for where, globs in lists.items():
        missed = [f for f in written if not any(fnmatch(f, g) for g in globs)]
        assert not missed, (where, missed)
