"""A workspace releasing two binary packages at once (a CLI and its server, as LeanSpec ships):
one cargo invocation per target for both, smoke-run natively and under qemu, archives per package
and per platform, npm packages for both published to a real verdaccio (every platform package
before any main package), wheels for both through a real pypiserver, a .deb per package, the same
bytes from a second clone, and a rerun that changes nothing."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import git_commit, invoke, write_files
from tests.integration.servers import Registry, pypiserver, verdaccio

HOST, ARM = "x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"
MAIN = 'fn main() { println!("{} {} {}", env!("CARGO_BIN_NAME"), env!("CARGO_PKG_VERSION"), ws_core::greeting()); }\n'
WORKSPACE = {
    "Cargo.toml": '[workspace]\nmembers = ["crates/core", "crates/cli", "crates/mcp"]\nresolver = "2"\n\n'
                  '[workspace.package]\nversion = "0.3.0"\nedition = "2021"\nlicense = "MIT"\n',
    "crates/core/Cargo.toml": '[package]\nname = "ws-core"\nversion.workspace = true\nedition.workspace = true\n',
    "crates/core/src/lib.rs": 'pub fn greeting() -> &\'static str { "hello from the shared core" }\n',
    # One member takes the workspace version, the other has its own: artifacts carry each one's.
    "crates/cli/Cargo.toml": '[package]\nname = "ws-cli"\nversion.workspace = true\nedition.workspace = true\n'
                             'description = "the command line"\nlicense.workspace = true\n\n'
                             '[dependencies]\nws-core = { path = "../core" }\n',
    "crates/cli/src/main.rs": MAIN,
    "crates/mcp/Cargo.toml": '[package]\nname = "ws-mcp"\nversion = "0.4.1"\nedition.workspace = true\n'
                             'description = "the server"\nlicense.workspace = true\n\n'
                             '[dependencies]\nws-core = { path = "../core" }\n',
    "crates/mcp/src/main.rs": MAIN,
    "README.md": "# ws\n",
    "tasks.py": "from wavrybuild import ns  # noqa: F401\n",
}


GPG_PASS = "ws-gpg-pass-5e1a"


def targets_toml(group: str, registry: str, *, publish: bool, gpg: tuple[Path, str]) -> str:
    return (
        '[project]\ncrate = "."\n\n'  # no package named: the workspace's two binary packages
        '[defaults]\nsmoke-expect = "{binary} {version} hello from the shared core"\n\n'
        f'[targets.{HOST}]\n[targets.{ARM}]\n\n'
        f'[package]\ngroup = "{group}"\ninclude = ["README.md"]\n\n'
        f'[channels.npm]\nname = "@ws/{{name}}"\nregistry = "{registry}"\npublish = {str(publish).lower()}\n\n'
        '[channels.pypi]\n\n'
        '[channels.deb]\nmaintainer = "WS Team <ws@example.invalid>"\n\n'
        '[channels.installer]\nbase-url = "https://example.invalid/{name}/{version}"\n\n'
        # The apt repository holding both packages' .debs is signed.
        f'[sign]\nmethods = ["gpg"]\n\n[sign.gpg]\nkey = "{gpg[1]}"\nhomedir = "{gpg[0]}"\npassphrase-env = "WS_GPG_PASS"\n'
    )


@dataclass
class Clone:
    root: Path
    env: dict[str, str]

    @property
    def dist(self) -> Path:
        return self.root / "dist"


def _clone(root: Path, toml: str, target_dir: Path) -> Clone:
    write_files(root, {**WORKSPACE, "targets.toml": toml})
    git_commit(root)
    return Clone(root, {"CARGO_TARGET_DIR": str(target_dir), "WS_GPG_PASS": GPG_PASS})


def _snapshot(dist: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(dist)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(dist.rglob("*")) if p.is_file() and ".wavrybuild" not in p.parts}


def _members(tgz: Path) -> list[str]:
    with tarfile.open(tgz) as tar:
        return sorted(m.name for m in tar.getmembers() if m.isfile())


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with verdaccio(tmp_path_factory.mktemp("verdaccio")) as reg:
        yield reg


@pytest.fixture(scope="module")
def gpg(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    genv = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", GPG_PASS, "--quick-gen-key",
                    "WS Packages <ws@example.invalid>", "ed25519", "sign", "never"], env=genv, check=True,
                   capture_output=True)
    listing = subprocess.run(["gpg", "--batch", "--with-colons", "--list-secret-keys"], env=genv, check=True,
                             capture_output=True, text=True).stdout
    return home, next(ln.split(":")[9] for ln in listing.splitlines() if ln.startswith("fpr:"))


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory, registry: Registry, gpg: tuple[Path, str]) -> Clone:
    base = tmp_path_factory.mktemp("multi")
    clone = _clone(base / "a", targets_toml("package", registry.url, publish=True, gpg=gpg), base / "target-a")
    done = invoke("release", cwd=clone.root, env={**clone.env, "NPM_TOKEN": registry.token})
    assert done.returncode == 0, done.stdout + done.stderr
    clone.env["OUT"] = done.stdout + done.stderr
    return clone


def test_both_packages_built_in_one_cargo_run_and_smoked(released: Clone) -> None:
    out = released.env["OUT"]
    assert "releasing all of them (ws-cli, ws-mcp)" in out
    assert "Build of ws-cli 0.3.0, ws-mcp 0.4.1" in out
    assert out.count("passed") >= 4
    record = json.loads((released.dist / ".wavrybuild/build.json").read_text())
    for target in (HOST, ARM):
        bins = {b["name"]: b["package"] for b in record["targets"][target]["binaries"]}
        assert bins == {"ws-cli": "ws-cli", "ws-mcp": "ws-mcp"}
    # Each binary reports its own package's version, natively and under qemu.
    for name, version in (("ws-cli", "0.3.0"), ("ws-mcp", "0.4.1")):
        native = subprocess.run([str(released.dist / f".wavrybuild/bin/{HOST}/{name}")],
                                capture_output=True, text=True, check=True).stdout
        arm = subprocess.run(["qemu-aarch64", str(released.dist / f".wavrybuild/bin/{ARM}/{name}")],
                             capture_output=True, text=True, check=True).stdout
        assert native.strip() == arm.strip() == f"{name} {version} hello from the shared core"


def test_one_cargo_invocation_per_target_names_both_packages(tmp_path: Path, released: Clone) -> None:
    done = invoke("build", "--all", "--force", "--dry", cwd=released.root, env=released.env)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [ln for ln in (done.stdout + done.stderr).splitlines() if "cargo" in ln and " build" in ln]
    assert lines, done.stdout
    for ln in lines:
        assert "--package ws-cli --package ws-mcp" in ln and "--bin ws-cli --bin ws-mcp" in ln, ln


def test_archives_per_package(released: Clone) -> None:
    manifest = json.loads((released.dist / "manifest.json").read_text())
    archives = {a["path"]: a for a in manifest["artifacts"] if a["kind"] == "archive"}
    assert sorted(archives) == sorted(f"{n}-{v}-{t}.tar.gz" for n, v in (("ws-cli", "0.3.0"), ("ws-mcp", "0.4.1"))
                                      for t in (HOST, ARM))
    for path, a in archives.items():
        name = path.split("-0.")[0]
        assert a["packages"] == [name] and a["binaries"] == [name]
        top = path.removesuffix(".tar.gz")
        assert _members(released.dist / path) == [f"{top}/README.md", f"{top}/{name}"]
    # Each package as cargo described it (the release job reads it from here: ci/recorded.py).
    assert {n: (p["version"], p["binaries"], p["manifest"]) for n, p in manifest["packages"].items()} == {
        "ws-cli": ("0.3.0", ["ws-cli"], "crates/cli/Cargo.toml"), "ws-mcp": ("0.4.1", ["ws-mcp"], "crates/mcp/Cargo.toml")}
    assert (released.dist / "install-ws-cli.sh").is_file() and (released.dist / "install-ws-mcp.sh").is_file()
    assert "ws-mcp" not in (released.dist / "install-ws-cli.sh").read_text()


def test_deb_per_package(released: Clone) -> None:
    for name, version in (("ws-cli", "0.3.0"), ("ws-mcp", "0.4.1")):
        for arch in ("amd64", "arm64"):
            deb = released.dist / f"{name}_{version}-1_{arch}.deb"
            info = subprocess.run(["dpkg-deb", "-f", str(deb), "Package", "Version", "Architecture", "Description"],
                                  capture_output=True, text=True, check=True).stdout
            assert f"Package: {name}\nVersion: {version}-1\nArchitecture: {arch}\n" in info
            files = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
            assert f"./usr/bin/{name}\n" in files and ("ws-mcp" in files) == (name == "ws-mcp")


def test_npm_platform_packages_published_before_any_main(released: Clone, registry: Registry) -> None:
    times = {}
    for name, version in (("ws-cli", "0.3.0"), ("ws-mcp", "0.4.1")):
        for pkg in (f"@ws/{name}", f"@ws/{name}-linux-x64-gnu", f"@ws/{name}-linux-arm64-gnu"):
            doc = requests.get(registry.url + pkg.replace("/", "%2f"), timeout=10).json()
            times[pkg] = doc["time"][version]
        main = requests.get(registry.url + f"@ws%2f{name}", timeout=10).json()["versions"][version]
        assert main["bin"] == {name: f"bin/{name}.js"}
        assert main["optionalDependencies"] == {f"@ws/{name}-linux-x64-gnu": version,
                                                f"@ws/{name}-linux-arm64-gnu": version}
    mains = [t for p, t in times.items() if p.count("-") == 1]
    platforms = [t for p, t in times.items() if p.count("-") > 1]
    assert len(mains) == 2 and len(platforms) == 4
    assert max(platforms) < min(mains), times


def test_wheels_for_both_through_pypiserver(released: Clone, tmp_path: Path) -> None:
    wheels = sorted(released.dist.glob("*.whl"))
    assert sorted(w.name.split("-py3")[0] for w in wheels) == ["ws_cli-0.3.0"] * 2 + ["ws_mcp-0.4.1"] * 2
    with pypiserver(tmp_path / "packages") as url:
        up = subprocess.run([sys.executable, "-m", "twine", "upload", "--non-interactive", "--repository-url",
                             url + "/", "-u", "ws", "-p", "unused", *map(str, wheels)],
                            capture_output=True, text=True, check=False)
        assert up.returncode == 0, up.stdout + up.stderr
        venv = tmp_path / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = subprocess.run([str(venv / "bin/pip"), "install", "--no-cache-dir", "--index-url", url + "/simple/",
                              "ws-cli==0.3.0", "ws-mcp==0.4.1"], capture_output=True, text=True, check=False)
        assert pip.returncode == 0, pip.stdout + pip.stderr
    for name, version in (("ws-cli", "0.3.0"), ("ws-mcp", "0.4.1")):
        out = subprocess.run([str(venv / "bin" / name)], capture_output=True, text=True, check=True).stdout
        assert out.strip() == f"{name} {version} hello from the shared core"


def test_rerun_changes_nothing(released: Clone, registry: Registry) -> None:
    before = _snapshot(released.dist)
    done = invoke("release", cwd=released.root, env={**released.env, "NPM_TOKEN": registry.token})
    assert done.returncode == 0, done.stdout + done.stderr
    assert _snapshot(released.dist) == before
    said = [ln for ln in done.stderr.splitlines() if ln.startswith("npm: ") and ln.endswith(" already published")]
    assert len(said) == 6, done.stdout + done.stderr


def test_second_clone_gives_the_same_bytes(released: Clone, registry: Registry, tmp_path: Path) -> None:
    # Another directory, another target dir; the same commit. Not published (the config is the same).
    other = _clone(tmp_path / "b", (released.root / "targets.toml").read_text(), tmp_path / "target-b")
    done = invoke("release", "--no-publish", cwd=other.root, env=other.env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (other.dist / "SHA256SUMS").read_text() == (released.dist / "SHA256SUMS").read_text()
    assert len((other.dist / "SHA256SUMS").read_text().splitlines()) == 4 + 6 + 4 + 4 + 2


def test_platform_group_one_archive_per_target(tmp_path: Path, registry: Registry, gpg: tuple[Path, str]) -> None:
    toml = targets_toml("platform", registry.url, publish=False, gpg=gpg).replace('crate = "."', 'crate = "."\nname = "ws"')
    clone = _clone(tmp_path / "p", toml, tmp_path / "target")
    done = invoke("release", "--target", HOST, cwd=clone.root, env=clone.env)
    assert done.returncode == 0, done.stdout + done.stderr
    top = f"ws-0.3.0-{HOST}"
    assert _members(clone.dist / f"{top}.tar.gz") == [f"{top}/README.md", f"{top}/ws-cli", f"{top}/ws-mcp"]
    main = clone.dist / "ws-ws-0.3.0.tgz"
    with tarfile.open(main) as tar:
        member = tar.extractfile("package/package.json")
        assert member is not None
        data = json.load(member)
    assert data["name"] == "@ws/ws" and data["bin"] == {"ws-cli": "bin/ws-cli.js", "ws-mcp": "bin/ws-mcp.js"}
    files = subprocess.run(["dpkg-deb", "-c", str(clone.dist / "ws_0.3.0-1_amd64.deb")],
                           capture_output=True, text=True, check=True).stdout
    assert "./usr/bin/ws-cli\n" in files and "./usr/bin/ws-mcp\n" in files
    assert (clone.dist / "install.sh").is_file() and not list(clone.dist.glob("install-*"))
