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

    # Plain doctor right after init exits 0 on this Linux machine: the MSVC target cannot build here,
    # and doctor says it is built on the Windows runner `invoke plan` puts it on (the others are ready).
    done = invoke("doctor", cwd=root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    for target in DEFAULT_TARGETS:
        assert target in done.stdout, target
    assert "x86_64-pc-windows-msvc: built on a windows-latest runner in CI" in done.stderr, done.stderr
    assert "see below" not in done.stdout, done.stdout

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


def test_init_from_goreleaser_and_cargo_dist_with_real_cargo_metadata(tmp_path: Path) -> None:
    """`init --from` on the same fresh workspace (real `cargo metadata`, nothing built): the written
    targets.toml loads through the config loader, the table is printed and kept as a comment, and
    with --ci github the workflow is byte for byte plain init's."""
    from tests.unit.test_migrate import CARGO_DIST, GORELEASER

    plain = write_files(tmp_path / "plain", FILES)
    assert _init("--ci", "github", cwd=plain).returncode == 0
    alpha = FILES["alpha/Cargo.toml"] + 'repository = "https://github.com/example/alpha"\n'
    root = write_files(tmp_path / "ws", {**FILES, "alpha/Cargo.toml": alpha, ".goreleaser.yaml": GORELEASER})
    loads = [sys.executable, "-c", "from wavrybuild.config import load; c = load('targets.toml'); "
             "print(' '.join(t.id for t in c.targets))"]

    done = _init("--from", "goreleaser", "--ci", "github", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "init --from goreleaser" in done.stdout and "carried over" in done.stdout and "no equivalent" in done.stdout
    workflow = ".github/workflows/release.yml"
    assert (root / workflow).read_text() == (plain / workflow).read_text()
    text = (root / "targets.toml").read_text()
    assert "# What `python -m wavrybuild init --from goreleaser` made of .goreleaser.yaml:" in text
    data = tomllib.loads(text)
    assert data["project"]["packages"] == ["alpha", "beta"] and data["publish"]["github"]["repo"] == "example/tool"
    assert "name" not in data["channels"]["deb"]  # nfpm's package_name: each package's own name here, said in a row
    assert "nfpms[0].package_name" in text
    got = subprocess.run(loads, cwd=root, capture_output=True, text=True, check=False)
    assert got.returncode == 0 and got.stdout.split() == list(data["targets"]), got.stderr

    # cargo-dist's table in the workspace's Cargo.toml: refused over the existing targets.toml, then --force.
    (root / "Cargo.toml").write_text(FILES["Cargo.toml"] + CARGO_DIST)
    done = _init("--from", "cargo-dist", cwd=root)
    assert done.returncode == 1 and "would overwrite targets.toml" in done.stderr, done.stderr
    done = _init("--from", "cargo-dist", "--force", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    data = tomllib.loads((root / "targets.toml").read_text())
    # Two packages: one npm package each ({name}), the repository from the first one's Cargo.toml.
    assert data["channels"]["npm"]["name"] == "@axodotdev/{name}" and data["publish"]["github"]["repo"] == "example/alpha"
    got = subprocess.run(loads, cwd=root, capture_output=True, text=True, check=False)
    assert got.returncode == 0 and "x86_64-unknown-linux-musl" in got.stdout.split(), got.stderr
