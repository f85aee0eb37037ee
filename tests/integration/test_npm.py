"""npm packages from the built binaries, published through wavrybuild's HTTP layer (the registry API
`npm publish` speaks) to a real registry (verdaccio on localhost, installed by .ci/setup), installed
with the real npm CLI into fresh directories and run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.integration.servers import Registry, verdaccio

NPM_TARGETS = ["x86_64-unknown-linux-gnu.2.17", "aarch64-unknown-linux-gnu", "x86_64-unknown-linux-musl",
               "aarch64-apple-darwin", "x86_64-pc-windows-gnu"]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with verdaccio(tmp_path_factory.mktemp("verdaccio")) as reg:
        yield reg


def _npm(*args: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "npm_config_cache": str(cache), "npm_config_update_notifier": "false"}
    return subprocess.run(["npm", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def published(packaged, registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("npm") / "p"
    shutil.copytree(packaged.root, root)
    toml = root / "targets.toml"
    toml.write_text(toml.read_text() + '\n[channels.npm]\nname = "@wavry/demo"\naccess = "public"\n'
                    f"targets = {json.dumps(NPM_TARGETS)}\nregistry = \"{registry.url}\"\n")
    for task in ("npm", "checksum"):
        done = invoke(task, cwd=root, env=packaged.env)
        assert done.returncode == 0, done.stdout + done.stderr
    return root


def test_packages_have_platform_fields(published: Path) -> None:
    dist = published / "dist"
    fields = {}
    for tgz in dist.glob("*.tgz"):
        with tarfile.open(tgz) as tar:
            data = json.load(tar.extractfile("package/package.json"))  # type: ignore[arg-type]
            names = tar.getnames()
        fields[data["name"]] = (data.get("os"), data.get("cpu"), data.get("libc"), names)
        assert data["version"] == "0.1.0" and data["license"] == "MIT"
        # Cargo.toml's description, homepage and repository, in every package.json.
        assert data["description"] == "Demo crate released by wavrybuild's own targets.toml"
        assert data["homepage"] == "https://wavry.example/demo"
        assert data["repository"] == {"type": "git", "url": "https://git.wavry.example/wavrybuild"}
    assert fields["@wavry/demo-linux-x64-gnu"][:3] == (["linux"], ["x64"], ["glibc"])
    assert fields["@wavry/demo-linux-x64-musl"][:3] == (["linux"], ["x64"], ["musl"])
    assert fields["@wavry/demo-linux-arm64-gnu"][:3] == (["linux"], ["arm64"], ["glibc"])
    assert fields["@wavry/demo-darwin-arm64"][:3] == (["darwin"], ["arm64"], None)
    assert fields["@wavry/demo-win32-x64"][:3] == (["win32"], ["x64"], None)
    assert "package/bin/wavry-demo.exe" in fields["@wavry/demo-win32-x64"][3]
    main = json.loads(tarfile.open(dist / "wavry-demo-0.1.0.tgz").extractfile("package/package.json").read())  # type: ignore[union-attr]
    assert main["optionalDependencies"] == {n: "0.1.0" for n in fields if n != "@wavry/demo"}
    assert main["bin"] == {"wavry-demo": "bin/wavry-demo.js", "wavry-hello": "bin/wavry-hello.js"}
    # Every tarball is in SHA256SUMS, which the real sha256sum accepts.
    assert (dist / "SHA256SUMS").read_text().count(".tgz") == 6
    subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=dist, check=True, capture_output=True)


def test_npm_rerun_keeps_bytes_and_mtimes(published: Path, packaged) -> None:
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (published / "dist").glob("*.tgz")}
    done = invoke("npm", cwd=published, env=packaged.env)
    assert done.returncode == 0, done.stderr
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (published / "dist").glob("*.tgz")} == before


def test_publish_install_and_run(published: Path, packaged, registry: Registry, tmp_path: Path) -> None:
    env = {**packaged.env, "NPM_TOKEN": registry.token}
    done = invoke("publish", cwd=published, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("npm: published ")]
    # Platform packages first, the main package (which depends on them) last.
    assert len(lines) == 6 and "wavry-demo-0.1.0.tgz" in lines[-1]
    again = invoke("publish", "--to", "npm", cwd=published, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stderr.count("already published") == 6 and "npm: published " not in again.stderr
    # The token is in no output and no file written.
    for text in (done.stdout, done.stderr, again.stdout, again.stderr):
        assert registry.token not in text
    for f in (published / "dist").rglob("*"):
        if f.is_file():
            assert registry.token.encode() not in f.read_bytes(), f

    def install(where: str, *flags: str) -> Path:
        """`npm install @wavry/demo` in a fresh directory with its own cache."""
        d = tmp_path / where
        d.mkdir()
        got = _npm("install", "--registry", registry.url, *flags, "--no-audit", "--no-fund", "@wavry/demo@0.1.0",
                   cwd=d, cache=tmp_path / "npm-cache")
        assert got.returncode == 0, got.stdout + got.stderr
        return d

    app = install("app")
    installed = sorted(p.name for p in (app / "node_modules/@wavry").iterdir())
    assert installed == ["demo", "demo-linux-x64-gnu"]
    run = subprocess.run([str(app / "node_modules/.bin/wavry-demo"), "--version"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "wavry-demo 0.1.0 (x86_64-unknown-linux-gnu)"
    hello = subprocess.run([str(app / "node_modules/.bin/wavry-hello")], capture_output=True, text=True, check=True)
    assert hello.stdout.startswith("wavry-hello 0.1.0")

    # npm's own platform selection: --cpu=arm64 installs the arm64 package, which runs under qemu.
    arm = install("arm", "--cpu=arm64")
    assert sorted(p.name for p in (arm / "node_modules/@wavry").iterdir()) == ["demo", "demo-linux-arm64-gnu"]
    binary = arm / "node_modules/@wavry/demo-linux-arm64-gnu/bin/wavry-demo"
    out = subprocess.run(["qemu-aarch64", str(binary), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "wavry-demo 0.1.0 (aarch64-unknown-linux-gnu)"
    # On this x86_64 host the launcher says plainly that its platform's package is not there.
    miss = subprocess.run([str(arm / "node_modules/.bin/wavry-demo")], capture_output=True, text=True)
    assert miss.returncode == 1
    assert "@wavry/demo-linux-x64-gnu for this platform (linux-x64-glibc) is not installed" in miss.stderr

    # --libc=musl picks the static musl build, which runs here too.
    musl = install("musl", "--libc=musl")
    assert sorted(p.name for p in (musl / "node_modules/@wavry").iterdir()) == ["demo", "demo-linux-x64-musl"]
    out = subprocess.run([str(musl / "node_modules/@wavry/demo-linux-x64-musl/bin/wavry-demo"), "--version"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "wavry-demo 0.1.0 (x86_64-unknown-linux-musl)"


def test_republishing_other_bytes_is_refused(published: Path, packaged, registry: Registry, tmp_path: Path) -> None:
    env = {**packaged.env, "NPM_TOKEN": registry.token}
    assert invoke("publish", "--to", "npm", cwd=published, env=env).returncode == 0  # the originals are there
    root = tmp_path / "p"
    shutil.copytree(published, root)
    cargo = root / "demo/Cargo.toml"
    cargo.write_text(cargo.read_text().replace('description = "', 'description = "Changed: '))
    assert invoke("npm", cwd=root, env=env).returncode == 0
    assert invoke("checksum", cwd=root, env=env).returncode == 0
    done = invoke("publish", "--to", "npm", cwd=root, env=env)
    assert done.returncode != 0
    assert "already on " + registry.url in done.stderr and "with other contents" in done.stderr
    assert registry.token not in done.stdout + done.stderr


def test_publish_without_token_names_the_variable(published: Path, packaged) -> None:
    assert "NPM_TOKEN" not in os.environ and "NPM_TOKEN" not in packaged.env
    done = invoke("publish", "--to", "npm", cwd=published, env=packaged.env)
    assert done.returncode != 0
    assert "NPM_TOKEN" in done.stderr and "not set" in done.stderr
