"""`invoke toolchain --install` without root prints the exact commands instead of running them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import write_project
from wavrybuild.config import load
from wavrybuild.errors import ToolMissing
from wavrybuild.toolchain import provision
from wavrybuild.toolchain import stage as stages
from wavrybuild.ui import UI

RISCV = '[project]\ncrate="demo"\n[targets.riscv64gc-unknown-linux-gnu]\nstd = "installed"\n'


def test_without_root_the_commands_are_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not provision._is_debian():
        pytest.fail("this test describes the Debian provider; run it on Debian/Ubuntu")
    write_project(tmp_path, RISCV)
    cfg = load(tmp_path / "targets.toml")
    # Not a fake of any tool: only the question "are we root?" is answered "no".
    monkeypatch.setattr(provision, "is_root", lambda: False)
    with pytest.raises(ToolMissing) as info:
        stages.install(UI(), cfg, cfg.targets, dry=False)
    text = str(info.value)
    assert "needs root" in text
    assert "sudo dpkg --add-architecture riscv64" in text
    assert "sudo apt-get update" in text and "libstd-rust" in text and ":riscv64" in text
    assert info.value.exit_code == 3
