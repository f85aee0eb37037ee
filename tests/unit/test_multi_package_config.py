"""Several packages in one release: which are chosen, how artifacts group them, and the errors for
bad choices — from a stand-in for `cargo metadata` that follows its documented JSON (no Rust)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wavrybuild.build.builders import _cargo_args
from wavrybuild.config import Config, parse
from wavrybuild.env import Settings
from wavrybuild.errors import ConfigError
from wavrybuild.toolchain.probe import RustToolchain, StdSource


def workspace(root: Path, members: dict[str, tuple[str, list[str]]]) -> Any:
    """A virtual workspace's metadata: {package: (version, [bin names])}, plus a library member."""
    (root / "Cargo.toml").write_text("[workspace]\n")

    def metadata(manifest: Path) -> dict[str, Any]:
        packages = [{"name": name, "version": version, "manifest_path": str(root / "crates" / name / "Cargo.toml"),
                     "description": f"the {name}", "targets": [{"name": b, "kind": ["bin"]} for b in bins]}
                    for name, (version, bins) in members.items()]
        packages.append({"name": "core", "version": "1.0.0", "manifest_path": str(root / "crates/core/Cargo.toml"),
                         "targets": [{"name": "core", "kind": ["lib"]}]})
        return {"packages": packages, "workspace_root": str(root), "target_directory": str(root / "target")}

    return metadata


MEMBERS = {"tool-cli": ("0.3.0", ["tool"]), "tool-mcp": ("0.4.1", ["tool-mcp", "tool-admin"])}
TARGETS = {"x86_64-unknown-linux-gnu": {}, "aarch64-unknown-linux-gnu": {}}


def _parse(tmp_path: Path, data: dict[str, Any], members: dict[str, tuple[str, list[str]]] = MEMBERS) -> Config:
    return parse(tmp_path / "targets.toml", {"targets": TARGETS, **data}, workspace(tmp_path, members), Settings())


def _error(tmp_path: Path, data: dict[str, Any], members: dict[str, tuple[str, list[str]]] = MEMBERS) -> str:
    with pytest.raises(ConfigError) as exc:
        _parse(tmp_path, data, members)
    return str(exc.value) + "\n" + (exc.value.hint or "")


def test_no_choice_releases_every_binary_package(tmp_path: Path) -> None:
    cfg = _parse(tmp_path, {})
    p = cfg.project
    assert [x.name for x in p.packages] == ["tool-cli", "tool-mcp"] and p.all_packages_by_default
    assert p.binaries == ("tool", "tool-mcp", "tool-admin")
    assert (p.package, p.version, p.name) == ("tool-cli", "0.3.0", "tool-cli")
    assert p.manifest_path == tmp_path / "Cargo.toml"  # cargo is pointed at the workspace
    assert p.package_of("tool-admin").version == "0.4.1"


def test_one_package_of_a_workspace_is_as_before(tmp_path: Path) -> None:
    cfg = _parse(tmp_path, {"project": {"package": "tool-mcp"}})
    assert [b.name for b in cfg.bundles] == ["tool-mcp"] and not cfg.project.all_packages_by_default
    assert cfg.view(cfg.bundles[0]) is cfg
    assert cfg.project.manifest_path == tmp_path / "crates/tool-mcp/Cargo.toml"


def test_bundles_per_package_and_per_platform(tmp_path: Path) -> None:
    cfg = _parse(tmp_path, {"project": {"packages": ["tool-mcp", "tool-cli"], "name": "tool"}})
    assert [(b.name, b.version, b.binaries) for b in cfg.bundles] == [
        ("tool-mcp", "0.4.1", ("tool-mcp", "tool-admin")), ("tool-cli", "0.3.0", ("tool",))]
    view = cfg.view(cfg.bundles[1])
    assert (view.project.name, view.project.version, view.project.description) == ("tool-cli", "0.3.0", "the tool-cli")
    # The release takes the first listed package's version.
    assert cfg.project.version == "0.4.1"
    flat = _parse(tmp_path, {"project": {"packages": ["tool-mcp", "tool-cli"], "name": "tool"},
                             "package": {"group": "platform"}})
    assert [(b.name, b.version, b.binaries, b.packages) for b in flat.bundles] == [
        ("tool", "0.4.1", ("tool-mcp", "tool-admin", "tool"), ("tool-mcp", "tool-cli"))]


def test_one_cargo_invocation_names_every_package(tmp_path: Path) -> None:
    cfg = _parse(tmp_path, {})
    std = StdSource(RustToolchain("stable", Path("/nowhere")), "installed")
    args = _cargo_args(cfg.project, cfg.targets[0], std)
    pairs = [args[i + 1] for i, a in enumerate(args) if a == "--package"]
    bins = [args[i + 1] for i, a in enumerate(args) if a == "--bin"]
    assert pairs == ["tool-cli", "tool-mcp"] and bins == ["tool", "tool-mcp", "tool-admin"]


def test_channel_names_per_package(tmp_path: Path) -> None:
    cfg = _parse(tmp_path, {"channels": {"npm": {"name": "@acme/{name}"}, "pypi": {}, "deb": {"maintainer": "A <a@b.c>"}}})
    views = [cfg.view(b) for b in cfg.bundles]
    assert [v.channels.npm.name for v in views if v.channels.npm] == ["@acme/tool-cli", "@acme/tool-mcp"]
    assert [v.channels.pypi.name for v in views if v.channels.pypi] == ["tool-cli", "tool-mcp"]
    assert [v.channels.deb.name for v in views if v.channels.deb] == ["tool-cli", "tool-mcp"]


@pytest.mark.parametrize(("data", "expected"), [
    ({"project": {"package": ["tool-cli", "tool-mcp"]}}, 'packages = ["tool-cli", "tool-mcp"]'),
    ({"project": {"package": "tool-cli", "packages": ["tool-mcp"]}}, "both package and packages are set"),
    ({"project": {"packages": []}}, "project.packages: the list is empty"),
    ({"project": {"packages": "tool-cli"}}, "project.packages: expected a list"),
    ({"project": {"packages": ["tool-cl"]}}, "did you mean 'tool-cli'?"),
    ({"project": {"packages": ["tool-cli", "tool-cli"]}}, "'tool-cli' is listed twice"),
    ({"project": {"packages": ["core"]}}, "package 'core' has no binary targets"),
    ({"project": {"binaries": ["tool"]}}, "names no binary of package 'tool-mcp'"),
    ({"project": {"binaries": ["tool-mpc"]}}, "did you mean 'tool-mcp'?"),
    ({"package": {"group": "platfrom"}}, "did you mean 'platform'?"),
    ({"channels": {"npm": {"name": "@acme/tool"}}}, "every package would be published as '@acme/tool'"),
    ({"channels": {"deb": {"name": "tool", "maintainer": "A <a@b.c>"}}}, "put {name} in it"),
    ({"defaults": {"smoke-expect": "{pkg} ok"}}, "{pkg} is not one"),
])
def test_bad_choices_are_refused(tmp_path: Path, data: dict[str, Any], expected: str) -> None:
    assert expected in _error(tmp_path, data)


def test_two_packages_with_one_binary_name_are_refused(tmp_path: Path) -> None:
    msg = _error(tmp_path, {}, {"a": ("1.0.0", ["tool"]), "b": ("1.0.0", ["tool"])})
    assert "packages 'a' and 'b' both have a binary named 'tool'" in msg
