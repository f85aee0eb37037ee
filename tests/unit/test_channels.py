"""[channels.*] of targets.toml: npm and PyPI names and versions are checked when the file loads."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.conftest import write_project
from wavrybuild.channels.npm.format import LAUNCHER, main_files, write_tarball
from wavrybuild.config import load
from wavrybuild.config.npm import check_semver, npm_name_problem, platforms, tarball_name
from wavrybuild.errors import ConfigError

TARGETS = """
[project]
crate = "demo"

[targets."x86_64-unknown-linux-gnu.2.17"]
[targets.aarch64-unknown-linux-gnu]
[targets.x86_64-unknown-linux-musl]
[targets.aarch64-apple-darwin]
[targets.x86_64-pc-windows-gnu]
"""


def _load(tmp_path: Path, channels: str):
    write_project(tmp_path, TARGETS + channels)
    return load(tmp_path / "targets.toml")


def _error(tmp_path: Path, channels: str) -> str:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, channels)
    return str(info.value)


@pytest.mark.parametrize("name", ["wavry", "@wavry/demo", "wavry-demo.cli", "a~b", "@a.b/c_d"])
def test_good_npm_names(name: str) -> None:
    assert npm_name_problem(name) is None


@pytest.mark.parametrize("name,why", [
    ("Wavry", "capital"), ("wavry demo", "characters"), ("_wavry", "starts with"), (".wavry", "starts with"),
    ("@wavry/", "characters"), ("wavry/demo", "characters"), ("http", "core module"), ("node_modules", "reserved"),
    ("a" * 215, "214"), ("wavry!", "characters"),
])
def test_bad_npm_names(name: str, why: str) -> None:
    problem = npm_name_problem(name)
    assert problem and why in problem


def test_scoped_core_module_name_is_fine() -> None:
    assert npm_name_problem("@wavry/http") is None


@pytest.mark.parametrize("version,ok", [("1.2.3", True), ("0.1.0-beta.1", True), ("1.0.0+build.7", True),
                                        ("1.2", False), ("01.2.3", False), ("1.2.3-", False), ("v1.2.3", False)])
def test_semver(version: str, ok: bool) -> None:
    if ok:
        assert check_semver(version, "x") == version
    else:
        with pytest.raises(ConfigError, match="not semver"):
            check_semver(version, "x")


def test_npm_config_and_platforms(tmp_path: Path) -> None:
    cfg = _load(tmp_path, '[channels.npm]\nname = "@wavry/demo"\n')
    nc = cfg.channels.npm
    assert nc is not None and nc.registry == "https://registry.npmjs.org/" and nc.token_env == "NPM_TOKEN"
    keys = [p.key for p in platforms(cfg, nc)]
    assert keys == ["linux-x64-glibc", "linux-arm64-glibc", "linux-x64-musl", "darwin-arm64", "win32-x64"]
    name, files = main_files(cfg, nc)
    data = json.loads(files["package.json"][0])
    assert name == "@wavry/demo" and data["version"] == "0.1.0"
    assert list(data["optionalDependencies"]) == ["@wavry/demo-linux-x64-gnu", "@wavry/demo-linux-arm64-gnu",
                                                  "@wavry/demo-linux-x64-musl", "@wavry/demo-darwin-arm64",
                                                  "@wavry/demo-win32-x64"]
    assert data["description"].startswith("Demo crate") and data["license"] == "MIT"
    assert tarball_name("@wavry/demo-linux-x64-gnu", "0.1.0") == "wavry-demo-linux-x64-gnu-0.1.0.tgz"


def test_launcher_is_valid_javascript(tmp_path: Path) -> None:
    script = tmp_path / "launch.js"
    script.write_text(LAUNCHER.format(bin="wavry-demo", main="@wavry/demo", packages='{"linux-x64-glibc": "x"}'))
    done = subprocess.run(["node", "--check", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # No package for this platform at all: the launcher names the platform and what exists.
    script.write_text(LAUNCHER.format(bin="wavry-demo", main="@wavry/demo", packages='{"plan9-mips": "x"}'))
    run = subprocess.run(["node", str(script)], capture_output=True, text=True)
    assert run.returncode == 1
    assert "no prebuilt wavry-demo for this platform (linux-x64-glibc); published for: plan9-mips" in run.stderr


def test_tarball_is_deterministic() -> None:
    files = {"package.json": (b"{}", 0o644), "bin/x": (b"\x7fELF", 0o755)}
    a, b = io.BytesIO(), io.BytesIO()
    write_tarball(a, files)
    write_tarball(b, dict(reversed(list(files.items()))))
    assert a.getvalue() == b.getvalue()
    with tarfile.open(fileobj=io.BytesIO(a.getvalue())) as tar:
        assert tar.getnames() == ["package/bin/x", "package/package.json"]
        assert tar.getmember("package/bin/x").mode == 0o755


@pytest.mark.parametrize("channels,expect", [
    ('[channels.npm]\nname = "Wavry"\n', "channels.npm.name: 'Wavry' is not a valid npm package name: capital"),
    ('[channels.npm]\nname = "@wavry/demo"\ntoken = "abc"\n', "secrets never go in targets.toml"),
    ('[channels.npm]\nnmae = "x"\n', "did you mean 'name'"),
    ('[channels.npm]\ntargets = ["x86_64-unknown-linux-gnu.2.71"]\n', "did you mean 'x86_64-unknown-linux-gnu.2.17'"),
    ('[channels.npm]\naccess = "open"\n', "channels.npm.access"),
    ('[channels.npm]\nregistry = "ftp://x"\n', "not an http(s) URL"),
    ('[channels.npm]\ntoken-env = "NPM TOKEN"\n', "not an environment variable name"),
    ('[channels.npn]\n', "did you mean 'npm'"),
    ('[channels.pypi]\nname = "-bad-"\n', "not a valid Python package name"),
])
def test_bad_channel_config(tmp_path: Path, channels: str, expect: str) -> None:
    msg = _error(tmp_path, channels)
    assert expect in msg and "targets.toml" in msg


def test_two_targets_for_one_npm_platform(tmp_path: Path) -> None:
    write_project(tmp_path, TARGETS + '[targets.x86_64-unknown-linux-gnu]\n[channels.npm]\n')
    with pytest.raises(ConfigError) as info:
        load(tmp_path / "targets.toml")
    msg = str(info.value)
    assert "x86_64-unknown-linux-gnu.2.17 and x86_64-unknown-linux-gnu are both npm platform linux-x64-glibc" in msg
    assert "channels.npm.targets" in msg


@pytest.mark.parametrize("version,channel,expect", [
    ("1.0.0-x.y", "pypi", "not a valid Python (PEP 440) version"),
    ("1.0.0+build.1", "pypi", "PyPI refuses"),
])
def test_versions_the_channel_cannot_carry(tmp_path: Path, version: str, channel: str, expect: str) -> None:
    write_project(tmp_path, TARGETS + f"[channels.{channel}]\n")
    cargo = tmp_path / "demo/Cargo.toml"
    cargo.write_text(cargo.read_text().replace('version = "0.1.0"', f'version = "{version}"'))
    with pytest.raises(ConfigError) as info:
        load(tmp_path / "targets.toml")
    assert expect in str(info.value)


def test_bad_channel_config_through_the_cli_writes_nothing(tmp_path: Path) -> None:
    from tests.conftest import invoke

    write_project(tmp_path, TARGETS + '[channels.npm]\nname = "Bad Name"\n')
    done = invoke("release", cwd=tmp_path)
    assert done.returncode == 2
    assert "channels.npm.name" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "dist").exists()


def test_dry_release_with_every_channel_writes_nothing(tmp_path: Path) -> None:
    from tests.conftest import invoke

    write_project(tmp_path, TARGETS.replace('[targets."x86_64-unknown-linux-gnu.2.17"]\n', "") + """
