"""The config models' shape (issue 27, item 4): typed accessors instead of lookups, and a Project
that holds its packages' metadata once (in CratePackage) rather than repeating its fields.
Configs are parsed with stand-ins for `cargo metadata` (no Rust)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from tests.unit.test_multi_package_config import MEMBERS, TARGETS, workspace
from tests.unit.test_pipeline import fake_metadata
from wavrybuild.config import Config, CratePackage, Project, parse
from wavrybuild.config.publish import (
    CratesConfig,
    DirectoryConfig,
    GitHubConfig,
    GitLabConfig,
    HttpConfig,
    PypiConfig,
)
from wavrybuild.env import Settings

TARGET = "x86_64-unknown-linux-gnu"
EVERY_DESTINATION = {
    "github": {"repo": "o/n"}, "gitlab": {}, "http": {"url": "https://up.example/{name}"},
    "directory": {"path": "/srv/releases"}, "pypi": {}, "crates": {"packages": ["demo"]},
}


def _parse(root: Path, data: dict[str, Any]) -> Config:
    (root / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    return parse(root / "targets.toml", {"targets": {TARGET: {}}, **data}, fake_metadata, Settings())


def test_each_destination_accessor_returns_its_own_class(tmp_path: Path) -> None:
    publish = _parse(tmp_path, {"publish": EVERY_DESTINATION}).publish
    accessors = {"github": (publish.github, GitHubConfig), "gitlab": (publish.gitlab, GitLabConfig),
                 "http": (publish.http, HttpConfig), "directory": (publish.directory, DirectoryConfig),
                 "pypi": (publish.pypi, PypiConfig), "crates": (publish.crates, CratesConfig)}
    for kind, (value, cls) in accessors.items():
        assert type(value) is cls, kind
        assert publish.get(kind) is value and publish.of(cls) is value
    assert publish.files == tuple(d for d in publish.destinations if d.kind != "crates")


def test_an_absent_destination_is_none(tmp_path: Path) -> None:
    publish = _parse(tmp_path, {"publish": {"http": EVERY_DESTINATION["http"]}}).publish
    assert publish.http is not None
    assert (publish.github, publish.gitlab, publish.directory, publish.pypi, publish.crates) == (None,) * 5
    assert not publish.has_release_page


def test_project_keeps_package_metadata_once() -> None:
    """No field of CratePackage is repeated in Project: Project reads them through `metadata`."""
    repeated = {f.name for f in dataclasses.fields(CratePackage)} & {f.name for f in dataclasses.fields(Project)}
    # `binaries` and `manifest_path` are the release's own (every package's binaries; the Cargo.toml
    # project.crate names), `name` the [project] name: they differ from the first package's.
    assert repeated <= {"name", "binaries", "manifest_path"}, repeated


def test_project_reads_the_first_package_and_a_bundle_view_its_own(tmp_path: Path) -> None:
    cfg = parse(tmp_path / "targets.toml", {"targets": TARGETS, "project": {"name": "tool"}},
                workspace(tmp_path, MEMBERS), Settings())
    p = cfg.project
    assert p.metadata is p.packages[0]
    assert (p.name, p.package, p.version, p.description) == ("tool", "tool-cli", "0.3.0", "the tool-cli")
    mcp = next(b for b in cfg.bundles if b.name == "tool-mcp")
    view = cfg.view(mcp).project
    assert view.metadata is p.package_of("tool-mcp")
    assert (view.name, view.package, view.version, view.description) == ("tool-mcp", "tool-mcp", "0.4.1", "the tool-mcp")
    assert view.binaries == ("tool-mcp", "tool-admin") and view.packages == p.packages


def test_every_sign_field_has_its_key_and_checker(tmp_path: Path) -> None:
    """A field added to a method's dataclass must be settable (a checker in _checkers, which is also
    the key list unknown keys are refused against), and every checker must fill a field."""
    from wavrybuild.config.sign import METHOD_MODELS, SignConfig, _checkers

    checkers = _checkers(tmp_path)
    assert set(checkers) == set(METHOD_MODELS)
    for method, model in METHOD_MODELS.items():
        assert set(checkers[method]) == {f.name.replace("_", "-") for f in dataclasses.fields(model)}, method
        assert isinstance(getattr(SignConfig(), method), model)
