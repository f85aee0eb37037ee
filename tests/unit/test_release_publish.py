"""[release] publish (issue 29, item 4): which kinds of artifact a release publishes. The config
(hostile values, did-you-mean, refused combinations, their messages), and what verify and the
publish stage's collect() make of a dist/ whose manifest records the choice. No Rust: the config
comes from `config.parse` with a stand-in for cargo; dist/ files are written here."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_pipeline import fake_metadata
from wavrybuild.config import Config, parse
from wavrybuild.config.release import CHOOSABLE, FOLLOWING
from wavrybuild.env import Settings
from wavrybuild.errors import ConfigError
from wavrybuild.manifest import KINDS, Manifest, parse_manifest
from wavrybuild.publish.base import PublishError, collect
from wavrybuild.verify.audit import verify_dir

LINUX = {"x86_64-unknown-linux-gnu": {}}
DEB = {"maintainer": "Ann <a@example.invalid>"}


def load(tmp_path: Path, data: dict[str, Any]) -> Config:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    return parse(tmp_path / "targets.toml", {"targets": LINUX, **data}, fake_metadata, Settings())


def refused(tmp_path: Path, data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, data)
    assert info.value.exit_code == 2
    text = f"{info.value.message}\n{info.value.hint or ''}"
    assert str(tmp_path / "targets.toml") in text and "\x1b" not in text and "\n\n" not in text
    return text


def test_the_choosable_kinds_are_the_manifest_kinds_but_the_ones_that_follow() -> None:
    assert set(CHOOSABLE) | set(FOLLOWING) == KINDS and not set(CHOOSABLE) & set(FOLLOWING)


def test_chosen_kinds_are_typed_and_sorted(tmp_path: Path) -> None:
    cfg = load(tmp_path, {"release": {"publish": ["rpm", "deb"]},
                          "channels": {"deb": DEB, "rpm": DEB}})
    assert cfg.release.publish == ("deb", "rpm")
    assert cfg.release.publishes("deb") and cfg.release.publishes("notes") and cfg.release.publishes("provenance")
    assert not cfg.release.publishes("archive")
    assert load(tmp_path / "b", {}).release.publish is None  # not said: every kind, as before
    assert load(tmp_path / "c", {"release": {}}).release.publishes("archive")


@pytest.mark.parametrize(("value", "said"), [
    ("deb", "release.publish: expected a non-empty list of artifact kinds, got 'deb'"),
    ([], "release.publish: expected a non-empty list of artifact kinds, got []"),
    ({"deb": True}, "release.publish: expected a non-empty list"),
    ([1], "release.publish: expected a kind of artifact: 'archive', 'crate', 'deb',"),
    (["archiv"], "did you mean 'archive'?"),
    (["debs"], "did you mean 'deb'?"),
    (["setup.exe"], "did you mean 'setup'?"),
    (["deb\n"], "got 'deb\\n'"),  # the line break shown escaped, never printed
    (["\x1b[31mdeb"], "got '\\x1b[31mdeb'"),
    (["ARCHIVE"], "release.publish: expected a kind of artifact"),
    (["archive", "archive"], "release.publish: 'archive' is listed twice"),
    (["archive", "notes"], "release.publish: 'notes' is not chosen: it follows the published kinds"),
    (["provenance"], "'provenance' is not chosen"),
])
def test_hostile_values_are_one_clear_error(tmp_path: Path, value: Any, said: str) -> None:
    assert said in refused(tmp_path, {"release": {"publish": value}})


def test_a_misspelt_key_is_refused_with_the_right_name(tmp_path: Path) -> None:
    text = refused(tmp_path, {"release": {"publsh": ["archive"]}})
    assert "release.publsh" in text and "publish" in text


@pytest.mark.parametrize(("data", "said"), [
    ({"release": {"publish": ["deb"]}},
     "release.publish: 'deb' is chosen, but nothing configured makes it (it needs [channels.deb])"),
    ({"release": {"publish": ["wheel", "archive"]}}, "'wheel' is chosen, but nothing configured makes it"),
    ({"release": {"publish": ["dmg"]}}, "(it needs [desktop] and a macOS target)"),
    ({"release": {"publish": ["sbom"]}}, "(it needs [sbom])"),
    ({"release": {"publish": ["installer"]},
      "channels": {"installer": {"base-url": "https://example.invalid/v{version}"}}},
     "release.publish leaves out 'archive' (it chooses 'installer'), but [channels.installer] makes install "
     "scripts that download the archives"),
    ({"release": {"publish": ["archive"]}, "channels": {"npm": {"name": "demo-cli", "publish": True}}},
     "release.publish leaves out 'npm' (it chooses 'archive'), but [channels.npm] (publish = true) sends the npm "
     "packages to the registry"),
    ({"release": {"publish": ["archive"]}, "publish": {"pypi": {}}, "channels": {"pypi": {}}},
     "leaves out 'wheel' (it chooses 'archive'), but [publish.pypi] uploads the wheels"),
    ({"release": {"publish": ["archive"]}, "publish": {"crates": {"packages": ["demo"]}}},
     "leaves out 'crate' (it chooses 'archive'), but [publish.crates] uploads the packaged .crate files"),
    ({"release": {"publish": ["crate"]}}, "'crate' is chosen, but nothing configured makes it (it needs [publish.crates])"),
    ({"release": {"publish": ["rpm"]}, "channels": {"deb": {**DEB, "repository": True}, "rpm": DEB}},
     "leaves out 'deb' (it chooses 'rpm'), but [channels.deb] (its signed repository) serves the .deb packages"),
])
def test_refused_combinations_name_the_key(tmp_path: Path, data: dict[str, Any], said: str) -> None:
    assert said in refused(tmp_path, data)


def test_accepted_combinations(tmp_path: Path) -> None:
    installer = {"installer": {"base-url": "https://example.invalid/v{version}"}}
    # Archives and install scripts together; npm made but not published; deb without its repository.
    cfg = load(tmp_path, {"release": {"publish": ["archive", "installer"]},
                          "channels": {**installer, "npm": {"name": "demo-cli", "publish": False}, "deb": DEB}})
    assert cfg.release.publish == ("archive", "installer")
    # A desktop app: its installers and Linux packages, not the archives.
    desktop = load(tmp_path / "d", {
        "targets": {"x86_64-unknown-linux-gnu": {}, "universal2-apple-darwin": {}, "x86_64-pc-windows-gnu": {}},
        "desktop": {"bundle-id": "com.example.demo"}, "channels": {"deb": DEB, "rpm": DEB},
        "release": {"publish": ["dmg", "msi", "setup", "deb", "rpm"]}})
    assert desktop.release.publish == ("deb", "dmg", "msi", "rpm", "setup")


def test_a_windows_format_not_made_is_refused(tmp_path: Path) -> None:
    text = refused(tmp_path, {
        "targets": {"x86_64-pc-windows-gnu": {}}, "desktop": {"bundle-id": "com.example.demo",
                                                             "windows": {"formats": ["msi"]}},
        "release": {"publish": ["msi", "setup"]}})
    assert "'setup' is chosen, but nothing configured makes it" in text and '"nsis"' in text


# --- what leaves dist/: the manifest's record of the choice ------------------------------------------

def _artifact(d: Path, path: str, kind: str, data: bytes) -> dict[str, Any]:
    (d / path).write_bytes(data)
    return {"target": "x86_64-unknown-linux-gnu", "triple": "x86_64-unknown-linux-gnu", "kind": kind,
            "format": path.rsplit(".", 1)[1], "path": path, "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest()}


def _dist(d: Path, published: list[str] | None) -> Path:
    """A dist/ with an archive, a .deb and an .rpm; SHA256SUMS of the published ones."""
    d.mkdir()
    arts = [_artifact(d, "demo.tar.gz", "archive", b"tar"), _artifact(d, "demo.deb", "deb", b"deb"),
            _artifact(d, "demo.rpm", "rpm", b"rpm")]
    data = {"schema": 1, "crate": "demo", "name": "demo", "version": "1.2.3", "git": {}, "source_date_epoch": 0,
            "source_date_epoch_from": "test", "tools": {}, "artifacts": arts, "checksums": None,
            **({"published": published} if published is not None else {})}
    sums = "".join(f"{a['sha256']}  {a['path']}\n" for a in arts if published is None or a["kind"] in published)
    (d / "SHA256SUMS").write_text(sums)
    (d / "manifest.json").write_text(json.dumps(data))
    return d


def test_the_manifest_records_the_choice_and_reads_it_back(tmp_path: Path) -> None:
    d = _dist(tmp_path / "dist", ["deb", "rpm"])
    m = Manifest.load(d)
    assert m is not None and m.published == ["deb", "rpm"]
    assert [a.path for a in m.released(m.published)] == ["demo.deb", "demo.rpm"]
    assert len(m.released(None)) == 3
    m.save(d)
    assert json.loads((d / "manifest.json").read_text())["published"] == ["deb", "rpm"]
    for bad in (["tarball"], "deb", [1], ["deb", "deb"]):
        with pytest.raises(ValueError, match="published"):
            parse_manifest({**json.loads((d / "manifest.json").read_text()), "published": bad})
    # Every kind: the field is left out, so a manifest reads as it did before the key existed.
    m.published = None
    m.save(d)
    assert "published" not in json.loads((d / "manifest.json").read_text())


def test_collect_takes_only_the_published_kinds(tmp_path: Path) -> None:
    d = _dist(tmp_path / "dist", ["deb", "rpm"])
    _release, files = collect(d)
    assert [f.name for f in files] == ["demo.deb", "demo.rpm", "SHA256SUMS", "manifest.json"]
    # SHA256SUMS written for every kind while the manifest says deb and rpm: nothing is sent.
    everything = _dist(tmp_path / "all", None)
    (d / "SHA256SUMS").write_bytes((everything / "SHA256SUMS").read_bytes())
    with pytest.raises(PublishError, match=r"does not match manifest\.json"):
        collect(d)


def test_verify_checks_the_published_set_and_names_what_was_left_out(tmp_path: Path) -> None:
    d = _dist(tmp_path / "dist", ["deb", "rpm"])
    checks = {c.name: c for c in verify_dir(d)}
    assert all(c.ok for c in checks.values())
    assert checks["demo.deb"].status == checks["demo.rpm"].status == "ok"
    assert checks["demo.tar.gz"].status == "not-published" and "archive" in checks["demo.tar.gz"].detail
    # A downloaded copy of the release holds only the published files: it passes as well.
    (d / "demo.tar.gz").unlink()
    assert all(c.ok for c in verify_dir(d)) and "demo.tar.gz" not in {c.name for c in verify_dir(d)}
    # An unpublished name with other bytes than the manifest records is a file nobody vouches for.
    (d / "demo.tar.gz").write_bytes(b"swapped")
    assert [(c.name, c.status) for c in verify_dir(d) if not c.ok] == [("demo.tar.gz", "unexpected")]
    # Without the manifest's record, a file outside SHA256SUMS is unexpected, as always.
    plain = _dist(tmp_path / "plain", None)
    (plain / "SHA256SUMS").write_text((d / "SHA256SUMS").read_text())
    assert {(c.name, c.status) for c in verify_dir(plain) if not c.ok} == {
        ("demo.tar.gz", "unexpected"), ("demo.tar.gz", "manifest-disagrees")}


def test_verify_refuses_a_published_field_that_is_not_a_list(tmp_path: Path) -> None:
    d = _dist(tmp_path / "dist", ["deb", "rpm"])
    data = json.loads((d / "manifest.json").read_text())
    (d / "manifest.json").write_text(json.dumps({**data, "published": "deb"}))
    bad = [(c.name, c.status) for c in verify_dir(d) if not c.ok]
    assert ("manifest.json", "manifest-disagrees") in bad


def _doc_block(doc: str, heading: str) -> str:
    from tests.unit.test_doc_configs import complete_config

    return complete_config(doc, heading)  # the block marked as the section's complete configuration


def test_the_desktop_app_configuration_of_the_docs_loads_as_it_stands(tmp_path: Path) -> None:
    from tests.unit.test_desktop_config import png

    (tmp_path / "assets").mkdir()
    png(tmp_path / "assets" / "icon.png", 256)
    (tmp_path / "CHANGELOG.md").write_text("## [1.2.3] - 2026-12-01\n\n- First.\n")
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    data = tomllib.loads(_doc_block("desktop.md", "Publishing a desktop app"))
    cfg = parse(tmp_path / "targets.toml", data, fake_metadata, Settings())
    assert cfg.release.publish == ("deb", "dmg", "msi", "rpm", "setup") and cfg.desktop is not None
    assert not cfg.release.publishes("archive")
    # The same app with an install script: it downloads the archives, which the app does not publish.
    data["channels"]["installer"] = {"base-url": "https://example.com/wavry/v{version}"}
    with pytest.raises(ConfigError, match=r"release\.publish leaves out 'archive'"):
        parse(tmp_path / "targets.toml", data, fake_metadata, Settings())


def test_the_linux_packages_configuration_of_the_docs_is_the_integration_tests(tmp_path: Path) -> None:
    from tests.integration.test_release_publish import TOML

    assert _doc_block("publishing.md", "Choosing what is published") == TOML
