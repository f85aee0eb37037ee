"""Snapshot or release (issue 30 item 8): the pure decision from the checkout's state, the snapshot
versions every format must accept, WAVRYBUILD_PUBLISH_UNTAGGED's hostile values, and git read from
real repositories made here (untagged, tagged, dirty, not a checkout)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from tests.unit.test_pipeline import Recorder, fake_metadata
from wavrybuild import snapshot as sn
from wavrybuild.channels.linux.nfpm import package_version
from wavrybuild.config import Config, parse
from wavrybuild.config.channels import pep440
from wavrybuild.config.checks import TagTemplate
from wavrybuild.config.npm import check_semver
from wavrybuild.config.values import CommitId
from wavrybuild.env import Settings
from wavrybuild.errors import ConfigError
from wavrybuild.pipeline.stage import Run

SHA = CommitId("0123456789abcdef0123456789abcdef01234567")
TAGS = ("v1.2.3", "1.2.3")


def state(**kw: Any) -> sn.GitState:
    return sn.GitState(**{"commit": SHA, **kw})


# --- the decision ---------------------------------------------------------------------------------------

def test_at_the_tag_and_clean_is_a_release() -> None:
    for tag in TAGS:
        d = sn.decide(state(tags=frozenset({tag, "other"})), TAGS)
        assert isinstance(d, sn.Release) and d.why == f"at tag {tag}"


@pytest.mark.parametrize(("st", "why"), [
    (sn.GitState(None), "not a git checkout"),
    (state(), "not at tag v1.2.3 or 1.2.3"),
    (state(tags=frozenset({"v1.2.2", "v1.2.3-rc.1"})), "not at tag v1.2.3 or 1.2.3"),
    (state(tags=frozenset({"v1.2.3"}), dirty=True), "dirty tree: tracked files differ from the commit"),
])
def test_anything_else_is_a_snapshot_saying_why(st: sn.GitState, why: str) -> None:
    d = sn.decide(st, TAGS)
    assert d == sn.Snapshot(why, st.commit)
    assert isinstance(d, sn.Snapshot) and d.summary == f"snapshot: not published (why: {why})"


def test_the_flag_publishes_an_untagged_or_dirty_tree_and_says_who_asked() -> None:
    for st in (state(), state(dirty=True), sn.GitState(None)):
        d = sn.decide(st, TAGS, publish_untagged="--publish-untagged")
        assert isinstance(d, sn.Release) and d.why.endswith("published as asked by --publish-untagged")


def test_the_release_tag_is_the_release_pages_template_else_v_version() -> None:
    values = {"name": "demo", "version": "1.2.3", "commit": SHA, "date": "2026-01-02"}
    assert sn.release_tags(None, values) == ("v1.2.3", "1.2.3")
    assert sn.release_tags(TagTemplate("{name}-{version}"), values) == ("demo-1.2.3",)
    assert sn.release_tags(TagTemplate("release/{date}"), values) == ("release/2026-01-02",)
    # A version that no tag name can hold: no tag is the release's (never an exception).
    assert sn.release_tags(TagTemplate("v{version}"), {**values, "version": "1..2"}) == ()
    assert sn.release_tags(None, {**values, "version": "a b"}) == ()
    assert isinstance(sn.decide(state(tags=frozenset({"v1..2"})), ()), sn.Snapshot)


# --- versions -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("version", "snap", "pep", "deb"), [
    ("1.2.3", "1.2.3-snapshot.g0123456", "1.2.3.dev0+snapshot.g0123456", "1.2.3~snapshot.g0123456"),
    ("1.2.3-rc.1", "1.2.3-rc.1.snapshot.g0123456", "1.2.3rc1.dev0+snapshot.g0123456", "1.2.3~rc.1.snapshot.g0123456"),
    ("0.1.0+build.5", "0.1.0-snapshot.g0123456", "0.1.0.dev0+snapshot.g0123456", "0.1.0~snapshot.g0123456"),
])
def test_a_snapshot_version_every_format_accepts_and_sorts_before_the_release(version: str, snap: str, pep: str,
                                                                              deb: str) -> None:
    assert sn.snapshot_version(version, SHA) == snap
    assert sn.is_snapshot(snap) and not sn.is_snapshot(version)
    assert sn.base_version(snap) == version.split("+")[0]
    check_semver(snap, "test")  # npm's grammar (semver 2.0.0)
    final = version.split("+")[0].split("-")[0]  # the release a snapshot of this version leads to
    assert pep440(snap) == pep and Version(pep) < Version(final)
    assert package_version(snap) == deb
    dpkg = subprocess.run(["dpkg", "--compare-versions", deb, "lt", final], check=False)
    assert dpkg.returncode == 0  # a snapshot never shadows the release: apt does not take it for an upgrade


def test_no_commit_gives_a_bare_snapshot_suffix() -> None:
    assert sn.snapshot_version("1.2.3", None) == "1.2.3-snapshot"
    assert sn.base_version("1.2.3-snapshot") == "1.2.3" and pep440("1.2.3-snapshot") == "1.2.3.dev0+snapshot"


def test_a_real_prerelease_is_not_taken_for_a_snapshot() -> None:
    for v in ("1.2.3-snapshotx", "1.2.3-rc.snapshot.1", "1.2.3-snapshot.g012", "1.2.3"):
        assert not sn.is_snapshot(v) and sn.base_version(v) == v


# --- the variable: a boundary value -----------------------------------------------------------------------

@pytest.mark.parametrize(("value", "meant"), [(None, False), ("", False), ("1", True), ("true", True),
                                              (" YES ", True), ("0", False), ("no", False), ("False", False)])
def test_the_variable_is_a_yes_or_no(value: str | None, meant: bool) -> None:
    assert sn.untagged_setting(value) is meant


@pytest.mark.parametrize("value", ["maybe", "1\nrm -rf /", "../../etc/passwd", "\x1b[31mred", "yes please"])
def test_a_hostile_variable_is_one_message_naming_it(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        sn.untagged_setting(value)
    text = str(info.value)
    assert text.startswith("WAVRYBUILD_PUBLISH_UNTAGGED: ") and "not a yes/no value" in text
    assert info.value.exit_code == 2 and "\n" not in info.value.message and "\x1b" not in info.value.message


# --- git, for real --------------------------------------------------------------------------------------

def git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_AUTHOR_DATE": "2026-01-02T03:04:05Z",
           "GIT_COMMITTER_DATE": "2026-01-02T03:04:05Z"}
    return subprocess.run(["git", "-C", str(root), *args], env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("CI_COMMIT_TAG", "GITHUB_REF_TYPE", "GITHUB_REF_NAME"):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "repo"
    root.mkdir()
    (root / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    (root / ".gitignore").write_text("dist/\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    return root


def test_git_read_from_a_real_checkout(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    st = sn.read_git(repo)
    assert st == sn.GitState(CommitId(head), False, frozenset(), "2026-01-02")
    (repo / "dist").mkdir()
    (repo / "dist" / "x").write_text("built")  # untracked (and ignored) output: still clean
    (repo / "notes.txt").write_text("untracked")
    assert not sn.read_git(repo).dirty
    git(repo, "tag", "v1.2.3")
    git(repo, "tag", "-a", "-m", "annotated", "also")
    assert sn.read_git(repo).tags == {"v1.2.3", "also"}
    (repo / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.4"\n')
    assert sn.read_git(repo).dirty


def test_not_a_checkout_is_said_so(tmp_path: Path) -> None:
    (tmp_path / "lone").mkdir()
    assert sn.read_git(tmp_path / "lone") == sn.GitState(None)


def test_a_ci_tag_job_counts_its_tag_when_the_clone_lacks_it_but_not_another_commits(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI_COMMIT_TAG", "v1.2.3")
    assert sn.read_git(repo).tags == {"v1.2.3"}  # not fetched here: the job's word
    git(repo, "tag", "v1.2.3")
    (repo / "b").write_text("b")
    git(repo, "add", "b")
    git(repo, "commit", "-q", "-m", "later")
    assert sn.read_git(repo).tags == frozenset()  # the tag is here, on another commit
    monkeypatch.setenv("CI_COMMIT_TAG", "v1\n2")  # not a ref name: ignored
    monkeypatch.delenv("CI_COMMIT_TAG")
    monkeypatch.setenv("GITHUB_REF_TYPE", "branch")
    monkeypatch.setenv("GITHUB_REF_NAME", "v9.9.9")
    assert sn.read_git(repo).tags == frozenset()


# --- the config a snapshot is packaged from --------------------------------------------------------------

def load(root: Path, data: dict[str, Any] | None = None) -> Config:
    return parse(root / "targets.toml", {"targets": {"x86_64-unknown-linux-gnu": {}}, **(data or {})},
                 fake_metadata, Settings())


def test_decide_for_reads_the_checkout_the_flag_and_the_variable(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(sn.ENV, raising=False)
    cfg = load(repo)
    d = sn.decide_for(cfg, flag=False)
    assert d == sn.Snapshot("not at tag v1.2.3 or 1.2.3", CommitId(git(repo, "rev-parse", "HEAD")))
    assert sn.decide_for(cfg, flag=True) == sn.Release("not at tag v1.2.3 or 1.2.3, published as asked by "
                                                       "--publish-untagged")
    monkeypatch.setenv(sn.ENV, "1")
    assert isinstance(sn.decide_for(cfg, flag=False), sn.Release)
    monkeypatch.setenv(sn.ENV, "perhaps")
    with pytest.raises(ConfigError, match="WAVRYBUILD_PUBLISH_UNTAGGED"):
        sn.decide_for(cfg, flag=False)
    monkeypatch.delenv(sn.ENV)
    git(repo, "tag", "demo-v1.2.3")
    tagged = load(repo, {"publish": {"github": {"repo": "o/demo", "tag": "{name}-v{version}"}}})
    assert sn.decide_for(tagged, flag=False) == sn.Release("at tag demo-v1.2.3")
    assert isinstance(sn.decide_for(cfg, flag=False), sn.Snapshot)  # v1.2.3 is not there


def test_a_snapshot_config_names_every_package_and_bundle_with_the_snapshot_version(repo: Path) -> None:
    cfg = load(repo, {"channels": {"pypi": {"name": "demo"}}})
    d = sn.Snapshot("not at tag v1.2.3", SHA)
    snap = sn.apply(cfg, d)
    assert snap.project.version == "1.2.3-snapshot.g0123456" == snap.project.metadata.version
    assert [p.version for p in snap.project.packages] == ["1.2.3-snapshot.g0123456"]
    assert [b.version for b in snap.bundles] == ["1.2.3-snapshot.g0123456"]
    assert sn.apply(cfg, sn.Release("at tag v1.2.3")) is cfg
    # The binaries are the crate's: the build key (and smoke's {version}) keep its own version.
    from wavrybuild.build.plan import build_key
    assert build_key(snap.project, snap.targets[0]) == build_key(cfg.project, cfg.targets[0])


def test_a_merge_of_snapshot_parts_is_a_snapshot_even_at_the_tag(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(sn.ENV, raising=False)
    git(repo, "tag", "v1.2.3")
    cfg = sn.apply(load(repo), sn.Snapshot("x", SHA))  # as the release job reads the parts' record
    assert sn.decide_for(cfg, flag=False) == sn.Snapshot("the parts were built as a snapshot",
                                                         CommitId(git(repo, "rev-parse", "HEAD")))


def test_a_snapshot_release_publishes_nothing_and_leaves_the_repositories(repo: Path) -> None:
    from wavrybuild.release import release_stages

    names = [s.name for s in release_stages(part=False, no_publish=True, repos=False)]
    assert "publish" not in names and "repos" not in names and "package" in names
    full = [s.name for s in release_stages(part=False, no_publish=False)]
    assert "publish" in full and "repos" in full


def test_the_summary_says_snapshot_and_why(repo: Path) -> None:
    from wavrybuild.pipeline.runner import Pipeline

    cfg = sn.apply(load(repo), sn.Snapshot("not at tag v1.2.3", SHA))
    ui = Recorder()
    Pipeline(Run(cfg, ui, cfg.targets), note=sn.Snapshot("not at tag v1.2.3", SHA).summary).summary()
    assert ui.tables[0][0] == ("Release of demo 1.2.3-snapshot.g0123456 "
                               "(snapshot: not published (why: not at tag v1.2.3))")


def test_snapshot_values_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        sn.Snapshot("x").why = "y"  # type: ignore[misc]
