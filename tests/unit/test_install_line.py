"""Installable as documented (issue 30 item 8): the docs, the shipped CI files, `init`'s CI files and
`invoke plan --format gitlab` all install wavrybuild one way — this version, pinned — and none of them
`pip install -e .`, which in a user's repository would install the user's own project (or fail)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.unit.test_pipeline import fake_metadata
from wavrybuild import __version__
from wavrybuild.ci.matrix import matrix
from wavrybuild.config import parse
from wavrybuild.env import Settings
from wavrybuild.init import github_build_workflow, github_workflow, gitlab_ci

REPO = Path(__file__).resolve().parents[2]

# Every `pip install` of wavrybuild or of a checkout (`-e …`, `.`), with what it installs.
PIP = re.compile(r"""pip install\s+(?P<what>-e\s+[^\s"`]+|['"]?wavrybuild[^\s'"`]*['"]?|['"]?\.['"]?(?=[\s`]|$))""")
# The one way: this version, pinned, with any extras.
PINNED = re.compile(rf"""'wavrybuild(\[[a-z,]+\])?=={re.escape(__version__)}'""")

# Where a checkout of wavrybuild itself is what gets installed, and rightly so (never a user's repository):
# README's instructions for working on wavrybuild, and this repository's own push/PR build, which tests
# the checkout (init writes users the pinned line there: tests/unit/test_ci_files.py).
OWN_CHECKOUT = {
    ("README.md", "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && invoke toolchain --install "
                  "&& invoke release verify"),
    (".github/workflows/build.yml", "- run: python -m pip install -e ."),
}


def _installs(name: str, text: str) -> list[tuple[str, str, str]]:
    """(file, line, what it installs) for every install of wavrybuild in a text."""
    return [(name, line.strip(), m.group("what")) for line in text.splitlines() for m in PIP.finditer(line)]


def _documents() -> list[tuple[str, str]]:
    files = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")),
             *sorted((REPO / ".github/workflows").glob("*.yml")), REPO / ".gitlab-ci.yml"]
    return [(str(f.relative_to(REPO)), f.read_text()) for f in files]


def _plan_gitlab(tmp_path: Path, phases: bool) -> str:
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    data: dict[str, object] = {"targets": {"x86_64-unknown-linux-gnu": {}, "aarch64-unknown-linux-gnu": {}}}
    if phases:
        data["storage"] = {"url": "s3://releases/demo"}
    return repr(matrix(parse(tmp_path / "targets.toml", data, fake_metadata, Settings()), "gitlab"))


def test_the_scan_finds_what_it_must_refuse() -> None:
    """The scan itself: an editable install, a bare or unpinned one and another version are caught."""
    found = [w for _, _, w in _installs("x", "pip install -e .\n  - python -m pip install -e '.[storage]'\n"
                                             "pip install wavrybuild\npip install 'wavrybuild==0.0.9'\n")]
    assert found == ["-e .", "-e '.[storage]'", "wavrybuild", "'wavrybuild==0.0.9'"]
    assert not any(PINNED.fullmatch(w) for w in found)
    assert PINNED.fullmatch(f"'wavrybuild[storage]=={__version__}'")


def test_docs_and_shipped_ci_files_install_the_pinned_version() -> None:
    installs = [i for name, text in _documents() for i in _installs(name, text)]
    assert len(installs) >= 10  # README, getting-started, ci.md, publishing.md, the workflows, .gitlab-ci.yml
    wrong = [(f, line) for f, line, what in installs if not PINNED.fullmatch(what) and (f, line) not in OWN_CHECKOUT]
    assert not wrong, "install wavrybuild as " + f"'wavrybuild=={__version__}' (with extras inside the brackets): {wrong}"
    shipped = [i for i in installs if i[0].startswith(".github/workflows/release") or i[0] == ".gitlab-ci.yml"]
    assert shipped and all(PINNED.fullmatch(what) for _, _, what in shipped)


def test_no_shipped_ci_file_keys_a_cache_on_the_demo_crate() -> None:
    for name, text in _documents():
        if name.endswith(".yml"):
            assert "demo/" not in text, f"{name}: a cache (or anything) keyed on this repository's demo crate"


@pytest.mark.parametrize("phases", [False, True])
def test_init_and_plan_install_the_same_way(tmp_path: Path, phases: bool) -> None:
    generated = {"init github": github_workflow(), "init build": github_build_workflow(), "init gitlab": gitlab_ci(),
                 "plan gitlab": _plan_gitlab(tmp_path, phases)}
    for name, text in generated.items():
        found = _installs(name, text)
        assert found, f"{name}: installs no wavrybuild"
        assert all(PINNED.fullmatch(what) for _, _, what in found), f"{name}: {found}"


def test_plan_in_wavrybuilds_own_checkout_installs_the_pinned_version_too(tmp_path: Path) -> None:
    """Formerly `-e .` when targets.toml sat beside wavrybuild's pyproject.toml: a plan is a user's CI."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "wavrybuild"\n')
    found = _installs("plan", _plan_gitlab(tmp_path, False))
    assert found and all(PINNED.fullmatch(what) for _, _, what in found), found
