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
