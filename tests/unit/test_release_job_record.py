"""The release job's config comes from what the parts recorded (ci/recorded.py), never from cargo:
with cargo, rustc, rustup, zig and cargo-zigbuild on PATH and in CARGO_HOME as programs that leave
a mark and fail, the config of a recorded release loads, and no mark appears. The record is input
from another machine: hostile values end in one clear error naming the file and the field.
(No Rust build: the record is written here as a part job writes it.)"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import rust_shims, write_files, write_project
from wavrybuild.ci.parts import MergeError
from wavrybuild.ci.recorded import load_release_job
from wavrybuild.errors import ConfigError
from wavrybuild.manifest import SchemaError, parse_manifest

TOML = '[project]\ncrate = "demo"\n\n[targets.x86_64-unknown-linux-gnu]\n'


@pytest.fixture
def no_rust(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every Rust tool resolvable, and each one, run, leaves a mark and exits 99. Returns the mark."""
    env, mark = rust_shims(tmp_path / "rustless")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return mark


def _record(**over: Any) -> dict[str, Any]:
    """A package as manifest.release_packages records it for the demo crate."""
    return {"version": "0.1.0", "binaries": ["wavry-demo", "wavry-hello"], "manifest": "demo/Cargo.toml",
            "description": "Demo crate\nsecond line", "authors": ["Wavry <a@wavry.example>"], "license": "MIT",
            "homepage": "https://wavry.example/demo", "repository": None, "readme": "README.md", **over}


def _manifest(packages: dict[str, Any], crate: str = "wavry-demo", version: str = "0.1.0") -> dict[str, Any]:
    return {"schema": 1, "crate": crate, "name": crate, "version": version, "git": {}, "source_date_epoch": 1,
            "source_date_epoch_from": "test", "tools": {}, "artifacts": [], "packages": packages}


def _project(root: Path, packages: dict[str, Any], **kw: Any) -> Path:
    write_project(root, TOML)
    (root / "dist").mkdir()
    (root / "dist/manifest.json").write_text(json.dumps(_manifest(packages, **kw)))
    return root / "targets.toml"


def test_the_recorded_crate_is_loaded_without_running_rust(tmp_path: Path, no_rust: Path) -> None:
    # Cargo.toml says otherwise: the record (what cargo said when the parts were made) wins.
    path = _project(tmp_path / "p", {"wavry-demo": _record(version="0.1.0", binaries=["wavry-demo"])})
    cfg = load_release_job(path)
    p = cfg.project
    assert (p.package, p.version, p.binaries) == ("wavry-demo", "0.1.0", ("wavry-demo",))
    assert p.description == "Demo crate\nsecond line" and p.license == "MIT" and p.repository is None
    assert p.authors == ("Wavry <a@wavry.example>",) and p.readme == (tmp_path / "p/demo/README.md")
    assert p.manifest_path == tmp_path / "p/demo/Cargo.toml"
    assert not no_rust.exists(), no_rust.read_text()


def test_a_merge_reads_the_crate_from_its_parts(tmp_path: Path, no_rust: Path) -> None:
    path = _project(tmp_path / "p", {"wavry-demo": _record(version="9.9.9")}, version="9.9.9")
    parts = tmp_path / "parts/part-x"
    parts.mkdir(parents=True)
    (parts / "manifest-part-x86_64-unknown-linux-gnu.json").write_text(
        json.dumps(_manifest({"wavry-demo": _record()})))
    assert load_release_job(path, parts.parent).project.version == "0.1.0"  # the parts', not dist/'s
    (parts / "manifest-part-x86_64-unknown-linux-gnu.json").write_text('{"schema": 1, "crate": 5}')
    with pytest.raises(MergeError, match=r"manifest-part-x86_64-unknown-linux-gnu.json: not a part manifest: artifacts: expected this field"):
        load_release_job(path, parts.parent)
    assert not no_rust.exists(), no_rust.read_text()


