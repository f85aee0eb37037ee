"""The repository's thin CI files: actionlint on the GitHub workflows, the GitLab file parses."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.conftest import REPO, invoke


def test_github_workflows_pass_actionlint() -> None:
    actionlint = shutil.which("actionlint")
    assert actionlint, "actionlint is not installed (pip install -e '.[test]' brings it)"
    workflows = sorted((REPO / ".github/workflows").glob("*.yml"))
    assert {w.name for w in workflows} == {"build.yml", "release.yml", "release-matrix.yml", "release-phases.yml"}
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



def test_our_release_matrix_workflow_is_the_one_init_writes() -> None:
    """One source for the fan-out workflow: ours is init's text under another name, without init's
    header (regenerate: python -c "from wavrybuild.init import github_workflow; print(github_workflow(
    'release-matrix', from_init=False), end='')" > .github/workflows/release-matrix.yml)."""
    from wavrybuild.init import github_workflow

    ours = (REPO / ".github/workflows/release-matrix.yml").read_text()
    assert ours == github_workflow("release-matrix", from_init=False)
    assert github_workflow().replace("name: release\n", "name: release-matrix\n", 1).replace(
        "group: release-", "group: release-matrix-", 1).endswith(ours)

CACHE_PATHS = ["~/.cargo/registry/index/", "~/.cargo/registry/cache/", "~/.cargo/git/db/", "target/"]


def _uses_a_cache(step: dict) -> bool:
    """actions/cache, or a setup action with its built-in cache switched on."""
    uses = step.get("uses", "")
    return uses.startswith(("actions/cache", "Swatinem/rust-cache")) or (
        uses.startswith("actions/setup-") and "cache" in (step.get("with") or {}))


def test_pushes_and_pull_requests_build_with_a_cache_per_target_and_releases_never_restore_one() -> None:
    """Issue 30 item 7: build.yml (branches and pull requests) restores and saves cargo's downloads and
    the target dir per target, keyed by Cargo.lock, the toolchain and the target; no workflow a tag
    triggers reads a cache (a poisoned cache would ship in a release)."""
    from wavrybuild.init import CACHE_ACTION, github_build_workflow

    text = (REPO / ".github/workflows/build.yml").read_text()
    assert text == github_build_workflow("python -m pip install -e .")  # the one init writes, installing this checkout
    build = yaml.safe_load(text)
    on = build[True]  # YAML 1.1 reads the key `on` as true
    assert set(on) == {"push", "pull_request"} and on["push"] == {"branches": ["**"]}  # no tags
    (cache,) = [s for s in build["jobs"]["build"]["steps"] if _uses_a_cache(s)]
    assert re.fullmatch(r"actions/cache@[0-9a-f]{40}", cache["uses"]) and cache["uses"] in CACHE_ACTION
    assert cache["with"]["path"].split() == CACHE_PATHS
    key = cache["with"]["key"]
    for part in ("${{ matrix.target }}", "${{ steps.toolchain.outputs.hash }}", "hashFiles('**/Cargo.lock'"):
        assert part in key
    assert cache["with"]["restore-keys"].strip() == key.split("${{ hashFiles")[0]
    assert not any(_uses_a_cache(s) for s in build["jobs"]["plan"]["steps"])
    for path in sorted((REPO / ".github/workflows").glob("release*.yml")):
        wf = yaml.safe_load(path.read_text())
        assert "tags" in wf[True]["push"], path.name
        steps = [s for job in wf["jobs"].values() for s in job.get("steps", [])]
        assert steps and not any(_uses_a_cache(s) for s in steps), f"{path.name} restores a cache"


def test_zizmor_would_refuse_the_cache_in_a_tag_triggered_workflow(tmp_path: Path) -> None:
    """The trade-off is checked by the audit itself: the same build workflow triggered by a tag is a
    cache-poisoning finding (so test_github_workflows_pass_zizmor would catch a cache in a release)."""
    zizmor = shutil.which("zizmor")
    assert zizmor, "zizmor is not installed (pip install -e '.[test]' brings it)"
    text = (REPO / ".github/workflows/build.yml").read_text()
    tagged = re.sub(r"(?m)^    branches: .*$", '    tags: ["v*"]', text)
    assert tagged != text
    (tmp_path / ".github/workflows").mkdir(parents=True)
    (tmp_path / ".github/workflows/build.yml").write_text(tagged)
    done = subprocess.run([zizmor, "--offline", "--no-progress", str(tmp_path / ".github/workflows")],
                          capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "cache-poisoning" in done.stdout + done.stderr


def test_init_writes_the_cached_build_workflow_beside_the_release_one() -> None:
    from wavrybuild.init import CACHE_ACTION, Options, ci_files

    files = {f.path: f.text for f in ci_files(Options(("github",)))}
    assert list(files) == [".github/workflows/release.yml", ".github/workflows/build.yml"]
    assert CACHE_ACTION in files[".github/workflows/build.yml"]
    assert "actions/cache" not in files[".github/workflows/release.yml"]
    assert "pip install 'wavrybuild==" in files[".github/workflows/build.yml"]  # not the user's repository


def test_inits_merge_job_checks_out_the_history_the_release_notes_need() -> None:
    """As in our release-matrix.yml: the merge job writes RELEASE_NOTES.md from the commits since the
    previous tag, so its checkout has every commit and tag; the part jobs keep the shallow default."""
    from wavrybuild.init import github_workflow

    jobs = yaml.safe_load(github_workflow())["jobs"]

    def depth(job: str) -> object:
        return next(s for s in jobs[job]["steps"] if s.get("uses", "").startswith("actions/checkout"))["with"].get(
            "fetch-depth")

    assert depth("merge") == 0 and depth("build") is None and depth("plan") is None
