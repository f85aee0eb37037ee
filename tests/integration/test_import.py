"""Another repository imports the collection into its own tasks.py, adds tasks, and builds."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.conftest import copy_demo, invoke

TASKS = '''
from invoke import task
from wavrybuild import namespace

ns = namespace()


@task
def hello(c):
    """The importing repository's own task."""
    print("hello from the importing repo")


ns.add_task(hello)
ns.configure({"wavrybuild": {"config": "release/targets.toml"}})
'''

TARGETS = """
[project]
crate = "../crates/app"
dist = "../out"

[targets.x86_64-unknown-linux-gnu]
smoke-expect = "0.1.0 (x86_64-unknown-linux-gnu)"
"""


def test_importing_repository(tmp_path: Path, cargo_target_dir: Path) -> None:
    repo = tmp_path / "other-repo"
    copy_demo(repo / "crates" / "app")
    (repo / "release").mkdir()
    (repo / "release" / "targets.toml").write_text(textwrap.dedent(TARGETS))
    (repo / "tasks.py").write_text(TASKS)
    env = {"CARGO_TARGET_DIR": str(cargo_target_dir)}

    listed = invoke("--list", cwd=repo)
    assert listed.returncode == 0, listed.stderr
    for name in ("build", "smoke", "toolchain", "doctor", "hello"):
        assert name in listed.stdout
    assert "hello from the importing repo" in invoke("hello", cwd=repo).stdout

    done = invoke("build", "--target", "x86_64-unknown-linux-gnu", cwd=repo, env=env)
    assert done.returncode == 0, done.stderr
    binary = repo / "out" / ".wavrybuild" / "bin" / "x86_64-unknown-linux-gnu" / "wavry-demo"
    assert binary.is_file()
    assert invoke("smoke", cwd=repo, env=env).returncode == 0

    # The env var and the flag point elsewhere, and win over the collection's setting.
    other = tmp_path / "elsewhere.toml"
    other.write_text(TARGETS.replace("../crates/app", str(repo / "crates" / "app")).replace(
        '"../out"', f'"{tmp_path / "out2"}"'))
    assert invoke("build", "--target", "x86_64-unknown-linux-gnu", cwd=repo,
                  env={**env, "WAVRYBUILD_CONFIG": str(other)}).returncode == 0
    assert (tmp_path / "out2" / ".wavrybuild" / "build.json").is_file()
    done = invoke("doctor", "--config", str(tmp_path / "nope.toml"), cwd=repo, env=env)
    assert done.returncode == 2 and "nope.toml: file not found" in done.stderr
