"""`python -m wavrybuild init` on a fresh two-binary workspace (no git, no registry dependencies):
its CI files pass actionlint and zizmor, `invoke doctor` works and `invoke release --target
x86_64-unknown-linux-gnu` makes the host's archives and SHA256SUMS — real cargo, no hand-written
targets.toml."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import invoke, write_files
from tests.unit.test_init import DEFAULT_TARGETS, lint_workflows

FILES = {
    "Cargo.toml": '[workspace]\nmembers = ["alpha", "beta"]\nresolver = "2"\n',
    "alpha/Cargo.toml": '[package]\nname = "alpha"\nversion = "0.3.0"\nedition = "2021"\n',
    "alpha/src/main.rs": 'fn main() { println!("alpha {}", env!("CARGO_PKG_VERSION")); }\n',
    "beta/Cargo.toml": '[package]\nname = "beta"\nversion = "1.4.0"\nedition = "2021"\n\n[[bin]]\nname = "beta-tool"\n'
                       'path = "src/main.rs"\n',
    "beta/src/main.rs": 'fn main() { println!("beta-tool {}", env!("CARGO_PKG_VERSION")); }\n',
}


def _init(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wavrybuild", "init", *args], cwd=cwd, capture_output=True, text=True,
                          check=False, timeout=300)


def test_init_then_doctor_then_release_the_host_target(tmp_path: Path, cargo_target_dir: Path) -> None:
    root = write_files(tmp_path / "ws", FILES)
    env = {"CARGO_TARGET_DIR": str(cargo_target_dir)}
    done = _init("--ci", "both", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("targets.toml", "tasks.py", ".github/workflows/release.yml", ".gitlab-ci.yml"):
        assert name in done.stderr and (root / name).is_file(), name
    data = tomllib.loads((root / "targets.toml").read_text())
    assert data["project"]["packages"] == ["alpha", "beta"] and list(data["targets"]) == [
        "x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu", "x86_64-apple-darwin", "aarch64-apple-darwin",
        "x86_64-pc-windows-msvc"] == DEFAULT_TARGETS
    lint_workflows(root / ".github/workflows")

    # Again: everything is what it would write, so nothing is refused; --check agrees.
    again = _init("--ci", "both", cwd=root)
    assert again.returncode == 0 and "targets.toml: unchanged" in again.stderr, again.stderr
    assert _init("--check", cwd=root).returncode == 0

    done = invoke("doctor", "--target", "x86_64-unknown-linux-gnu", cwd=root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    # Every target: the MSVC one needs a Windows runner here, which doctor says (exit 1), never a crash.
    done = invoke("doctor", cwd=root, env=env)
    assert done.returncode in (0, 1) and "internal error" not in done.stderr, done.stdout + done.stderr
    for target in DEFAULT_TARGETS:
        assert target in done.stdout, target

    done = invoke("release", "--target", "x86_64-unknown-linux-gnu", cwd=root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    dist = root / "dist"
    archives = {"alpha-0.3.0-x86_64-unknown-linux-gnu.tar.gz", "beta-1.4.0-x86_64-unknown-linux-gnu.tar.gz"}
    sums = dict(reversed(line.split("  ", 1)) for line in (dist / "SHA256SUMS").read_text().splitlines())
    assert set(sums) == archives
    for name, digest in sums.items():
        assert hashlib.sha256((dist / name).read_bytes()).hexdigest() == digest
    out = subprocess.run([str(dist / ".wavrybuild/bin/x86_64-unknown-linux-gnu/beta-tool"), "--version"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "beta-tool 1.4.0"

    # `invoke init` is the same function: --check names the CI file that changed.
    gitlab = root / ".gitlab-ci.yml"
    gitlab.write_text(gitlab.read_text() + "# edited\n")
    done = invoke("init", "--check", cwd=root, env=env)
    assert done.returncode == 1 and ".gitlab-ci.yml (differs)" in done.stderr, done.stderr
