"""Release notes: the changelog section for a version, and the artifact table (pure; no Rust)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_pipeline import fake_metadata
from wavrybuild.config import parse
from wavrybuild.env import Settings
from wavrybuild.errors import ConfigError
from wavrybuild.manifest import Artifact, Manifest
from wavrybuild.notes.changelog import changelog_section, platform_of, render

CHANGELOG = """# Changelog

## [Unreleased]
- nothing yet

## [1.2.3] - 2026-11-30
### Added
- the `--fast` flag

## 1.2.2 (2026-10-01)
- fixes

[1.2.3]: https://example.invalid/compare/v1.2.2...v1.2.3
"""


def test_changelog_sections() -> None:
    assert changelog_section(CHANGELOG, "1.2.3") == "### Added\n- the `--fast` flag"
    assert changelog_section(CHANGELOG, "1.2.2") == "- fixes"
    assert changelog_section(CHANGELOG, "1.2") is None
    assert changelog_section("## v2.0.0\nbig\n", "2.0.0") == "big"


def _cfg(tmp_path: Path, extra: dict[str, Any]) -> Any:
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    data = {"targets": {"x86_64-unknown-linux-gnu.2.17": {}, "aarch64-apple-darwin": {}}, **extra}
    return parse(tmp_path / "targets.toml", data, fake_metadata, Settings())


def test_notes_table_and_verify(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, {"release": {}, "sign": {"methods": ["minisign"]}})
    assert cfg.release.notes
    arts = [Artifact("x86_64-unknown-linux-gnu.2.17", "x86_64-unknown-linux-gnu", "archive", "tar.gz",
                     "demo-1.2.3-x86_64-unknown-linux-gnu.2.17.tar.gz", 2048, "ab" * 32),
            Artifact("aarch64-apple-darwin", "aarch64-apple-darwin", "wheel", "whl", "demo-1.2.3-py3-none-x.whl", 10,
                     "cd" * 32),
            Artifact("", "", "installer", "sh", "install.sh", 100, "ef" * 32)]
    manifest = Manifest("demo", "demo", "1.2.3", {"commit": "f00d"}, 0, "", {}, arts)
    text = render(cfg, manifest, "### Added\n- x", arts)
    assert text.startswith("# demo 1.2.3\n\n### Added\n- x\n\n## Downloads\n")
    assert "| demo-1.2.3-x86_64-unknown-linux-gnu.2.17.tar.gz | Linux x86_64 (glibc ≥ 2.17) | archive | 2.0 KiB |" in text
    assert "| macOS aarch64 | PyPI wheel |" in text and "| install.sh | any | install script |" in text
    assert "minisign -Vm SHA256SUMS" in text and "gpg --verify" not in text and "`f00d`" in text
    assert render(cfg, manifest, "### Added\n- x", arts) == text  # deterministic
    assert platform_of(arts[0], {}) == "Linux x86_64 (glibc)"


def test_release_table_checked(tmp_path: Path) -> None:
    assert not _cfg(tmp_path, {}).release.notes
    assert _cfg(tmp_path, {"publish": {"github": {"repo": "o/r"}}}).release.notes  # a release page shows them
    assert not _cfg(tmp_path, {"release": {"notes": False}, "publish": {"github": {"repo": "o/r"}}}).release.notes
    for bad, expected in (({"changelog": "NOPE.md"}, "release.changelog: no file"),
                          ({"changlog": "x"}, "did you mean 'changelog'?"),
                          ({"notes": "yes"}, "release.notes: expected true or false")):
        with pytest.raises(ConfigError) as exc:
            _cfg(tmp_path, {"release": bad})
        assert expected in str(exc.value)
    (tmp_path / "CHANGELOG.md").write_text(CHANGELOG)
    assert _cfg(tmp_path, {"release": {"changelog": "CHANGELOG.md"}}).release.changelog == tmp_path / "CHANGELOG.md"
