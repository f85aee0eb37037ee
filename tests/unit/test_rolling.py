"""[[artifacts]] tag (a rolling track): the boundary type, the plan of `invoke release --only
artifacts`, and its local run (the command, the archive, its own SHA256SUMS and manifest, nothing
in dist/). Publishing it is tests/integration/test_rolling.py."""

from __future__ import annotations

import json
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_pipeline import Recorder, fake_metadata
from wavrybuild.checksum import parse_sums, sha256_file
from wavrybuild.config import Config, parse
from wavrybuild.config.artifacts import RollingTag, rolling, versioned
from wavrybuild.env import Settings
from wavrybuild.errors import ConfigError
from wavrybuild.pipeline.stage import Run
from wavrybuild.publish.rolling import RollingStage, plan, rolling_dir
from wavrybuild.release import release_only, release_stages

BUILD = "import pathlib; d = pathlib.Path('site/dist'); d.mkdir(parents=True, exist_ok=True); (d / 'i.html').write_text('hi')"
GITHUB = {"github": {"repo": "o/n", "token-env": "GH_TOKEN_FOR_TEST"}}


def _cfg(tmp_path: Path, artifacts: Any, publish: dict[str, Any] | None = None) -> Config:
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    data: dict[str, Any] = {"targets": {"x86_64-unknown-linux-gnu": {}}, "artifacts": artifacts}
    if publish is not None:
        data["publish"] = publish
    return parse(tmp_path / "targets.toml", data, fake_metadata, Settings())


def _site(tag: Any = "website-latest", name: str = "website.tar.gz") -> dict[str, Any]:
    return {"name": name, "command": [sys.executable, "-c", BUILD], "directory": "site/dist", "tag": tag}


def test_tag_parsed_and_split(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, [_site(), {"name": "docs.zip", "directory": "docs"}, _site(name="extra.tar.xz")])
    assert [a.tag for a in cfg.artifacts] == ["website-latest", None, "website-latest"]
    assert [a.name for a in versioned(cfg.artifacts)] == ["docs.zip"]
    assert {t: [a.name for a in arts] for t, arts in rolling(cfg.artifacts).items()} == {
        "website-latest": ["website.tar.gz", "extra.tar.xz"]}


@pytest.mark.parametrize("tag", ["", "a/b", "../x", "..", "v{version}", "-x", ".hidden", "x.lock", "a b", "a..b",
                                 "line\nbreak", "tab\tx", "@", "a@{1}", "x~1", "x^", "a:b", "a?", "a*", "[a", "a\\b",
                                 "x" * 129, "caf\u00e9", "\u202ex", 7, True, ["a"], {"a": 1}])
def test_hostile_tags_refused(tmp_path: Path, tag: Any) -> None:
    with pytest.raises(ConfigError) as exc:
        _cfg(tmp_path, [_site(tag)])
    message = str(exc.value)
    first = message.split("\n  hint:")[0]  # the value is shown escaped: no line break or tab of its own
    assert "artifacts[0].tag: expected a fixed tag name" in first and "\n" not in first and "\t" not in first
    assert "website-latest" in (exc.value.hint or "")
    assert not RollingTag.valid(tag) if isinstance(tag, str) else True


@pytest.mark.parametrize("tag", ["website-latest", "docs_1.2+x", "W"])
def test_good_tags(tag: str) -> None:
    assert RollingTag.parse(tag) == tag


def test_plan_publishes_each_tag_as_a_rolling_github_release(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, [_site(), _site("docs-latest", "docs.tar.gz")], GITHUB)
    plans = plan(cfg, publish=True)
    assert [(p.tag, [a.name for a in p.artifacts]) for p in plans] == [
        ("website-latest", ["website.tar.gz"]), ("docs-latest", ["docs.tar.gz"])]
    gh = plans[0].github
    assert gh is not None and gh.rolling and not gh.draft and gh.prerelease is False and not gh.latest
    assert gh.repo == "o/n"
    assert gh.tag.render({"name": "demo", "version": "9.9.9", "commit": "c", "date": "d"}) == "website-latest"
    assert plans[0].directory == rolling_dir(cfg.project.dist_dir, RollingTag("website-latest"))
    assert plans[0].directory.is_relative_to(cfg.project.dist_dir / ".wavrybuild")  # never a file of dist/
    assert [p.github for p in plan(cfg, publish=False)] == [None, None]


@pytest.mark.parametrize(("artifacts", "publish", "expected"), [
    ([{"name": "w.tar.gz", "directory": "d"}], GITHUB, "no [[artifacts]] entry has a tag"),
    ([_site()], None, "a rolling tag is published to [publish.github], which is not configured"),
    ([_site("v1.2.3")], GITHUB, "tag 'v1.2.3' is the versioned release's own tag"),
    ([_site("stable")], {"github": {**GITHUB["github"], "tag": "stable"}}, "versioned release's own tag"),
])
def test_plan_refuses(tmp_path: Path, artifacts: Any, publish: Any, expected: str) -> None:
    cfg = _cfg(tmp_path, artifacts, publish)
    with pytest.raises(ConfigError) as exc:
        plan(cfg, publish=True)
    assert expected in str(exc.value)


