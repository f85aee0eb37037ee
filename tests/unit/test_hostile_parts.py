"""Property tests: malformed and hostile part manifests and SHA256SUMS files end in a clear
WavryError (never a traceback), never reach a path outside dist/, and leave dist/ untouched.
No Rust: the config comes from `config.parse` with a stand-in for `cargo metadata`."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_pipeline import Recorder, fake_metadata
from wavrybuild.checksum import SumsError, format_sums, parse_sums
from wavrybuild.config import Config, parse
from wavrybuild.env import Settings
from wavrybuild.errors import WavryError
from wavrybuild.fsutil import unsafe_name
from wavrybuild.pipeline.merge import MergeStage
from wavrybuild.pipeline.stage import Run
from wavrybuild.verify import verify_dir

HOSTILE_NAMES = ["../ESCAPED.sh", "/etc/passwd", "a/../../b", "..", ".", "", "x\\..\\y", "nul\x00byte", "C:\\evil",
                 "dir/", "ok.tar.gz", "sub/ok.tar.gz", " spaced", "new\nline", "~/home"]
names = st.one_of(st.sampled_from(HOSTILE_NAMES), st.text(max_size=20))
TARGET = "x86_64-unknown-linux-musl"
PAYLOAD = b"archive bytes\n"


def _config(root: Path) -> Config:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    return parse(root / "targets.toml", {"targets": {TARGET: {}}}, fake_metadata, Settings())


def _part(path: str = "demo-1.2.3-x86_64-unknown-linux-musl.tar.gz") -> dict[str, Any]:
    return {"schema": 1, "crate": "demo", "name": "demo", "version": "1.2.3", "git": {}, "source_date_epoch": 1,
            "source_date_epoch_from": "test", "tools": {},
            "artifacts": [{"target": TARGET, "triple": TARGET, "kind": "archive", "format": "tar.gz", "path": path,
                           "size": len(PAYLOAD), "sha256": hashlib.sha256(PAYLOAD).hexdigest()}]}


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10) | names,
                           lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
                           max_leaves=20)
mutations = st.one_of(
    st.tuples(st.just("path"), names),
    st.tuples(st.sampled_from(["name", "version", "crate", "schema", "artifacts", "git"]), json_values),
    st.tuples(st.just("whole"), json_values),
    st.tuples(st.just("text"), st.binary(max_size=60)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutation=mutations)
def test_hostile_part_manifests_are_refused_cleanly(tmp_path: Path, mutation: tuple[str, Any]) -> None:
    work = tmp_path / "w"
    shutil.rmtree(work, ignore_errors=True)
    cfg = _config(work / "project")
    parts = work / "parts" / "job1"
    parts.mkdir(parents=True)
    (parts / "demo-1.2.3-x86_64-unknown-linux-musl.tar.gz").write_bytes(PAYLOAD)
    (work / "ESCAPED.sh").write_bytes(b"decoy\n")
    kind, value = mutation
    data: Any = _part()
    if kind == "path":
        data["artifacts"][0]["path"] = value
        if isinstance(value, str) and not unsafe_name(value):
            (parts / value).parent.mkdir(parents=True, exist_ok=True)
            if not (parts / value).is_dir():
                (parts / value).write_bytes(PAYLOAD)
    elif kind == "whole":
        data = value
    elif kind != "text":
        data[kind] = value
    manifest = parts / "manifest-part-x.json"
    manifest.write_bytes(value if kind == "text" else json.dumps(data).encode())
    outside_before = _tree(work)
    dist = cfg.project.dist_dir
    run = Run(cfg, Recorder(), cfg.targets)
    try:
        MergeStage(work / "parts").run(run, None)
    except WavryError as exc:
        assert str(exc).strip()
        assert not dist.exists() or not [p for p in dist.iterdir() if p.name != ".wavrybuild"]
    else:
        # Accepted: only a safe name, and the file went to dist/ and nowhere else.
        merged = json.loads((dist / "manifest.json").read_text())
        for a in merged["artifacts"]:
            assert unsafe_name(a["path"]) is None and (dist / a["path"]).resolve().is_relative_to(dist.resolve())
    created = {p for p in _tree(work) - outside_before if not p.startswith("project/dist")}
    assert not created, created
    assert (work / "ESCAPED.sh").read_bytes() == b"decoy\n"


sums_lines = st.lists(st.one_of(
    st.builds(lambda d, n, sep: f"{d}{sep}{n}", st.sampled_from(["a" * 64, "0" * 63, "g" * 64, "A" * 64, ""]),
              names, st.sampled_from(["  ", " *", " ", "\t"])),
    st.text(max_size=80),
), max_size=6)


@settings(max_examples=300, deadline=None)
@given(lines=sums_lines)
def test_parse_sums_accepts_only_safe_unique_names(lines: list[str]) -> None:
    text = "\n".join(lines)
    try:
        parsed = parse_sums(text)
    except SumsError as exc:
        assert str(exc).strip()
        return
    for name, digest in parsed.items():
        assert unsafe_name(name) is None and len(digest) == 64
    assert parse_sums(format_sums(parsed)) == parsed  # what we write, we read back the same


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=sums_lines)
def test_verify_of_a_hostile_sums_file_fails_cleanly(tmp_path: Path, lines: list[str]) -> None:
    d = tmp_path / "release"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    (tmp_path / "outside").write_bytes(b"x")
    (d / "SHA256SUMS").write_text("\n".join(lines))
    try:
        checks = verify_dir(d)
    except WavryError as exc:
        assert str(exc).strip()
        return
    # Read, never followed outside the directory: every checked name is a plain relative one.
    assert all(unsafe_name(ch.name) is None for ch in checks)
