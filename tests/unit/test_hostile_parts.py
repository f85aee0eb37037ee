"""Property tests: malformed and hostile part manifests and SHA256SUMS files end in a clear
WavryError (never a traceback), never reach a path outside dist/, and leave dist/ untouched.
No Rust: the config comes from `config.parse` with a stand-in for `cargo metadata`."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_pipeline import Recorder, fake_metadata
from wavrybuild import nofollow
from wavrybuild.checksum import SumsError, format_sums, parse_sums
from wavrybuild.ci.merge import MergeError, MergeStage
from wavrybuild.config import Config, parse
from wavrybuild.config.values import ArtifactPath, CommitId
from wavrybuild.env import Settings
from wavrybuild.errors import ConfigError, WavryError
from wavrybuild.fsutil import unsafe_name
from wavrybuild.manifest import Artifact, Manifest, parse_manifest
from wavrybuild.pipeline.stage import Run, execute
from wavrybuild.verify.audit import verify_dir

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
        execute(run, MergeStage(work / "parts").steps(run, None))
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


# --- issue 26 item 2: the strict part reader ---------------------------------------------------------------
# Every case below passed (or crashed) before the strict reader: each must now end in one MergeError
# naming the part file, leave dist/ byte for byte as it was (dist/ holds an earlier merge), write
# nothing outside dist/, and a rerun with the part fixed must work.

COMMIT = "0123456789abcdef0123456789abcdef01234567"
ARCHIVE = "demo-1.2.3-x86_64-unknown-linux-musl.tar.gz"
OTHER = b"other archive bytes\n"


def _artifact(path: str = ARCHIVE, data: bytes = PAYLOAD, **over: Any) -> dict[str, Any]:
    return {"target": TARGET, "triple": TARGET, "kind": "archive", "format": "tar.gz", "path": path,
            "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "binaries": ["demo"],
            "authenticode": False, "packages": ["demo"], **over}


def _valid() -> dict[str, Any]:
    """A part manifest as `invoke release --part` writes it: every field the schema knows."""
    return {"schema": 1, "wavrybuild": "0.1.0", "crate": "demo", "name": "demo", "version": "1.2.3",
            "git": {"commit": COMMIT, "dirty": False}, "source_date_epoch": 1767323045,
            "source_date_epoch_from": "git commit time",
            "tools": {"cargo": "cargo 1.95.0", "zig": None, "rustc": {"stable": "rustc 1.95.0"}},
            "artifacts": [_artifact()], "checksums": None, "signatures": [],
            "packages": {"demo": {"version": "1.2.3", "binaries": ["demo"]}}, "published": None}


class World:
    """A project (no cargo), a parts directory with one valid part, dist/ holding an earlier merge of
    it, and decoys outside."""

    def __init__(self, root: Path) -> None:
        shutil.rmtree(root, ignore_errors=True)
        self.root = root
        self.cfg = _config(root / "project")
        self.dist = self.cfg.project.dist_dir
        self.job = root / "parts" / "job1"
        self.job.mkdir(parents=True)
        (self.job / ARCHIVE).write_bytes(PAYLOAD)
        self.manifest = self.job / "manifest-part-x.json"
        self.outside = root / "outside"
        self.outside.mkdir()
        (self.outside / "decoy").write_bytes(b"decoy\n")
        self.write(_valid())
        assert self.merge() is None, "the valid part must merge"

    def write(self, data: Any) -> None:
        self.manifest.unlink(missing_ok=True)
        self.manifest.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())

    def merge(self) -> WavryError | None:
        try:
            run = Run(self.cfg, Recorder(), self.cfg.targets)
            execute(run, MergeStage(self.root / "parts").steps(run, None))
        except WavryError as exc:
            return exc
        return None


def _snapshot(root: Path) -> dict[str, Any]:
    """Every entry under root, links not followed: bytes, 'dir', or the link's target."""
    out: dict[str, Any] = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = Path(d) / n
            rel = str(p.relative_to(root))
            out[rel] = ("link", os.readlink(p)) if p.is_symlink() else "dir" if p.is_dir() else p.read_bytes()
    return out


