"""`init --from cargo-dist|goreleaser`: a peer's config carried over into a targets.toml that our
config loader takes, with a row for every key; hostile values refused naming the file and key, or
shown as a "no equivalent" row, never a traceback or a path outside the project.

The configs are shaped on the projects' public docs:
- CARGO_DIST: the cargo-dist ("dist") book, reference/config page — the `[workspace.metadata.dist]`
  block `dist init` writes (cargo-dist-version, ci, installers, targets, tap, publish-jobs,
  npm-scope, install-path, pr-run-mode), plus checksum, unix-archive, allow-dirty and
  github-custom-runners from the same page; DIST_WORKSPACE: the same page's dist-workspace.toml form.
- GORELEASER: GoReleaser's customization/builds/rust page (builder: rust, the flags and targets of its
  example, before hooks installing cargo-zigbuild), customization/archive (formats +
  format_overrides, name_template, files), customization/checksum (name_template, algorithm),
  customization/nfpm (package_name, vendor, homepage, maintainer, description, license, formats,
  dependencies, section), customization/sign (cmd gpg, artifacts: checksum, args with --local-user)
  and customization/release (github owner/name, draft, prerelease: auto).
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_init import load, metadata, planned
from wavrybuild import init
from wavrybuild.config import Config
from wavrybuild.errors import ConfigError
from wavrybuild.migrate import Migration, migrate
from wavrybuild.migrate.report import CARRIED, DIFFERS, NONE

CARGO_DIST = '''
[workspace.metadata.dist]
# The preferred cargo-dist version to use in CI (Cargo.toml SemVer syntax)
cargo-dist-version = "0.22.1"
# CI backends to support
ci = "github"
# The installers to generate for each app
installers = ["shell", "powershell", "npm", "homebrew", "msi"]
# A GitHub repo to push Homebrew formulas to
tap = "axodotdev/homebrew-tap"
# Target platforms to build apps for (Rust target-triple syntax)
targets = ["aarch64-apple-darwin", "aarch64-unknown-linux-gnu", "x86_64-apple-darwin", "x86_64-unknown-linux-gnu", "x86_64-unknown-linux-musl", "x86_64-pc-windows-msvc"]
# The archive format to use for non-windows builds (defaults .tar.xz)
unix-archive = ".tar.gz"
# A namespace to use when publishing this package to the npm registry
npm-scope = "@axodotdev"
# Publish jobs to run in CI
publish-jobs = ["homebrew", "npm"]
# Path that installers should place binaries in
install-path = "CARGO_HOME"
# Whether to install an updater program
install-updater = false
# Which actions to run on pull requests
pr-run-mode = "plan"
checksum = "sha256"
allow-dirty = ["ci", "msi"]

[workspace.metadata.dist.github-custom-runners]
aarch64-unknown-linux-gnu = "buildjet-8vcpu-ubuntu-2204-arm"
'''

DIST_WORKSPACE = '''
[workspace]
members = ["cargo:."]

# Config for 'dist'
[dist]
cargo-dist-version = "0.28.0"
ci = "github"
installers = ["shell"]
targets = ["x86_64-unknown-linux-gnu", "aarch64-apple-darwin"]
'''

GORELEASER = '''
# yaml-language-server: $schema=https://goreleaser.com/static/schema.json
version: 2
project_name: tool

before:
  hooks:
    - rustup default stable
    - cargo install --locked cargo-zigbuild
    - cargo fetch --locked

builds:
  - builder: rust
    flags:
      - --release
    targets:
      - x86_64-unknown-linux-gnu
      - x86_64-apple-darwin
      - x86_64-pc-windows-gnu
      - aarch64-unknown-linux-gnu
      - aarch64-apple-darwin

archives:
  - formats: [tar.gz]
    # this name template makes the OS and Arch compatible with the results of `uname`.
    name_template: >-
      {{ .ProjectName }}_
      {{- title .Os }}_
      {{- if eq .Arch "amd64" }}x86_64
      {{- else }}{{ .Arch }}{{ end }}
    # use zip for windows archives
    format_overrides:
      - goos: windows
        formats: [zip]
    files:
      - README.md
      - LICENSE*

checksum:
  name_template: "checksums.txt"
  algorithm: sha256

nfpms:
  - package_name: tool
    vendor: Example Inc.
    homepage: https://example.com/
    maintainer: Jane Doe <jane@example.com>
    description: A tool.
    license: MIT
    formats:
      - apk
      - deb
      - rpm
    dependencies:
      - git
    section: utils

signs:
  - artifacts: checksum
    cmd: gpg
    args:
      - "--batch"
      - "--local-user"
      - "releases@example.com"
      - "--output"
      - "${signature}"
      - "--detach-sign"
      - "${artifact}"

release:
  github:
    owner: example
    name: tool
  draft: true
  prerelease: auto

changelog:
  sort: asc
'''


def _setup(tmp_path: Path, files: dict[str, str], *, authors: tuple[str, ...] = ()) -> dict[str, Any]:
    """A one-package crate "tool" (cargo metadata stand-in, as test_init's) plus the peer's files."""
    meta = metadata(tmp_path, {"tool": ["tool"]}, own="tool", authors=authors)
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text if name != "Cargo.toml" else path.read_text() + text)
    return meta


def _migrated(tmp_path: Path, meta: dict[str, Any], tool: str,
              repo: str | None = "https://github.com/example/tool") -> tuple[Migration, str, Config]:
    m = migrate(tool, tmp_path, "tool", repo, bool(meta["packages"][0]["authors"]))
    files = {f.path: f.text for f in init.plan(meta, tmp_path / "Cargo.toml", init.Options.parse(source=tool),
                                                have_tasks=True, migration=m)}
    text = files["targets.toml"]
    init.check_loads(tmp_path, text, meta)  # what init does before it writes
    return m, text, load(tmp_path, text, meta)


def _outcomes(m: Migration) -> dict[str, str]:
    return {r.key: r.outcome for r in m.rows}


def test_cargo_dist_from_cargo_toml_loads_and_says_what_it_carried(tmp_path: Path) -> None:
    meta = _setup(tmp_path, {"Cargo.toml": CARGO_DIST})
    m, text, cfg = _migrated(tmp_path, meta, "cargo-dist")
    assert m.source == "Cargo.toml"
    assert [t.id for t in cfg.targets] == ["aarch64-apple-darwin", "aarch64-unknown-linux-gnu", "x86_64-apple-darwin",
                                           "x86_64-unknown-linux-gnu", "x86_64-unknown-linux-musl",
                                           "x86_64-pc-windows-msvc"]
    assert cfg.package.format == "tar.gz" and cfg.package.windows_format == "zip"
    assert cfg.checksum.sidecars is True
    assert cfg.channels.npm is not None and cfg.channels.npm.name == "@axodotdev/tool" and cfg.channels.npm.publish
    assert cfg.channels.installer is not None
    assert cfg.channels.installer.base_url == "https://github.com/example/tool/releases/download/v{version}"
    assert cfg.channels.homebrew is not None
    assert cfg.publish.github is not None and cfg.publish.github.repo == "example/tool"
    runs = {t.id: t.runs_on for t in cfg.targets}
    assert runs["aarch64-unknown-linux-gnu"] == "buildjet-8vcpu-ubuntu-2204-arm"
    rows = _outcomes(m)
    assert rows["targets"] == CARRIED and rows["installers = shell"] == CARRIED
    assert rows["installers = msi"] == DIFFERS and rows["allow-dirty"] == DIFFERS and rows["ci = github"] == DIFFERS
    assert rows["cargo-dist-version"] == NONE and rows["pr-run-mode"] == NONE
    # Every key of the table has a row; the same table closes the file as a comment.
    table = tomllib.loads(CARGO_DIST)["workspace"]["metadata"]["dist"]
    for key in table:
        assert any(r.key.startswith(key) or r.key.startswith(f"{key} =") or key in r.key for r in m.rows), key
    block = text[text.index("# What `python -m wavrybuild init --from cargo-dist`"):]
    assert all(line.startswith("#") for line in block.splitlines())
    assert len(block.splitlines()) == len(m.rows) + 2


def test_dist_workspace_toml_wins_and_defaults_are_written_out(tmp_path: Path) -> None:
    meta = _setup(tmp_path, {"Cargo.toml": CARGO_DIST, "dist-workspace.toml": DIST_WORKSPACE})
    m, _text, cfg = _migrated(tmp_path, meta, "cargo-dist")
    assert m.source == "dist-workspace.toml"
    assert [t.id for t in cfg.targets] == ["x86_64-unknown-linux-gnu", "aarch64-apple-darwin"]
    assert cfg.package.format == "tar.xz"  # cargo-dist's default unix-archive, said so
    assert any(r.key == "unix-archive" and "default" in r.note for r in m.rows)
    assert cfg.channels.npm is None and cfg.channels.homebrew is None


def test_cargo_dist_without_a_github_repository_says_what_to_add(tmp_path: Path) -> None:
    meta = _setup(tmp_path, {"dist-workspace.toml": DIST_WORKSPACE})
    m, _text, cfg = _migrated(tmp_path, meta, "cargo-dist", repo="https://gitlab.com/x/y")
    assert cfg.publish.github is None and cfg.channels.installer is None
    assert _outcomes(m)["installers = shell"] == DIFFERS and _outcomes(m)["(hosting)"] == DIFFERS


def test_goreleaser_rust_config_loads_and_says_what_it_carried(tmp_path: Path) -> None:
    meta = _setup(tmp_path, {".goreleaser.yaml": GORELEASER})
    m, text, cfg = _migrated(tmp_path, meta, "goreleaser", repo=None)
    assert [t.id for t in cfg.targets] == ["x86_64-unknown-linux-gnu", "x86_64-apple-darwin", "x86_64-pc-windows-gnu",
                                           "aarch64-unknown-linux-gnu", "aarch64-apple-darwin"]
    assert cfg.project.name == "tool"
    assert cfg.package.format == "tar.gz" and cfg.package.windows_format == "zip"
    deb, rpm = cfg.channels.deb, cfg.channels.rpm
    assert deb is not None and rpm is not None
    assert deb.targets == ("x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu") == rpm.targets
    assert deb.maintainer == "Jane Doe <jane@example.com>" and deb.depends == ("git",) and deb.section == "utils"
    assert cfg.sign.methods == ("gpg",) and cfg.sign.artifacts is False and cfg.sign.gpg.key == "releases@example.com"
    gh = cfg.publish.github
    assert gh is not None and gh.repo == "example/tool" and gh.draft is True and gh.prerelease is None
    rows = _outcomes(m)
    assert rows["builds[0].targets"] == CARRIED and rows["nfpms[0].formats: apk"] == NONE
    assert rows["checksum.name_template"] == DIFFERS and rows["checksum.algorithm"] == CARRIED
    assert rows["before"] == NONE and rows["changelog"] == DIFFERS and rows["release.github"] == CARRIED
    assert "nfpms[0].formats: deb" in text  # the table is in the file too


def test_goreleaser_older_format_spelling_and_darwin_override(tmp_path: Path) -> None:
    config = '''
builds:
  - builder: rust
    targets: [x86_64-unknown-linux-gnu, aarch64-apple-darwin, x86_64-apple-darwin]
  - builder: go
    goos: [linux]
archives:
  - format: tgz
    format_overrides:
      - goos: darwin
        format: zip
      - goos: plan9
        format: zip
checksum:
  split: true
'''
    meta = _setup(tmp_path, {".goreleaser.yml": config})
    m, _text, cfg = _migrated(tmp_path, meta, "goreleaser")
    assert cfg.package.format == "tar.gz"
    assert {t.id: t.archive for t in cfg.targets} == {"x86_64-unknown-linux-gnu": None, "aarch64-apple-darwin": "zip",
                                                     "x86_64-apple-darwin": "zip"}
    assert cfg.checksum.sidecars is True
    rows = _outcomes(m)
    assert rows["builds[1]"] == NONE and rows["archives[0].format_overrides[1]"] == NONE
    assert cfg.publish.github is not None and cfg.publish.github.repo == "example/tool"  # from Cargo.toml


@pytest.mark.parametrize(("tool", "name", "text", "message"), [
    ("cargo-dist", "dist-workspace.toml", '[dist]\ntargets = ["../../etc/x86_64-unknown-linux-gnu"]\n',
     "dist.targets: expected Rust target triples"),
    ("cargo-dist", "dist-workspace.toml", '[dist]\ntargets = ["x86_64-unknown-linux-gnu\\n[publish.x]"]\n',
     "dist.targets"),
    ("cargo-dist", "dist-workspace.toml", '[dist]\ntargets = "x86_64-unknown-linux-gnu"\ninstallers = [1]\n',
     "dist.installers: expected a list of strings"),
    ("cargo-dist", "dist-workspace.toml", '[dist]\ninstallers = ["npm"]\nnpm-scope = "axo/../x"\n', "dist.npm-scope"),
    ("cargo-dist", "dist-workspace.toml", "[dist\n", "not valid TOML"),
    ("cargo-dist", "dist-workspace.toml", "[workspace]\n", "no cargo-dist config"),
    ("goreleaser", ".goreleaser.yaml", "builds:\n  - builder: rust\n    targets: [a/b]\n", "builds[0].targets"),
    ("goreleaser", ".goreleaser.yaml", 'builds:\n  - builder: rust\n    targets: ["x86_64-unknown-linux-gnu\\nx"]\n',
     "builds[0].targets"),
    ("goreleaser", ".goreleaser.yaml", "project_name: ../../outside\nbuilds:\n  - builder: rust\n", "project_name"),
    ("goreleaser", ".goreleaser.yaml", "release:\n  github: {owner: 'a/b', name: c}\nbuilds: [{builder: rust}]\n",
     "release.github"),
    ("goreleaser", ".goreleaser.yaml", "!!python/object/apply:os.system ['touch /tmp/pwned']\n", "not valid YAML"),
    ("goreleaser", ".goreleaser.yaml", "- just\n- a list\n", "expected a YAML mapping"),
    ("goreleaser", ".goreleaser.yaml", "builds:\n  - builder: go\n", "no build with builder: rust"),
    ("goreleaser", ".goreleaser.yaml", "builds: [{builder: rust}]\nnfpms:\n  - formats: [deb]\n    maintainer: "
     "'{{ .Env.X }}'\n", "nfpms[0].maintainer"),
    ("goreleaser", ".goreleaser.yaml", "builds: {builder: rust}\n", "builds: expected a list of mappings"),
    ("goreleaser", "elsewhere.yaml", "builds: [{builder: rust}]\n", "no GoReleaser config"),
])
def test_hostile_or_broken_configs_get_one_clear_error(tmp_path: Path, tool: str, name: str, text: str,
                                                        message: str) -> None:
    meta = _setup(tmp_path, {name: text})
    with pytest.raises(ConfigError) as err:
        _migrated(tmp_path, meta, tool)
    assert message in str(err.value), str(err.value)
    assert "\n[publish" not in str(err.value)  # a hostile value is shown escaped, on one line
    assert not Path("/tmp/pwned").exists()


def test_unknown_and_hostile_keys_are_no_equivalent_rows_on_one_line(tmp_path: Path) -> None:
    config = ('builds: [{builder: rust, targets: [x86_64-unknown-linux-gnu, wasm64-unknown-nowhere]}]\n'
              '"evil\\n[publish.github]\\nrepo = \\"x/y\\"": 1\nfuture_key: {a: 1}\n')
    meta = _setup(tmp_path, {".goreleaser.yaml": config})
    m, text, cfg = _migrated(tmp_path, meta, "goreleaser", repo=None)
    rows = _outcomes(m)
    assert rows["future_key"] == NONE and rows["evil\n[publish.github]\nrepo = \"x/y\""] == NONE
    assert rows["builds[0].targets: wasm64-unknown-nowhere"] == NONE  # a valid name rustc does not know
    assert [t.id for t in cfg.targets] == ["x86_64-unknown-linux-gnu"] and cfg.publish.github is None
    assert "publish" not in tomllib.loads(text)  # the key's newline did not open a table
    assert "evil\\u000A[publish.github]" in text


def test_flags_with_from(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected one of cargo-dist, goreleaser"):
        init.Options.parse(source="../dist")
    with pytest.raises(ConfigError, match="takes no --musl"):
        init.Options.parse(source="goreleaser", musl=True)
    # Without --from nothing changes: the plan is init's own.
    meta = _setup(tmp_path, {".goreleaser.yaml": GORELEASER})
    assert "--from" not in planned(tmp_path, meta, init.Options.parse())["targets.toml"]


def test_cli_from_refuses_a_hostile_config_with_exit_2(tmp_path: Path) -> None:
    """The CLI path without cargo: --from with no Cargo.toml names the problem (exit 2, no traceback);
    argparse refuses an unknown tool."""
    done = subprocess.run([sys.executable, "-m", "wavrybuild", "init", "--from", "gorelease"], cwd=tmp_path,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "invalid choice" in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run([sys.executable, "-m", "wavrybuild", "init", "--from", "goreleaser"], cwd=tmp_path,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "no Cargo.toml" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "targets.toml").exists()