def test_without_a_record_cargo_toml_is_read_not_cargo(tmp_path: Path, no_rust: Path) -> None:
    write_project(tmp_path / "p", TOML)
    assert load_release_job(tmp_path / "p/targets.toml").project.binaries == ("wavry-demo", "wavry-hello")
    # A workspace's members are cargo's to find: with no record, one clear error, not "cargo is not on PATH".
    ws = write_files(tmp_path / "ws", {"Cargo.toml": '[workspace]\nmembers = ["a"]\n',
                                       "a/Cargo.toml": '[package]\nname = "a"\nversion = "1.0.0"\n',
                                       "a/src/main.rs": "fn main() {}\n"}, lock=False)
    (ws / "targets.toml").write_text(TOML.replace('"demo"', '"."'))
    with pytest.raises(ConfigError, match=r"a workspace, and no part manifest or dist/manifest.json records"):
        load_release_job(ws / "targets.toml")
    assert not no_rust.exists(), no_rust.read_text()
    # The crates destination too publishes what the package phase left (issue 29 item 2): no cargo.
    (ws / "targets.toml").write_text(TOML.replace('"demo"', '"."') + '[publish.crates]\npackages = ["a"]\n')
    for publish in (("directory",), ("crates",), ()):
        with pytest.raises(ConfigError, match=r"a workspace, and no part manifest"):
            load_release_job(ws / "targets.toml", publish=publish)
    assert not no_rust.exists(), no_rust.read_text()


def test_a_record_for_another_release_is_refused(tmp_path: Path, no_rust: Path) -> None:
    path = _project(tmp_path / "p", {"wavry-demo": _record()})
    path.write_text(path.read_text().replace("[project]\n", '[project]\nname = "renamed"\n'))
    with pytest.raises(ConfigError, match=r"releases wavry-demo 0.1.0 as renamed, but .*manifest.json was made "
                                          r"for wavry-demo 0.1.0 as wavry-demo"):
        load_release_job(path)


@pytest.mark.parametrize(("field", "value", "error"), [
    ("manifest", "../../../../etc/Cargo.toml", r"packages.wavry-demo.manifest: .* is not a Cargo.toml beside"),
    ("manifest", "demo/README.md", r"packages.wavry-demo.manifest: demo/README.md is not a Cargo.toml"),
    ("manifest", "/etc/passwd", r"packages.wavry-demo.manifest: expected a relative path"),
    ("manifest", "demo//Cargo.toml", r"packages.wavry-demo.manifest: expected a relative path"),
    ("manifest", "demo/./Cargo.toml", r"packages.wavry-demo.manifest: expected a relative path"),
    ("readme", "/etc/shadow", r"packages.wavry-demo.readme: expected a relative path"),
    ("readme", "a\x00b", r"packages.wavry-demo.readme: expected a relative path"),
    ("description", "one\rtwo", r"packages.wavry-demo.description: expected text"),
    ("description", ["a list"], r"packages.wavry-demo.description: expected text"),
    ("license", "MIT\nX-Injected: 1", r"packages.wavry-demo.license: expected a single line"),
    ("authors", "not a list", r"packages.wavry-demo.authors: expected a list"),
    ("homepage", 7, r"packages.wavry-demo.homepage: expected a single line"),
    ("binaries", ["../escape"], r"packages.wavry-demo.binaries\[0\]: expected a file name"),
    ("unknown", 1, r"packages.wavry-demo.unknown: expected no such field"),
])
def test_hostile_record_values_are_refused_naming_the_field(tmp_path: Path, no_rust: Path, field: str, value: Any,
                                                             error: str) -> None:
    record = _record(**{field: value})
    try:
        parse_manifest(_manifest({"wavry-demo": record}))
    except SchemaError as exc:
        assert re.search(error, str(exc)), exc  # refused by the one schema every manifest passes
    else:
        path = _project(tmp_path / "p", {"wavry-demo": record})
        with pytest.raises(ConfigError, match=error):
            load_release_job(path)
    assert not no_rust.exists()
