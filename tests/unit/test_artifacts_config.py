"""[[artifacts]] parsing (no Rust, no command run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_pipeline import fake_metadata
from wavrybuild.config import parse
from wavrybuild.env import Settings
from wavrybuild.errors import ConfigError


def _parse(tmp_path: Path, artifacts: Any) -> Any:
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    data = {"targets": {"x86_64-unknown-linux-gnu": {}}, "artifacts": artifacts}
    return parse(tmp_path / "targets.toml", data, fake_metadata, Settings())


def test_artifacts_parsed(tmp_path: Path) -> None:
    (a,) = _parse(tmp_path, [{"name": "site.tar.zst", "command": ["bun", "run", "build"], "directory": "web/dist"}]).artifacts
    assert (a.name, a.format, a.command, a.top) == ("site.tar.zst", "tar.zst", ("bun", "run", "build"), "site")
    assert a.directory == tmp_path / "web/dist"


@pytest.mark.parametrize(("artifacts", "expected"), [
    ({"name": "x.tar.gz"}, "expected [[artifacts]] tables"),
    ([{"name": "x.tar.gz"}], "artifacts[0].directory: missing"),
    ([{"name": "x.rar", "directory": "d"}], "the name says the archive format"),
    ([{"name": "../x.tar.gz", "directory": "d"}], "not a usable file name"),
    ([{"name": "x.tar.gz", "directory": "../outside"}], "a relative path inside the project"),
    ([{"name": "x.tar.gz", "directory": "d", "command": "bun run build"}], "never a shell string"),
    ([{"name": "x.zip", "directory": "d"}, {"name": "x.zip", "directory": "e"}], "listed twice"),
    ([{"name": "x.zip", "directory": "d", "comand": []}], "did you mean 'command'?"),
])
def test_bad_artifacts(tmp_path: Path, artifacts: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        _parse(tmp_path, artifacts)
    assert expected in str(exc.value) + (exc.value.hint or "")


def test_storage_config(tmp_path: Path) -> None:
    from wavrybuild.config.storage import StorageConfig, parse_storage

    path = tmp_path / "targets.toml"
    assert parse_storage(path, None, Settings()) is None
    assert parse_storage(path, {"url": "s3://rel/a/b/", "region": "eu-west-1"}, Settings()) == \
        StorageConfig("rel", "a/b", None, "eu-west-1")
    # CI passes the bucket and endpoint per pipeline.
    got = parse_storage(path, None, Settings(storage="s3://ci-bucket", storage_endpoint="http://127.0.0.1:8333"))
    assert got == StorageConfig("ci-bucket", "", "http://127.0.0.1:8333", None)
    for raw, expected in (({"url": "https://x"}, "not an s3://bucket/prefix URL"),
                          ({"url": "s3://rel/a/../b"}, "'..' segment"),
                          ({}, "storage.url: missing"),
                          ({"url": "s3://rel", "endpoint": "x"}, "did you mean 'endpoint-url'?"),
                          ({"url": "s3://rel", "endpoint-url": "http://k:secret@h"}, "storage.endpoint-url")):
        with pytest.raises(ConfigError) as exc:
            parse_storage(path, raw, Settings())
        assert expected in str(exc.value) + (exc.value.hint or "")