def _with(**top: Any) -> Callable[[World], None]:
    return lambda w: w.write(_valid() | top)


def _art(**over: Any) -> Callable[[World], None]:
    return lambda w: w.write(_valid() | {"artifacts": [_artifact(**over)]})


def _without(key: str, artifact: bool = False) -> Callable[[World], None]:
    def setup(w: World) -> None:
        data = _valid()
        (data["artifacts"][0] if artifact else data).pop(key)
        w.write(data)
    return setup


def _raw(text: str | bytes) -> Callable[[World], None]:
    return lambda w: w.write(text.encode() if isinstance(text, str) else text)


def _symlinked_manifest(w: World) -> None:
    real = w.outside / "real.json"
    real.write_text(json.dumps(_valid()))
    w.manifest.unlink()
    w.manifest.symlink_to(real)


def _symlinked_artifact(w: World) -> None:
    (w.outside / ARCHIVE).write_bytes(PAYLOAD)  # the same bytes: only the link is wrong
    (w.job / ARCHIVE).unlink()
    (w.job / ARCHIVE).symlink_to(w.outside / ARCHIVE)


def _symlinked_directory(w: World) -> None:
    (w.outside / ARCHIVE).write_bytes(PAYLOAD)
    (w.job / "sub").symlink_to(w.outside)
    w.write(_valid() | {"artifacts": [_artifact(path=f"sub/{ARCHIVE}")]})


def _fifo_artifact(w: World) -> None:
    (w.job / ARCHIVE).unlink()
    os.mkfifo(w.job / ARCHIVE)


def _fifo_manifest(w: World) -> None:
    w.manifest.unlink()
    os.mkfifo(w.manifest)


def _second_part(data: dict[str, Any], files: dict[str, bytes]) -> Callable[[World], None]:
    def setup(w: World) -> None:
        job2 = w.root / "parts" / "job2"
        job2.mkdir()
        for name, content in files.items():
            (job2 / name).parent.mkdir(parents=True, exist_ok=True)
            (job2 / name).write_bytes(content)
        (job2 / "manifest-part-y.json").write_text(json.dumps(data))
    return setup


def _two(*arts: dict[str, Any]) -> Callable[[World], None]:
    def setup(w: World) -> None:
        for a in arts:
            with contextlib.suppress(OSError):  # "x" and "x/y" cannot both be files: the part lists them anyway
                (w.job / a["path"]).parent.mkdir(parents=True, exist_ok=True)
                if not (w.job / a["path"]).exists():
                    (w.job / a["path"]).write_bytes(PAYLOAD)
        w.write(_valid() | {"artifacts": [_artifact(), *arts]})
    return setup


def _dist_holds(kind: str) -> Callable[[World], None]:
    def setup(w: World) -> None:
        (w.job / "new.tar.gz").write_bytes(PAYLOAD)
        w.write(_valid() | {"artifacts": [_artifact(), _artifact(path="new.tar.gz", kind="extra", target="", triple="")]})
        if kind == "dir":
            (w.dist / "new.tar.gz").mkdir()
        else:
            (w.dist / "new.tar.gz").symlink_to(w.outside / "decoy")
    return setup


