"""Crates from storage (issue 29 item 2): the publish request's body, byte for byte as the registry
web API documents it, and the crate files a part brings — read back through the boundary, a
hostile one refused with one message naming the manifest and the file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from wavrybuild.config.publish import CratesConfig
from wavrybuild.config.values import Component, HttpUrl
from wavrybuild.cratemeta import CRATES_IO_INDEX, CrateMetaError, from_cargo, parse_metadata, publish_body
from wavrybuild.manifest import Artifact, Manifest
from wavrybuild.publish.base import PublishError
from wavrybuild.publish.crates import read_uploads

DEP = {"name": "c", "version_req": "^2", "features": [], "optional": False, "default_features": True, "target": None,
       "kind": "normal", "registry": None, "explicit_name_in_toml": None}


def fields(name: str = "a-b", vers: str = "1.0.0", **over: Any) -> dict[str, Any]:
    return {"name": name, "vers": vers, "deps": [DEP], "features": {}, "authors": ["X"], "description": "d",
            "documentation": None, "homepage": None, "readme": None, "readme_file": None, "keywords": [],
            "categories": [], "license": "MIT", "license_file": None, "repository": None, "badges": {},
            "links": None, "rust_version": None, **over}


def test_publish_body_is_the_documented_layout() -> None:
    # Written out by hand from https://doc.rust-lang.org/cargo/reference/registry-web-api.html#publish:
    # u32 little-endian length of the JSON (447 = 0x1bf), the JSON, u32 LE length of the .crate (5), the .crate.
    js = (b'{"authors":["X"],"badges":{},"categories":[],"deps":[{"default_features":true,'
          b'"explicit_name_in_toml":null,"features":[],"kind":"normal","name":"c","optional":false,'
          b'"registry":null,"target":null,"version_req":"^2"}],"description":"d","documentation":null,'
          b'"features":{},"homepage":null,"keywords":[],"license":"MIT","license_file":null,"links":null,'
          b'"name":"a-b","readme":null,"readme_file":null,"repository":null,"rust_version":null,"vers":"1.0.0"}')
    assert len(js) == 447
    expected = b"\xbf\x01\x00\x00" + js + b"\x05\x00\x00\x00" + b"CRATE"
    assert publish_body(parse_metadata(json.dumps(fields()).encode()), b"CRATE") == expected


@pytest.mark.parametrize(("over", "message"), [
    ({"name": "../evil"}, r"^name: expected a crate name"),
    ({"name": "9lives"}, r"^name: expected a crate name"),
    ({"vers": "1.0"}, r"^vers: expected a semver version"),
    ({"deps": [{**DEP, "kind": "peer"}]}, r"^deps\[0\]\.kind: expected one of normal, dev, build"),
    ({"deps": [{**DEP, "registry": "file:///etc"}]}, r"^deps\[0\]\.registry: expected a registry's index URL"),
    ({"deps": [{**DEP, "extra": 1}]}, r"^deps\[0\]\.'extra': no such field"),
    ({"description": "one\x1b[31m"}, r"^description: expected text without control characters"),
    ({"authors": ["a\nInjected: header"]}, r"^authors\[0\]: expected one line"),
    ({"badges": {"x": 1}}, r"^badges: expected \{\}"),
    ({"token": "x"}, r"^'token': no such field"),
])
def test_hostile_metadata_is_refused_naming_the_field(over: dict[str, Any], message: str) -> None:
    with pytest.raises(CrateMetaError, match=message):
        parse_metadata(json.dumps(fields(**over)).encode())


def test_metadata_that_is_not_strict_json_is_refused() -> None:
    with pytest.raises(CrateMetaError, match="not valid JSON"):
        parse_metadata(b'{"name": "a", "name": "b"}')


def _dist(tmp_path: Path, files: dict[str, bytes]) -> Path:
    dist = tmp_path / "dist"
    dist.mkdir(parents=True)
    listed = []
    for name, data in files.items():
        (dist / name).parent.mkdir(parents=True, exist_ok=True)
        (dist / name).write_bytes(data)
        listed.append(Artifact("", "", "crate", "json" if name.endswith(".json") else "crate", name, len(data),
                               hashlib.sha256(data).hexdigest()))
    Manifest("a-b", "a-b", "1.0.0", {"commit": None, "dirty": None}, 0, "test", {},
             listed).save(dist)
    return dist


def _cc(*names: str) -> CratesConfig:
    return CratesConfig(packages=tuple(Component(n) for n in names), index=HttpUrl("https://index.crates.io/"))


def _meta(**over: Any) -> bytes:
    return json.dumps(fields(**over)).encode()


def test_crates_are_read_back_in_dependency_order(tmp_path: Path) -> None:
    dist = _dist(tmp_path, {"a-b-1.0.0.crate": b"AB", "a-b-1.0.0.crate.json": _meta(deps=[{**DEP, "name": "c"}]),
                            "c-2.0.0.crate": b"C", "c-2.0.0.crate.json": _meta(name="c", vers="2.0.0", deps=[])})
    uploads = read_uploads(_cc("a-b", "c"), dist)
    assert [u.spec for u in uploads] == ["c@2.0.0", "a-b@1.0.0"]
    assert uploads[1].sha256 == hashlib.sha256(b"AB").hexdigest()


def test_hostile_crate_files_are_refused(tmp_path: Path) -> None:
    # Metadata naming another crate than its file: it would send one crate's bytes as another's.
    dist = _dist(tmp_path / "1", {"a-b-1.0.0.crate": b"AB", "a-b-1.0.0.crate.json": _meta(name="evil")})
    with pytest.raises(PublishError, match=r"manifest.json: a-b-1.0.0.crate.json: holds the metadata of evil 1.0.0"):
        read_uploads(_cc("a-b"), dist)
    # A bad crate name inside the metadata.
    dist = _dist(tmp_path / "2", {"a-b-1.0.0.crate": b"AB", "a-b-1.0.0.crate.json": _meta(name="a/b")})
    with pytest.raises(PublishError, match=r"a-b-1.0.0.crate.json: not the metadata of a crate: name: expected a crate name"):
        read_uploads(_cc("a-b"), dist)
    # Bytes that are not the ones the manifest (the part) recorded.
    dist = _dist(tmp_path / "3", {"a-b-1.0.0.crate": b"AB", "a-b-1.0.0.crate.json": _meta()})
    (dist / "a-b-1.0.0.crate").write_bytes(b"XY")
    with pytest.raises(PublishError, match=r"a-b-1.0.0.crate: its sha256 \(or size\) differs from the manifest's"):
        read_uploads(_cc("a-b"), dist)
    # A .crate without its metadata, or metadata without its .crate.
    dist = _dist(tmp_path / "4", {"a-b-1.0.0.crate": b"AB"})
    with pytest.raises(PublishError, match=r"a-b-1.0.0.crate: a crate file without its metadata file"):
        read_uploads(_cc("a-b"), dist)
    dist = _dist(tmp_path / "5", {"a-b-1.0.0.crate.json": _meta()})
    with pytest.raises(PublishError, match=r"a-b-1.0.0.crate: not listed as a crate file"):
        read_uploads(_cc("a-b"), dist)
    # A path in the name: the files of a crate are named as cargo names them, at dist/'s top.
    dist = _dist(tmp_path / "7", {"a-b-1.0.0.crate": b"AB", "sub/a-b-1.0.0.crate.json": _meta()})
    with pytest.raises(PublishError, match=r"sub/a-b-1.0.0.crate.json: holds the metadata of a-b 1.0.0, whose file is "
                                           r"a-b-1.0.0.crate.json"):
        read_uploads(_cc("a-b"), dist)
    # A configured crate nothing packaged.
    dist = _dist(tmp_path / "6", {"a-b-1.0.0.crate": b"AB", "a-b-1.0.0.crate.json": _meta()})
    with pytest.raises(PublishError, match=r"no packaged crate for zz \(publish.crates.packages\)"):
        read_uploads(_cc("a-b", "zz"), dist)


def test_a_path_in_a_crate_name_never_reaches_the_publisher(tmp_path: Path) -> None:
    # A part manifest is read through the one schema: a crate artifact's path must be a confined name.
    data = {"schema": 1, "crate": "a", "name": "a", "version": "1.0.0", "git": {}, "source_date_epoch": 0,
            "source_date_epoch_from": "x", "tools": {},
            "artifacts": [{"target": "", "triple": "", "kind": "crate", "format": "crate", "path": "../a-b-1.0.0.crate",
                           "size": 1, "sha256": "0" * 64}]}
    from wavrybuild.manifest import SchemaError, parse_manifest

    with pytest.raises(SchemaError, match=r"artifacts\[0\]\.path"):
        parse_manifest(data)


def test_dependencies_name_their_registry_as_cargo_publish_would(tmp_path: Path) -> None:
    def dep(name: str, registry: str | None, **more: Any) -> dict[str, Any]:
        return {"name": name, "req": "^1", "kind": None, "optional": False, "uses_default_features": True,
                "features": [], "target": None, "rename": None, "registry": registry, **more}

    pkg = {"name": "app", "version": "1.0.0", "manifest_path": str(tmp_path / "Cargo.toml"),
           "dependencies": [dep("own", "sparse+http://127.0.0.1:9/index/", path="/x"), dep("serde", None),
                            dep("other", "https://other.example/index"),
                            dep("helper", None, kind="dev", path="/h", req="*")]}
    meta = from_cargo(pkg, "http://127.0.0.1:9/index/")
    assert [(d["name"], d["registry"]) for d in meta.fields["deps"]] == [
        ("own", None), ("serde", CRATES_IO_INDEX), ("other", "https://other.example/index")]
    on_crates_io = from_cargo({**pkg, "dependencies": [dep("serde", None)]}, "https://index.crates.io/")
    assert on_crates_io.fields["deps"][0]["registry"] is None


def test_a_dry_run_before_the_package_phase_reads_what_is_there(tmp_path: Path) -> None:
    dist = _dist(tmp_path, {"c-2.0.0.crate": b"C", "c-2.0.0.crate.json": _meta(name="c", vers="2.0.0", deps=[])})
    assert [u.spec for u in read_uploads(_cc("a-b", "c"), dist, missing_ok=True)] == ["c@2.0.0"]
    with pytest.raises(PublishError, match=r"no packaged crate for a-b"):
        read_uploads(_cc("a-b", "c"), dist)


def test_uploads_against_the_fake_registry_retry_what_was_lost(tmp_path: Path) -> None:
    """Through the HTTP layer to the local fake registry (tests/integration/test_publish_crates.py):
    an answer lost after the registry stored the crate is judged by the index, a 503 is tried again,
    a refusal is final and shown with the registry's detail, never with the token."""
    from tests.integration.servers import local_server
    from tests.integration.test_publish_crates import TOKEN, FakeRegistry, _handler
    from wavrybuild.publish.crates import NEW, Registry, _publish_one

    fake = FakeRegistry(token=TOKEN)
    dist = _dist(tmp_path, {"a-b-1.0.0.crate": b"AB", "a-b-1.0.0.crate.json": _meta(deps=[{**DEP, "name": "c"}]),
                            "c-2.0.0.crate": b"C", "c-2.0.0.crate.json": _meta(name="c", vers="2.0.0", deps=[]),
                            "d-1.0.0.crate": b"D", "d-1.0.0.crate.json": _meta(name="d", deps=[])})
    lines: list[str] = []
    with local_server(_handler(fake)) as fake.base:
        cc = CratesConfig(packages=(Component("a-b"), Component("c"), Component("d")), registry=Component("fake"),
                          index=HttpUrl(fake.base + "/index/"), token_env="T")
        by_name = {u.meta.name: u for u in read_uploads(cc, dist)}
        ab, c, d = by_name["a-b"], by_name["c"], by_name["d"]
        registry = Registry(cc, TOKEN)
        try:
            url = registry.api_url() + NEW
            assert url == fake.base + "/api/v1/crates/new"
            # a-b before c: the registry refuses (as crates.io does) a dependency it does not have.
            with pytest.raises(PublishError, match=r"a-b@1.0.0: publish: PUT .*: HTTP 400.*no known crate named `c`"):
                _publish_one(registry, ab, url, lines.append)
            fake.flaky = {"c": "lost", "d": "503"}
            assert _publish_one(registry, c, url, lines.append) == ("published", url)
            assert _publish_one(registry, d, url, lines.append) == ("published", url)
            assert fake.published == ["c@2.0.0", "d@1.0.0"]  # each once: the lost one was not sent again
            assert _publish_one(registry, ab, url, lines.append)[0] == "published"
            assert _publish_one(registry, c, url, lines.append) == ("skipped", "already published with the same checksum")
        finally:
            registry.close()
        other = _dist(tmp_path / "e", {"e-1.0.0.crate": b"E", "e-1.0.0.crate.json": _meta(name="e", deps=[])})
        (e,) = read_uploads(CratesConfig(packages=(Component("e"),), index=cc.index), other)
        wrong = Registry(cc, "cio-wrong-token-5f3e")
        try:
            with pytest.raises(PublishError, match=r"e@1.0.0: publish: PUT .*: HTTP 403.*authentication failed") as exc:
                _publish_one(wrong, e, wrong.api_url() + NEW, lines.append)
        finally:
            wrong.close()
    assert "cio-wrong-token-5f3e" not in exc.value.message and "$T" in (exc.value.hint or "")
    assert fake.published == ["c@2.0.0", "d@1.0.0", "a-b@1.0.0"]
    # Tried again: the lost answer and the 503, once each; never the refusals (400, 403).
    assert "\n".join(lines).count("trying again (2/3)") == 2 and TOKEN not in "\n".join(lines)


def test_the_readme_sent_is_the_package_s_own(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg/README.md").write_text("# app\n\nIt does things.\n")
    (tmp_path / "secret.txt").write_text("not the package's\n")
    pkg = {"name": "app", "version": "1.0.0", "manifest_path": str(tmp_path / "pkg/Cargo.toml"), "dependencies": []}
    meta = from_cargo({**pkg, "readme": "README.md"}, "https://index.crates.io/")
    assert (meta.fields["readme"], meta.fields["readme_file"]) == ("# app\n\nIt does things.\n", "README.md")
    # A readme path leading out of the package is not read (cargo package would not include it either).
    outside = from_cargo({**pkg, "readme": "../secret.txt"}, "https://index.crates.io/")
    assert outside.fields["readme"] is None
