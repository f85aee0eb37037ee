"""SBOM hygiene and packages without a repository (issue 29, items 7 and 5), without Rust:

- Cargo.toml license strings become SPDX expressions (cargo's old `MIT/Apache-2.0` is OR), checked
  against SPDX's lists by packaging.licenses; what cannot be read is refused — a dependency's is kept
  as a license name (the document stays schema-valid) and named in a warning, the project's own is
  a ConfigError naming its Cargo.toml and `package.license`;
- a path crate's cargo id loses the machine's path: the same workspace at two places gives the same
  ids, so the same SBOM bytes; the provenance leaves out a local git remote;
- [channels.deb] / [channels.rpm] `repository`: a boundary-typed key, and the repos stage applies
  only when a repository is asked for (or [sign] has gpg, as before).

The metadata is cargo's documented `cargo metadata` JSON shape; the SBOM is written by the real
cyclonedx-python-lib and validated against the CycloneDX schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from tests.unit.test_pipeline import Recorder, fake_metadata
from wavrybuild.channels.repos.stage import ReposStage
from wavrybuild.config import Config, parse
from wavrybuild.env import Settings
from wavrybuild.errors import ConfigError
from wavrybuild.pipeline.stage import Run
from wavrybuild.sbom import cyclonedx as sbom
from wavrybuild.spdx import License, spdx_expression

TARGET = "x86_64-unknown-linux-gnu"


@pytest.mark.parametrize(("text", "expected"), [
    ("MIT", "MIT"),
    ("MIT OR Apache-2.0", "MIT OR Apache-2.0"),
    ("MIT/Apache-2.0", "MIT OR Apache-2.0"),  # cargo's deprecated separator
    ("Apache-2.0/MIT", "Apache-2.0 OR MIT"),
    ("MIT / Apache-2.0", "MIT OR Apache-2.0"),
    ("Unlicense/MIT", "Unlicense OR MIT"),
    ("MIT/Apache-2.0/Zlib", "MIT OR Apache-2.0 OR Zlib"),
    ("mit/apache-2.0", "MIT OR Apache-2.0"),  # SPDX ids are case-insensitive; written canonically
    ("MIT or apache-2.0", "MIT OR Apache-2.0"),
    ("MIT  OR   Apache-2.0 ", "MIT OR Apache-2.0"),
    ("Apache-2.0 WITH LLVM-exception", "Apache-2.0 WITH LLVM-exception"),
    ("Apache-2.0 WITH LLVM-exception/MIT", "Apache-2.0 WITH LLVM-exception OR MIT"),
    ("(MIT OR Apache-2.0) AND Unicode-3.0", "(MIT OR Apache-2.0) AND Unicode-3.0"),
    ("GPL-2.0-or-later", "GPL-2.0-or-later"),
    ("LicenseRef-Acme-Proprietary", "LicenseRef-Acme-Proprietary"),
    # Odd whitespace between tokens: the expression is rebuilt from checked tokens, so it never reaches the SBOM.
    ("MIT\u2028OR\tApache-2.0", "MIT OR Apache-2.0"),
    ("GPL-3.0-or-later/ORACLE-DUMMY-x", None),  # "OR" inside an id is not an operator; the id is unknown
])
def test_license_strings_normalise(text: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(ValueError, match=r"(?i)unknown license"):
            spdx_expression(text)
    else:
        assert spdx_expression(text) == expected
        assert License.parse(text) == License(text, expected)


@pytest.mark.parametrize(("text", "why"), [
    ("", "invalid"),
    ("   ", "invalid"),
    ("/", "empty license"),
    ("MIT/", "empty license"),
    ("/MIT", "empty license"),
    ("MIT//Apache-2.0", "empty license"),
    ("MIT AND BSD-3-Clause/Apache-2.0", "mixed"),  # which binds tighter? refused, not guessed
    ("MIT/Apache-2.0 OR Zlib", "mixed"),
    ("(MIT/Apache-2.0)", "mixed"),
    ("MIT or/Apache-2.0", "mixed"),
    ("MIT OR", "invalid"),
    ("(MIT", "invalid"),
    ("AND", "invalid"),
    ("Public Domain", "invalid"),
    ("Not-A-License", "unknown license"),
    ("MIT/Not-A-License", "unknown license"),
    ("Apache-2.0 WITH Not-An-Exception", "unknown license exception"),
    ("MIT\x00", "unknown license"),
    ("\x1b[31mMIT\x1b[0m", "unknown license"),  # a terminal escape: never an expression
    ("M\u0406T", "unknown license"),  # a Cyrillic look-alike I
    ("LicenseRef-\u00e9", "non-ascii"),
    ("MIT OR " * 2000 + "Nope", "unknown license"),
])
def test_hostile_license_strings_are_refused_with_a_reason(text: str, why: str) -> None:
    with pytest.raises(ValueError) as info:
        spdx_expression(text)
    assert why in str(info.value).lower()
    lic = License.parse(text)
    assert lic.spdx is None and lic.problem and lic.text == text


def _meta(root: str, licenses: dict[str, Any]) -> dict[str, Any]:
    """`cargo metadata --format-version 1` for a workspace at `root`: the app, a path crate beside it
    (with a space in its directory) and a registry crate."""
    app = f"path+file://{root}#app@1.0.0"
    util = f"path+file://{root}/my%20util#util@0.1.0"
    dep = "registry+https://github.com/rust-lang/crates.io-index#dep@2.0.0"
    return {
        "packages": [
            {"id": app, "name": "app", "version": "1.0.0", "license": licenses.get("app", "MIT"), "source": None,
             "manifest_path": f"{root}/Cargo.toml"},
            {"id": util, "name": "util", "version": "0.1.0", "license": licenses.get("util", "MIT"), "source": None,
             "manifest_path": f"{root}/my util/Cargo.toml"},
            {"id": dep, "name": "dep", "version": "2.0.0", "license": licenses.get("dep", "MIT/Apache-2.0"),
             "source": "registry+https://github.com/rust-lang/crates.io-index",
             "manifest_path": "/home/someone/.cargo/registry/src/dep-2.0.0/Cargo.toml"},
        ],
        "workspace_members": [app, util],
        "resolve": {"nodes": [
            {"id": app, "deps": [{"pkg": util, "dep_kinds": [{"kind": None}]}, {"pkg": dep, "dep_kinds": [{"kind": None}]}]},
            {"id": util, "deps": []}, {"id": dep, "deps": []}]},
        "workspace_root": root,
    }


def _document(root: str, licenses: dict[str, Any], binary: Path) -> str:
    meta = _meta(root, licenses)
    crates, roots = sbom.for_target(Path(root) / "Cargo.toml", Path(root) / "Cargo.lock", ["app"], (TARGET,),
                                    lambda _m, _t: meta)
    return sbom.document("app", "1.0.0", TARGET, (TARGET,), crates, roots, {"app": binary}, 1_700_000_000)


def test_two_workspace_paths_give_the_same_sbom_bytes(tmp_path: Path) -> None:
    binary = tmp_path / "app"
    binary.write_bytes(b"\x7fELF the binary")
    one = _document("/home/alice/src/app", {}, binary)
    two = _document("/var/lib/ci/builds/7/checkout", {}, binary)
    assert one == two
    assert "/home/alice" not in one and "file://" not in one
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(one) is None
    doc = json.loads(one)
    refs = {c["name"]: c["bom-ref"] for c in doc["components"]}
    assert refs["app"] == "path+file:.#app@1.0.0" and refs["util"] == "path+file:my%20util#util@0.1.0"
    assert refs["dep"] == "registry+https://github.com/rust-lang/crates.io-index#dep@2.0.0"
    lic = {c["name"]: c["licenses"] for c in doc["components"]}
    assert lic["dep"] == [{"expression": "MIT OR Apache-2.0"}]


def test_old_style_package_ids_lose_the_path_too() -> None:
    assert sbom.portable_id("app 1.0.0 (path+file:///srv/x/app)", "/srv/x") == "app 1.0.0 (path+file:app)"
    assert sbom.portable_id("path+file:///srv/sibling#s@1.0.0", "/srv/x") == "path+file:../sibling#s@1.0.0"


def test_a_dependency_license_that_is_not_spdx_is_a_name_and_a_warning(tmp_path: Path) -> None:
    binary = tmp_path / "app"
    binary.write_bytes(b"bin")
    text = _document(str(tmp_path), {"dep": "MIT AND BSD-3-Clause/Apache-2.0"}, binary)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    comps = {c["name"]: c for c in json.loads(text)["components"]}
    assert comps["dep"]["licenses"] == [{"license": {"name": "MIT AND BSD-3-Clause/Apache-2.0"}}]
    crates, _ = sbom.for_target(tmp_path / "Cargo.toml", tmp_path / "Cargo.lock", ["app"], (TARGET,),
                                lambda _m, _t: _meta(str(tmp_path), {"dep": "Public Domain"}))
    assert [c.name for c in sbom.unnormalised(crates.values())] == ["dep"]


@pytest.mark.parametrize("crate", ["app", "util"])
def test_the_projects_own_license_that_is_not_spdx_is_an_error_naming_its_cargo_toml(tmp_path: Path, crate: str) -> None:
    with pytest.raises(ConfigError) as info:
        _document(str(tmp_path), {crate: "MIT/Apache-2.0 OR Zlib"}, tmp_path / "never-read")
    message = str(info.value)
    manifest = tmp_path / ("Cargo.toml" if crate == "app" else "my util/Cargo.toml")
    assert f"{manifest}: package.license = 'MIT/Apache-2.0 OR Zlib' is not an SPDX license expression" in message
    assert "hint:" in message and "MIT OR Apache-2.0" in message


def _parse(root: Path, data: dict[str, Any], license_: str | None = None) -> Config:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')

    def metadata(manifest: Path) -> dict[str, Any]:
        meta = fake_metadata(manifest)
        meta["packages"][0]["license"] = license_
        return meta

    return parse(root / "targets.toml", {"targets": {TARGET: {}}, **data}, metadata, Settings())


def test_sbom_refuses_the_projects_bad_license_when_targets_toml_loads(tmp_path: Path) -> None:
    assert _parse(tmp_path, {"sbom": {}}, "MIT/Apache-2.0").sbom is not None  # old style: fine, normalised
    with pytest.raises(ConfigError) as info:
        _parse(tmp_path, {"sbom": {}}, "MIT OR Evil/Thing")
    assert "package.license" in str(info.value) and str(tmp_path / "Cargo.toml") in str(info.value)
    assert _parse(tmp_path, {}, "MIT OR Evil/Thing").sbom is None  # without [sbom], no SBOM to refuse it


DEB = {"maintainer": "W <w@example.invalid>"}
GPG = {"methods": ["gpg"], "gpg": {"key": "release@example.invalid"}}


@pytest.mark.parametrize(("data", "repos"), [
    ({"channels": {"deb": DEB}}, False),  # packages alone: no key needed, no repository
    ({"channels": {"rpm": DEB}}, False),
    ({"channels": {"deb": DEB, "rpm": DEB}, "sign": {"methods": ["minisign"]}}, False),
    ({"channels": {"deb": DEB}, "sign": GPG}, True),  # as before: a gpg key signs the repository
    ({"channels": {"deb": {**DEB, "repository": False}}, "sign": GPG}, False),
    ({"channels": {"deb": {**DEB, "repository": True}}}, True),  # asked for: the stage needs the key
    ({"channels": {"deb": {**DEB, "distribution": "bookworm"}}}, True),  # describing it asks for it
    ({"channels": {"rpm": {**DEB, "repo-dir": "pkgs/rpm"}}}, True),
])
def test_the_repository_is_made_only_when_asked_for(tmp_path: Path, data: dict[str, Any], repos: bool) -> None:
    cfg = _parse(tmp_path, data)
    assert ReposStage().applies(Run(cfg, Recorder(), cfg.targets)) is repos


def test_invoke_repos_without_a_repository_says_how_to_ask_for_one(tmp_path: Path) -> None:
    cfg = _parse(tmp_path, {"channels": {"deb": DEB}})
    with pytest.raises(ConfigError) as info:
        ReposStage().steps(Run(cfg, Recorder(), cfg.targets, dry=True), None)
    assert "repository" in str(info.value) and "repository = true" in str(info.value)


@pytest.mark.parametrize(("table", "says"), [
    ({"repository": "yes"}, "channels.deb.repository: expected true or false, got 'yes'"),
    ({"repository": 1}, "channels.deb.repository: expected true or false, got 1"),
    ({"repository": "true\nx"}, "channels.deb.repository: expected true or false, got 'true\\nx'"),
    ({"repository": ["true"]}, "channels.deb.repository: expected true or false"),
    ({"repository": {"on": True}}, "channels.deb.repository: expected true or false"),
    ({"repository": False, "repo-dir": "pkgs/apt"}, "channels.deb.repo-dir describe the repository"),
    ({"repository": False, "distribution": "x", "component": "y"},
     "channels.deb.distribution, channels.deb.component describe the repository"),
    ({"repositry": True}, "did you mean 'repository'"),
    ({"repo": True}, "channels.deb.repo"),
])
def test_hostile_repository_values_are_one_error_naming_the_key(tmp_path: Path, table: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError) as info:
        _parse(tmp_path, {"channels": {"deb": {**DEB, **table}}})
    message = str(info.value)
    assert info.value.exit_code == 2 and str(tmp_path / "targets.toml") in message
    assert says in message, message
    assert "\n" not in message.split("\n  hint:")[0]


@pytest.mark.parametrize(("url", "public"), [
    ("/home/alice/src/app", None),  # a clone of a local directory: the machine's path, not the source
    ("../app", None),
    ("file:///srv/git/app.git", None),
    ("C:/src/app", None),
    ("https://tok3n@github.com/acme/app.git", "https://github.com/acme/app.git"),
    ("git@github.com:acme/app.git", "git@github.com:acme/app.git"),
])
def test_provenance_names_no_local_remote(url: str, public: str | None) -> None:
    from wavrybuild.provenance.stage import public_remote

    assert public_remote(url) == public