HOSTILE: dict[str, Callable[[World], None]] = {
    # commit: must be hex (today "../../../x" makes [publish.directory] write outside its root)
    "commit-traversal": _with(git={"commit": "../../../x", "dirty": False}),
    "commit-short": _with(git={"commit": "abc123", "dirty": False}),
    "commit-number": _with(git={"commit": 5, "dirty": False}),
    # wrong types everywhere
    "schema-string": _with(schema="1"),
    "schema-true": _with(schema=True),
    "name-list": _with(name=["demo"]),
    "version-number": _with(version=1.2),
    "git-list": _with(git=[COMMIT]),
    "dirty-string": _with(git={"commit": COMMIT, "dirty": "no"}),
    "tools-list": _with(tools=["cargo"]),
    "tools-number": _with(tools={"cargo": 1}),
    "artifacts-object": _with(artifacts={"0": _artifact()}),
    "packages-list": _with(packages=["demo"]),
    "checksums-string": _with(checksums="SHA256SUMS"),
    "signatures-object": _with(signatures={}),
    "size-string": _art(size="14"),
    "size-float": _art(size=14.0),
    "size-true": _art(size=True),
    "sha256-number": _art(sha256=5),
    "sha256-upper": _art(sha256=hashlib.sha256(PAYLOAD).hexdigest().upper()),
    "binaries-string": _art(binaries="demo"),
    "authenticode-string": _art(authenticode="yes"),
    "kind-unknown": _art(kind="rootkit"),
    "path-number": _art(path=5),
    "epoch-string": _with(source_date_epoch="1767323045"),
    "epoch-float": _with(source_date_epoch=1767323045.5),
    "whole-list": _raw("[1, 2]"),
    "whole-string": _raw('"manifest"'),
    "whole-null": _raw("null"),
    # missing fields
    "missing-schema": _without("schema"),
    "missing-git": _without("git"),
    "missing-artifacts": _without("artifacts"),
    "missing-epoch": _without("source_date_epoch"),
    "missing-path": _without("path", artifact=True),
    "missing-sha256": _without("sha256", artifact=True),
    "missing-size": _without("size", artifact=True),
    # extra fields, at every level
    "extra-top": _with(extra=1),
    "extra-artifact": _art(extra="x"),
    "extra-git": _with(git={"commit": COMMIT, "dirty": False, "branch": "main"}),
    "extra-package": _with(packages={"demo": {"version": "1.2.3", "binaries": ["demo"], "x": 1}}),
    "extra-checksums": _with(checksums={"file": "SHA256SUMS", "sha256": "a" * 64, "sidecars": False, "x": 1}),
    # huge numbers, negative sizes, a size that is not the file's
    "size-huge": _art(size=10**30),
    "size-negative": _art(size=-1),
    "size-smaller": _art(size=len(PAYLOAD) - 1),
    "size-larger": _art(size=len(PAYLOAD) + 1),
    "epoch-huge": _with(source_date_epoch=10**20),
    "epoch-negative": _with(source_date_epoch=-1),
    "digits-5000": _raw(json.dumps(_valid()).replace('"source_date_epoch": 1767323045',
                                                     '"source_date_epoch": ' + "9" * 5000)),
    "float-overflow": _raw(json.dumps(_valid()).replace(f'"size": {len(PAYLOAD)}', '"size": 1e400')),
    # what JSON does not have, or has twice
    "nan": _raw(json.dumps(_valid()).replace(f'"size": {len(PAYLOAD)}', '"size": NaN')),
    "infinity": _raw(json.dumps(_valid()).replace('"source_date_epoch": 1767323045', '"source_date_epoch": Infinity')),
    "minus-infinity": _raw(json.dumps(_valid()).replace(f'"size": {len(PAYLOAD)}', '"size": -Infinity')),
    "duplicate-key": _raw(json.dumps(_valid()).replace('"name": "demo"', '"name": "demo", "name": "../x"')),
    "deeply-nested": _raw('{"schema": 1, "tools": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    "non-utf8": _raw(json.dumps(_valid()).encode().replace(b'"demo"', b'"d\xffmo"', 1)),
    "utf16": _raw(json.dumps(_valid()).encode("utf-16")),
    "empty-file": _raw(b""),
    "too-big": _raw(b" " * (9 << 20) + json.dumps(_valid()).encode()),
    # names
    "name-traversal": _with(name="../../evil"),
    "version-newline": _with(version="1.2.3\nDepends: evil"),
    "path-traversal": _art(path="../ESCAPED.sh"),
    "path-absolute": _art(path="/etc/passwd"),
    "path-backslash": _art(path="a\\..\\b"),
    "path-manifest": _art(path="manifest.json"),
    "path-sums": _art(path="SHA256SUMS"),
    "path-sums-sig": _art(path="SHA256SUMS.asc"),
    "path-state-dir": _art(path=".wavrybuild/build.json"),
    "path-repo": _art(path="repo/dists/x"),
    "path-part-manifest": _art(path="manifest-part-y.json"),
    "path-newline": _art(path="a\nb.tar.gz"),
    # links and special files: never followed, never opened
    "symlinked-manifest": _symlinked_manifest,
    "symlinked-artifact": _symlinked_artifact,
    "symlinked-directory": _symlinked_directory,
    "fifo-artifact": _fifo_artifact,
    "fifo-manifest": _fifo_manifest,
    "missing-artifact-file": lambda w: (w.job / ARCHIVE).unlink(),
    "other-bytes": lambda w: (w.job / ARCHIVE).write_bytes(b"X" * len(PAYLOAD)),
    # duplicates and collisions
    "same-path-twice": _two(_artifact()),
    "same-path-other-part-other-bytes": _second_part(_valid() | {"artifacts": [_artifact(data=OTHER)]}, {ARCHIVE: OTHER}),
    "other-commit-in-other-part": _second_part(_valid() | {"git": {"commit": "f" * 40, "dirty": False},
                                                           "artifacts": [_artifact(path="b.tar.gz")]}, {"b.tar.gz": PAYLOAD}),
    "case-collision": _two(_artifact(path=ARCHIVE.upper())),
    "file-and-directory": _two(_artifact(path="x"), _artifact(path="x/y")),
    "sidecar-of-another": _two(_artifact(path=ARCHIVE + ".sha256", kind="extra", target="", triple="")),
    "signature-of-another": _two(_artifact(path=ARCHIVE + ".minisig", kind="extra", target="", triple="")),
    "dist-holds-a-directory": _dist_holds("dir"),
    "dist-holds-a-link": _dist_holds("link"),
    # targets
    "unconfigured-target": _art(target="aarch64-apple-darwin", triple="aarch64-apple-darwin"),
    "wrong-triple": _art(triple="aarch64-unknown-linux-musl"),
    "archive-without-target": _art(target="", triple=""),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_part_is_refused_naming_it_and_dist_stays_as_it_was(tmp_path: Path, case: str) -> None:
    w = World(tmp_path / "w")
    merged = _snapshot(w.dist)
    HOSTILE[case](w)
    before, outside = _snapshot(w.dist), _snapshot(w.outside)
    error = w.merge()
    assert isinstance(error, MergeError), f"{case}: accepted"
    message = error.message
    assert str(w.root / "parts") in message and ".json" in message, message  # names the part file
    assert "\n" not in message and "Traceback" not in message
    assert _snapshot(w.dist) == before, f"{case}: dist/ changed"
    assert _snapshot(w.outside) == outside
    # Fixed, the rerun works.
    shutil.rmtree(w.root / "parts")
    w.job.mkdir(parents=True)
    (w.job / ARCHIVE).write_bytes(PAYLOAD)
    w.write(_valid())
    if case.startswith("dist-holds"):
        target = w.dist / "new.tar.gz"
        target.rmdir() if target.is_dir() and not target.is_symlink() else target.unlink()
    assert w.merge() is None
    assert _snapshot(w.dist) == merged


def test_a_valid_part_with_every_field_merges_and_keeps_its_typed_values(tmp_path: Path) -> None:
    w = World(tmp_path / "w")
    merged = json.loads((w.dist / "manifest.json").read_text())
    assert merged["git"] == {"commit": COMMIT, "dirty": False}
    assert [a["path"] for a in merged["artifacts"]] == [ARCHIVE]
    assert (w.dist / ARCHIVE).read_bytes() == PAYLOAD
    # An upper-case commit is a commit: it is kept lower-cased, as git prints it.
    w.write(_valid() | {"git": {"commit": COMMIT.upper(), "dirty": False}})
    assert w.merge() is None
    assert json.loads((w.dist / "manifest.json").read_text())["git"]["commit"] == COMMIT


def test_the_directory_destination_never_sees_a_commit_that_is_not_hex(tmp_path: Path) -> None:
    """Today a part's `"commit": "../../../x"` reaches dist/manifest.json and [publish.directory]'s
    {commit}: the manifest itself is now refused where it is read."""
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "manifest.json").write_text(json.dumps(_valid() | {"git": {"commit": "../../../x", "dirty": False}}))
    with pytest.raises(ConfigError, match=r"git\.commit: expected a git commit id"):
        Manifest.load(dist)


# --- generated: mutations of every field of a valid part manifest --------------------------------------------

def _paths(v: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value: (key, index, …) from the root."""
    out = [at]
    if isinstance(v, dict):
        for k, x in v.items():
            out += _paths(x, (*at, k))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            out += _paths(x, (*at, i))
    return out


FIELD_PATHS = _paths(_valid())
HOSTILE_STRINGS = [*HOSTILE_NAMES, COMMIT, "../../../x", "SHA256SUMS", "manifest.json", ".wavrybuild/x", "repo/x",
                   TARGET, "aarch64-apple-darwin", ARCHIVE, ARCHIVE.upper(), "-rf", "a" * 300, "x\u2028y", "\x85"]
values = st.recursive(
    st.none() | st.booleans() | st.sampled_from([0, -1, 1, len(PAYLOAD), 2**63, 10**30, -(10**30)])
    | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(HOSTILE_STRINGS) | st.text(max_size=12),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.sampled_from(["path", "size", "x", "commit"]) | st.text(max_size=6),
                                                              kids, max_size=3),
    max_leaves=8)
edits = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(FIELD_PATHS), values),
    st.tuples(st.just("delete"), st.sampled_from([p for p in FIELD_PATHS if p]), st.none()),
    st.tuples(st.just("add"), st.sampled_from(FIELD_PATHS), st.tuples(st.text(max_size=8), values)),
    st.tuples(st.just("bytes"), st.integers(min_value=0, max_value=2000), st.binary(min_size=1, max_size=4)),
)
TALLY: collections.Counter[str] = collections.Counter()


def _get(v: Any, at: tuple[Any, ...]) -> Any:
    for k in at:
        v = v[k]
    return v


def _mutate(edit: tuple[str, Any, Any]) -> bytes | Any:
    kind, at, value = edit
    data = _valid()
    if kind == "bytes":
        raw = bytearray(json.dumps(data).encode())
        i = at % len(raw)
        raw[i:i + len(value)] = value
        return bytes(raw)
    if kind == "set" and not at:
        return value
    parent = _get(data, at[:-1]) if at else None
    if kind == "set":
        parent[at[-1]] = value
    elif kind == "delete":
        del parent[at[-1]]
    else:
        target = _get(data, at)
        if not isinstance(target, dict):
            return data  # nothing to add to: the valid manifest (accepted)
        key, extra = value
        target[key] = extra
    return data


_FRESH: dict[Path, tuple[World, dict[str, Any], Path]] = {}


def _world_tree(w: World) -> dict[str, Any]:
    """_snapshot of the whole world but its part manifest (each example writes its own)."""
    return _snapshot(w.root) | {str(w.manifest.relative_to(w.root)): None}


def _fresh_world(root: Path) -> World:
    """World(root) as new, for one generated example. Building it (with its valid merge) costs most of an
    example, so it is built once per test; a later example gets it back only when its tree is, byte for
    byte, the fresh one. An accepted merge's dist/ is put back from a copy; any other difference builds
    the world again."""
    kept = _FRESH.get(root)
    if kept is not None:
        w, fresh, saved = kept
        if _world_tree(w) == fresh:
            return w
        try:
            shutil.rmtree(w.dist)
            shutil.copytree(saved, w.dist, symlinks=True)
        except OSError:
            pass
        else:
            if _world_tree(w) == fresh:
                return w
    w = World(root)
    saved = root.with_name(root.name + "-fresh-dist")
    shutil.rmtree(saved, ignore_errors=True)
    shutil.copytree(w.dist, saved, symlinks=True)
    _FRESH[root] = (w, _world_tree(w), saved)
    return w


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edit=edits)
def test_generated_mutations_of_a_part_are_refused_naming_it_or_accepted_and_confined(
        tmp_path: Path, edit: tuple[str, Any, Any]) -> None:
    w = _fresh_world(tmp_path / "w")
    before, outside = _snapshot(w.dist), _snapshot(w.outside)
    data = _mutate(edit)
    try:
        w.write(data if isinstance(data, bytes) else json.dumps(data).encode())
    except (ValueError, TypeError):  # not representable as JSON by Python (e.g. a huge int key): nothing to try
        return
    TALLY["tried"] += 1
    try:
        error = w.merge()
    except Exception as exc:  # the contract: never anything but a MergeError
        TALLY["failures"] += 1
        raise AssertionError(f"{edit}: {type(exc).__name__}: {exc}") from exc
    assert _snapshot(w.outside) == outside
    if error is not None:
        # Names the part file (or, when no part brings a target's archive, the parts directory).
        named = str(w.manifest) if "no part for" not in error.message else str(w.root / "parts")
        assert isinstance(error, MergeError) and named in error.message, (edit, str(error))
        assert "\n" not in error.message
        assert _snapshot(w.dist) == before
        TALLY["clear error"] += 1
        return
    merged = json.loads((w.dist / "manifest.json").read_text())
    for a in merged["artifacts"]:
        ArtifactPath.parse(a["path"])
        dest = w.dist / a["path"]
        assert not dest.is_symlink() and dest.resolve().is_relative_to(w.dist.resolve())
        assert hashlib.sha256(dest.read_bytes()).hexdigest() == a["sha256"]
    assert merged["git"].get("commit") is None or CommitId.parse(merged["git"]["commit"])
    TALLY["accepted and safe"] += 1


def test_zz_report_the_tally_of_generated_parts() -> None:
    """Printed for docs/security.md (pytest -s); the contract itself is asserted above."""
    print(f"\npart manifests: {dict(TALLY)}")
    assert TALLY["failures"] == 0


def test_what_wavrybuild_writes_the_schema_reads_back() -> None:
    """Every field of Manifest and Artifact is in the schema: a field added to the dataclasses and
    not to manifest.parse_manifest fails here (the schema refuses unknown fields)."""
    a = Artifact(target=TARGET, triple=TARGET, kind="archive", format="tar.gz", path=ARCHIVE, size=1, sha256="b" * 64,
                 binaries=["demo"], authenticode=True, packages=["demo"])
    m = Manifest(crate="demo", name="demo", version="1.2.3", git={"commit": COMMIT, "dirty": True}, source_date_epoch=5,
                 source_date_epoch_from="x", tools={"cargo": "cargo 1", "rustc": {"stable": "rustc 1"}}, artifacts=[a],
                 checksums={"file": "SHA256SUMS", "sha256": "c" * 64, "sidecars": True},
                 signatures=[{"method": "minisign", "file": "SHA256SUMS.minisig", "signs": "SHA256SUMS", "signer": "k"}],
                 packages={"demo": {"version": "1.2.3", "binaries": ["demo"], "manifest": "demo/Cargo.toml",
                                    "description": "a\nb", "authors": ["A <a@example.invalid>"], "license": "MIT",
                                    "homepage": None, "repository": "https://example.invalid/r", "readme": "../R.md"},
                           "old": {"version": "1.0.0", "binaries": ["old"]}})
    assert {f.name for f in dataclasses.fields(Manifest)} | {"schema", "wavrybuild"} == set(_valid()) | {"schema"}
    assert {f.name for f in dataclasses.fields(Artifact)} == set(_artifact())
    assert parse_manifest({"schema": 1, "wavrybuild": "0.1.0", **dataclasses.asdict(m)}) == m


@pytest.mark.parametrize("case", ["symlinked-manifest", "symlinked-artifact", "symlinked-directory", "fifo-artifact",
                                  "fifo-manifest", "dist-holds-a-link"])
def test_links_are_refused_where_there_is_no_dir_fd_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    """Windows has no dir_fd: there each step is lstat-checked; the same parts are refused the same way."""
    monkeypatch.setattr(nofollow, "_AT", False)
    w = World(tmp_path / "w")
    HOSTILE[case](w)
    before, outside = _snapshot(w.dist), _snapshot(w.outside)
    error = w.merge()
    assert isinstance(error, MergeError) and str(w.root / "parts") in error.message, error
    assert _snapshot(w.dist) == before and _snapshot(w.outside) == outside