[channels.pypi]
[channels.npm]
name = "@wavry/demo"
[channels.deb]
repository = true
[channels.rpm]
[channels.installer]
base-url = "https://downloads.example.invalid/v{version}"
[publish.directory]
path = "out"
""")
    # The dry run checks what the real one would need first: the apt repository's gpg key, npm's token.
    done = invoke("release", "--dry", cwd=tmp_path, env={"NPM_TOKEN": "", "WAVRYBUILD_GPG_KEY": ""})
    assert done.returncode == 2, done.stdout + done.stderr
    assert "  - sign.gpg.key: not set" in done.stderr and "  - channels.npm.token-env: environment variable NPM_TOKEN " \
        "is not set" in done.stderr and "would write" not in done.stderr
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "R <r@example.invalid>", "ed25519", "sign",
                    "never"], env={**os.environ, "GNUPGHOME": str(home)}, check=True, capture_output=True)
    done = invoke("release", "--dry", cwd=tmp_path,
                  env={"NPM_TOKEN": "t", "WAVRYBUILD_GPG_KEY": "r@example.invalid", "GNUPGHOME": str(home)})
    assert done.returncode == 0, done.stdout + done.stderr
    for line in ("would write an npm package per target and the main package ([channels.npm])",
                 "would write a .deb / .rpm per Linux target with nfpm",
                 "would write install.sh / install.ps1 ([channels.installer])",
                 "would add this release's .deb packages to", "would publish dist/ to [publish.directory]",
                 "would publish the npm packages to https://registry.npmjs.org/"):
        assert line in done.stderr, line
    # [channels.rpm] without `repository` and [sign] without gpg: the packages alone.
    assert ".rpm packages to" not in done.stderr
    assert not (tmp_path / "dist").exists() and not (tmp_path / "out").exists()