def test_release_stages_end_with_the_rolling_track() -> None:
    names = [s.name for s in release_stages(part=False, no_publish=False)]
    assert names[-2:] == ["publish", "rolling"]
    assert "rolling" not in [s.name for s in release_stages(part=True, no_publish=False)]
    assert [s.name for s in release_stages(part=False, no_publish=True)][-1] == "rolling"


def test_release_refuses_an_unpublishable_rolling_tag_before_it_builds(tmp_path: Path) -> None:
    from wavrybuild.release import release

    cfg = _cfg(tmp_path, [_site()])
    ui = Recorder()
    with pytest.raises(ConfigError, match=r"a rolling tag is published to \[publish.github\]"):
        release(Run(cfg, ui, cfg.targets, dry=True))
    assert ui.lines == []  # no stage was started, not even in a dry run
    assert not cfg.project.dist_dir.exists()


def test_only_takes_artifacts(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, [_site()], GITHUB)
    with pytest.raises(ConfigError, match="did you mean 'artifacts'"):
        release_only(Run(cfg, Recorder(), cfg.targets, dry=True), "artifact")


def test_dry_run_plans_only_the_rolling_set(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, [_site()], GITHUB)
    ui = Recorder()
    release_only(Run(cfg, ui, cfg.targets, dry=True), "artifacts")
    said = "\n".join(text for _, text in ui.lines)
    assert "would pack" in said and "website-latest" in said and "would publish" in said and "rolling" in said
    assert "cargo" not in said and "SHA256SUMS for the artifacts of website-latest only" in said
    assert not cfg.project.dist_dir.exists()  # a dry run writes nothing


def test_local_run_makes_its_own_set_and_reruns_unchanged(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, [_site()], GITHUB)
    run = Run(cfg, Recorder(), cfg.targets)
    stage = RollingStage(publish=False)
    from wavrybuild.pipeline.stage import execute

    assert execute(run, stage.steps(run, None)) is True
    d = rolling_dir(cfg.project.dist_dir, RollingTag("website-latest"))
    assert sorted(p.name for p in d.iterdir() if not p.name.startswith(".")) == [
        "SHA256SUMS", "manifest.json", "website.tar.gz"]
    assert parse_sums((d / "SHA256SUMS").read_text()) == {"website.tar.gz": sha256_file(d / "website.tar.gz")}
    manifest = json.loads((d / "manifest.json").read_text())
    assert [a["path"] for a in manifest["artifacts"]] == ["website.tar.gz"] and manifest["version"] == "1.2.3"
    with tarfile.open(d / "website.tar.gz") as tar:
        assert [m.name for m in tar.getmembers() if m.isfile()] == ["website/i.html"]
    # dist/ itself holds nothing of it: no manifest.json, no SHA256SUMS, no archive.
    assert sorted(p.name for p in cfg.project.dist_dir.iterdir()) == [".wavrybuild"]
    stamp = (d / "website.tar.gz").stat().st_mtime_ns, (d / "SHA256SUMS").stat().st_mtime_ns
    assert execute(run, stage.steps(run, None)) is False
    assert ((d / "website.tar.gz").stat().st_mtime_ns, (d / "SHA256SUMS").stat().st_mtime_ns) == stamp


def _docs_configuration() -> str:
    """The complete configuration under docs/desktop.md's "A desktop app with a website on a rolling tag"."""
    from tests.unit.test_doc_configs import complete_config

    return complete_config("desktop.md", "A desktop app with a website on a rolling tag")


def test_the_docs_desktop_app_with_a_rolling_website_loads_as_it_stands(tmp_path: Path) -> None:
    import tomllib

    from tests.unit.test_desktop_config import png

    (tmp_path / "assets").mkdir()
    png(tmp_path / "assets" / "icon.png", 256)
    (tmp_path / "minisign.pub").write_text("untrusted comment: minisign public key\n"
                                           "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3\n")
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    cfg = parse(tmp_path / "targets.toml", tomllib.loads(_docs_configuration()), fake_metadata, Settings())
    (site,) = cfg.artifacts
    assert site.tag == "website-latest" and site.directory == tmp_path / "website/dist" and not versioned(cfg.artifacts)
    assert cfg.desktop is not None and cfg.channels.linux and cfg.sign.methods == ("gpg", "minisign")
    (p,) = plan(cfg, publish=True)
    assert p.github is not None and p.github.repo == "example/wavry" and p.github.rolling
