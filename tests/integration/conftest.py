from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO, git_commit, invoke, write_project

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/integration/ is `integration`, whether or not its module says so: the fast
    tier (`-m "not integration"`) must never start a real build because a new module forgot its mark."""
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


@dataclass
class Release:
    root: Path
    dist: Path
    build: subprocess.CompletedProcess
    env: dict[str, str]

    @property
    def record(self) -> dict:
        return json.loads((self.dist / ".wavrybuild" / "build.json").read_text())

    def binary(self, target: str, name: str = "wavry-demo") -> Path:
        return self.dist / ".wavrybuild" / "bin" / target / name


@pytest.fixture(scope="session")
def release(tmp_path_factory: pytest.TempPathFactory, cargo_target_dir: Path) -> Release:
    """The repository's own targets.toml, built once for every target with `invoke build --all`."""
    root = write_project(tmp_path_factory.mktemp("project"), (REPO / "targets.toml").read_text())
    git_commit(root)
    env = {"CARGO_TARGET_DIR": str(cargo_target_dir)}
    done = invoke("build", "--all", cwd=root, env=env)
    return Release(root, root / "dist", done, env)


@pytest.fixture(scope="session")
def packaged(release: Release) -> Release:
    """`release`, then `invoke package` and `invoke checksum` run on it."""
    for task in ("package", "checksum"):
        done = invoke(task, cwd=release.root, env=release.env)
        assert done.returncode == 0, done.stderr
    return release
