"""The config boundary (issue 26, item 1): each hostile value the issue names is refused when
targets.toml loads — one ConfigError (exit 2) naming the file and the key — and the values that
are rendered later (tags, layouts) are checked again where they are rendered.

Every case here was accepted before the boundary types: `distribution = "../../../../docs"` made
`invoke repos` delete docs/, a newline in a .deb field or in [desktop] name wrote extra keys into the
control file, the .desktop entry and the NSIS script, an [[artifacts]] name could overwrite the
binary archive. Configs are parsed with the unit tests' stand-in for `cargo metadata` (no Rust)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke, write_project
from tests.unit.test_pipeline import fake_metadata
from wavrybuild.config import Config, parse
from wavrybuild.config.checks import TagTemplate
from wavrybuild.config.values import Component, GitRef, Line
from wavrybuild.env import Settings
from wavrybuild.errors import ConfigError, WavryError
from wavrybuild.publish.base import PublishError, ReleaseRef

TARGET = "x86_64-unknown-linux-gnu"
ARCHIVE = f"demo-1.2.3-{TARGET}.tar.gz"  # what fake_metadata's crate archives to


def _parse(root: Path, data: dict[str, Any]) -> Config:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    return parse(root / "targets.toml", {"targets": {TARGET: {}}, **data}, fake_metadata, Settings())


def _refused(root: Path, data: dict[str, Any], key: str) -> str:
    """The one ConfigError: exit code 2, naming targets.toml and the key, the value's control
    characters never raw in the message (repr only)."""
    with pytest.raises(ConfigError) as info:
        _parse(root, data)
    message = str(info.value)
    assert info.value.exit_code == 2
    assert str(root / "targets.toml") in message and key in message, message
    assert "\n" not in message.split("\n  hint:")[0] and "\0" not in message, message
    return message


DEB = {"maintainer": "W <w@example.invalid>"}


@pytest.mark.parametrize(("data", "key"), [
    # apt paths: dists/<distribution>, pool/<component>: today `invoke repos` deletes docs/.
    ({"channels": {"deb": {**DEB, "distribution": "../../../../docs"}}}, "channels.deb.distribution"),
    ({"channels": {"deb": {**DEB, "component": "../../../../docs"}}}, "channels.deb.component"),
    ({"channels": {"deb": {**DEB, "distribution": "a/b"}}}, "channels.deb.distribution"),
    # .deb control fields: a newline adds a field of the attacker's choosing.
    ({"channels": {"deb": {"maintainer": "W <w@x>\nDepends: evil"}}}, "channels.deb.maintainer"),
    ({"channels": {"deb": {**DEB, "section": "utils\nDepends: evil"}}}, "channels.deb.section"),
    ({"channels": {"deb": {**DEB, "depends": ["libc6", "x\nPre-Depends: evil"]}}}, "channels.deb.depends"),
    ({"channels": {"rpm": {"maintainer": "W <w@x>\rX: y"}}}, "channels.rpm.maintainer"),
    ({"channels": {"deb": {"maintainer": "W\u2028<w@x>"}}}, "channels.deb.maintainer"),
    # [desktop] name: into the .desktop entry, Info.plist, WiX and the NSIS script.
    ({"desktop": {"bundle-id": "com.example.demo", "name": "Demo\nExec=evil"}}, "desktop.name"),
    ({"desktop": {"bundle-id": "com.example.demo", "name": "Demo\n!system id"}}, "desktop.name"),
    ({"desktop": {"bundle-id": "com.example.demo", "name": "De\0mo"}}, "desktop.name"),
    ({"desktop": {"bundle-id": "com.example.demo", "copyright": "(c)\nX=y"}}, "desktop.copyright"),
    ({"desktop": {"bundle-id": "com.example.demo", "linux": {"comment": "a\nExec=evil"}}}, "desktop.linux.comment"),
    # GitHub: the repo is a URL path, the tag a ref (and a URL path, and a git argument).
    ({"publish": {"github": {"repo": "../.."}}}, "publish.github.repo"),
    ({"publish": {"github": {"repo": "o/n", "tag": "v{version}/../../x"}}}, "publish.github.tag"),
    ({"publish": {"github": {"repo": "o/n", "tag": "v{version}\n"}}}, "publish.github.tag"),
    ({"publish": {"github": {"repo": "o/n", "tag": "-v{version}"}}}, "publish.github.tag"),
    ({"publish": {"gitlab": {"tag": "v{version}\nx"}}}, "publish.gitlab.tag"),
    ({"publish": {"gitlab": {"project": "group/.."}}}, "publish.gitlab.project"),
    # [publish.directory] inside dist/: published again, and swept away by the next release.
    ({"publish": {"directory": {"path": "dist/published"}}}, "publish.directory.path"),
    ({"publish": {"directory": {"path": "dist"}}}, "publish.directory.path"),
    ({"artifacts": [{"name": ARCHIVE, "directory": "site"}]}, "artifacts[0].name"),
    ({"artifacts": [{"name": "a.zip", "directory": "a"}, {"name": "a.zip", "directory": "b"}]},
     "artifacts[1].name"),  # (refused before too: kept as a guard)
    ({"artifacts": [{"name": "x.tar.gz", "directory": "."}]}, "artifacts[0].directory"),
    ({"artifacts": [{"name": "x.tar.gz", "directory": "./"}]}, "artifacts[0].directory"),
    ({"artifacts": [{"name": "x.tar.gz", "directory": "dist"}]}, "artifacts[0].directory"),
    ({"artifacts": [{"name": "x.tar.gz", "directory": ".git/objects"}]}, "artifacts[0].directory"),
    ({"artifacts": [{"name": "x.tar.gz", "directory": "site", "command": ["a\0b"]}]}, "artifacts[0].command"),
    # Other paths and format fields of the same kind.
    ({"project": {"dist": "."}}, "project.dist"),
    ({"targets": {TARGET: {"profile": "../../../../tmp"}}}, f"targets.{TARGET}.profile"),
    ({"channels": {"deb": {**DEB, "repo-dir": "."}}}, "channels.deb.repo-dir"),
    ({"channels": {"pypi": {"summary": "x\nRequires-Dist: evil"}}}, "channels.pypi.summary"),
    ({"channels": {"npm": {"tag": "../x"}}}, "channels.npm.tag"),
    ({"publish": {"directory": {"path": "/srv/rel", "layout": "{name}/{version}\n"}}}, "publish.directory.layout"),
    ({"publish": {"gitlab": {"package": "{name}/.."}}}, "publish.gitlab.package"),
    ({"sign": {"minisign": {"key": "k\0ey"}}}, "sign.minisign.key"),
])
def test_hostile_value_is_one_error_naming_the_key(tmp_path: Path, data: dict[str, Any], key: str) -> None:
    _refused(tmp_path, data, key)


def test_artifacts_directory_holding_git_or_dist_is_refused(tmp_path: Path) -> None:
    (tmp_path / "vendor/sub/.git").mkdir(parents=True)
    _refused(tmp_path, {"artifacts": [{"name": "x.tar.gz", "directory": "vendor/sub"}]}, "artifacts[0].directory")
    _refused(tmp_path, {"project": {"dist": "out/dist"}, "artifacts": [{"name": "x.tar.gz", "directory": "out"}]},
             "artifacts[0].directory")


def test_artifacts_directory_symlink_leaving_the_project_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "secrets").mkdir(parents=True)
    root = tmp_path / "project"
    root.mkdir()
    os.symlink(outside, root / "site")
    message = _refused(root, {"artifacts": [{"name": "x.tar.gz", "directory": "site/secrets"}]}, "artifacts[0].directory")
    assert "outside the project" in message


def test_good_values_pass_and_carry_their_types(tmp_path: Path) -> None:
    cfg = _parse(tmp_path, {
        "channels": {"deb": {**DEB, "depends": ["libc6 (>= 2.17)"], "distribution": "bookworm"}},
        "desktop": {"bundle-id": "com.example.demo", "name": "Wavry Demo"},
        "publish": {"github": {"repo": "wavry/demo", "tag": "{name}@{version}"},
                    "directory": {"path": str(tmp_path / "published")}},
        "artifacts": [{"name": "site.tar.gz", "directory": "site/dist"}],
    })
    deb = cfg.channels.deb
    assert deb is not None and cfg.desktop is not None and cfg.publish.github is not None
    assert isinstance(deb.distribution, Component) and isinstance(deb.maintainer, Line)
    assert all(isinstance(d, Line) for d in deb.depends) and isinstance(cfg.desktop.name, Line)
    assert cfg.publish.github.tag.render({"name": "demo", "version": "1.2.3"}) == "demo@1.2.3"
    assert isinstance(cfg.artifacts[0].name, str) and cfg.artifacts[0].directory == tmp_path / "site/dist"


@pytest.mark.parametrize("version", ["1.0\n", "1.0/../../x", "1..0", "1.0 x", "1.0~1"])
def test_rendered_tag_is_checked_again_where_it_is_rendered(version: str) -> None:
    """A tag template that passed at load can still render to a bad ref with the real values (the
    version and commit come from the manifest): the GitHub and GitLab destinations check it."""
    from wavrybuild.config.publish import GitHubConfig, GitLabConfig
    from wavrybuild.config.values import RepoSlug
    from wavrybuild.publish.github import GitHubDestination
    from wavrybuild.publish.gitlab import GitLabDestination

    ref = ReleaseRef("demo", version, "0" * 40)
    with pytest.raises(ValueError, match="renders to"):
        TagTemplate("v{version}").render(ref.values())
    with pytest.raises(PublishError, match=r"publish\.github\.tag"):
        GitHubDestination(GitHubConfig(repo=RepoSlug("o/n")), ref, "token")
    with pytest.raises(PublishError, match=r"publish\.gitlab"):
        GitLabDestination(GitLabConfig(), ref, "token", "1", "https://gitlab.example")
    assert GitRef.parse(TagTemplate("v{version}").render({"version": "1.2.3"})) == "v1.2.3"


def test_directory_layout_is_checked_again_where_it_is_rendered(tmp_path: Path) -> None:
    from wavrybuild.config.checks import PathTemplate
    from wavrybuild.config.publish import DirectoryConfig
    from wavrybuild.publish.destinations import DirectoryDestination

    bad = ReleaseRef("demo", "1.2.3", "../../../x")  # a commit from a hostile part manifest
    with pytest.raises(PublishError, match=r"publish\.directory\.layout"):
        DirectoryDestination(DirectoryConfig(tmp_path, PathTemplate("{name}/{version}/{commit}")), bad)


def test_http_url_values_are_one_path_component_each() -> None:
    """[publish.http] url = "https://host/{name}/{version}": a version of "../../x" (from a hostile
    part manifest) must not move the upload elsewhere on the server."""
    from wavrybuild.config.checks import url_template
    from wavrybuild.config.publish import HttpConfig
    from wavrybuild.publish.destinations import HttpDestination

    config = HttpConfig(url=url_template("https://up.example/{name}/{version}"))
    with pytest.raises(PublishError, match=r"publish\.http\.url"):
        HttpDestination(config, ReleaseRef("demo", "../../x", "0" * 40), None, None)
    good = HttpDestination(config, ReleaseRef("demo", "1.2.3", "0" * 40), None, None)
    assert good.base == "https://up.example/demo/1.2.3"
    good.close()


def test_repos_cli_refuses_the_distribution_and_leaves_docs(tmp_path: Path) -> None:
    """The real CLI: exit 2, one message naming the key, no traceback, docs/ untouched."""
    root = write_project(tmp_path, '[project]\ncrate = "demo"\n[targets.x86_64-unknown-linux-gnu]\n'
                                   '[channels.deb]\nmaintainer = "W <w@example.invalid>"\n'
                                   'distribution = "../../../../docs"\n')
    (root / "docs").mkdir()
    (root / "docs/keep.md").write_text("keep\n")
    done = invoke("repos", cwd=root)
    assert done.returncode == 2, done.stderr
    assert "channels.deb.distribution" in done.stderr and "Traceback" not in done.stderr
    assert (root / "docs/keep.md").read_text() == "keep\n" and not (root / "dist").exists()


@pytest.mark.parametrize(("key", "value"), [
    ("homepage", "https://x.example\nDepends: evil"), ("license", "MIT\rX: y"), ("authors", ["A <a@x>\nX: y"]),
    ("description", "A tool\rX: y"), ("description", "nul\0"), ("version", "1.0/../../x"), ("name", "../x"),
])
def test_cargo_metadata_crosses_the_boundary_too(tmp_path: Path, key: str, value: Any) -> None:
    """Cargo.toml's [package] values go into the .deb control file, RPM headers, wheel METADATA
    and file names: `cargo metadata` is an outside value like targets.toml (a multi-line
    description stays allowed: nfpm folds it)."""
    def metadata(manifest: Path) -> dict[str, Any]:
        return {"packages": [{"name": "demo", "version": "1.2.3", "manifest_path": str(manifest), key: value,
                              "targets": [{"name": "demo", "kind": ["bin"]}]}],
                "workspace_root": str(manifest.parent), "target_directory": str(manifest.parent / "target")}

    (tmp_path / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    with pytest.raises(ConfigError) as info:
        parse(tmp_path / "targets.toml", {"targets": {TARGET: {}}}, metadata, Settings())
    assert f"package.{key}" in info.value.message and "Cargo.toml" in info.value.message
    assert "\n" not in info.value.message and "\r" not in info.value.message


def test_errors_are_wavry_errors_never_tracebacks(tmp_path: Path) -> None:
    """A wrong type anywhere in these keys is a clear error too (the property tests try them all)."""
    for data in ({"channels": {"deb": {**DEB, "depends": "libc6"}}}, {"desktop": {"bundle-id": 3}},
                 {"publish": {"github": {"repo": ["o/n"]}}}, {"artifacts": [{"name": 1, "directory": "d"}]}):
        with pytest.raises(WavryError):
            _parse(tmp_path, data)


# --- [sign]: one typed model per method (issue 27, item 4) -------------------------------------------

SIGN_HOSTILE = [
    # Key files and keyrings: paths, checked and resolved at load.
    *[(m, k, v) for m, k in (("gpg", "homedir"), ("gpg", "public-key"), ("minisign", "key"), ("minisign", "public-key"),
                             ("ssh", "key"), ("ssh", "allowed-signers"), ("authenticode", "pkcs12"),
                             ("authenticode", "ca"))
      for v in ("k\0ey", "keys/x\n-rf", "", "x" * 5000, 3, ["a"])],
    # Single-line fields that reach the tools' argv.
    *[(m, k, v) for m, k in (("gpg", "key"), ("ssh", "identity"), ("ssh", "namespace"),
                             ("authenticode", "description"), ("sigstore", "identity"))
      for v in ("A\nB", "x\0y", "x\u2028y", " ", 7, True)],
    # URLs: http(s) with a host, no credentials, no whitespace.
    *[(m, k, v) for m, k in (("authenticode", "timestamp-url"), ("sigstore", "issuer"))
      for v in ("ftp://ts.example", "http://ts.example/\n", "https://", "file:///etc/passwd", "ts.example", 1)],
    # *-env: names of variables, never values.
    *[(m, k, v) for m, k in (("gpg", "passphrase-env"), ("minisign", "passphrase-env"),
                             ("authenticode", "password-env"), ("sigstore", "token-env"))
      for v in ("hunter2 pass", "1ABC", "A-B", "ghp_abcdefabcdef", "", ["X"])],
]


@pytest.mark.parametrize(("method", "key", "value"), SIGN_HOSTILE,
                         ids=[f"{m}.{k}={str(v)[:12]!r}" for m, k, v in SIGN_HOSTILE])
def test_sign_hostile_value_is_one_error_naming_the_key(tmp_path: Path, method: str, key: str, value: Any) -> None:
    message = _refused(tmp_path, {"sign": {method: {key: value}}}, f"sign.{method}.{key}")
    if key.endswith("-env") and isinstance(value, str) and value:
        assert value not in message  # may be the secret pasted in place of its name


def test_sign_url_with_credentials_is_refused_without_echoing_them(tmp_path: Path) -> None:
    for method, key in (("authenticode", "timestamp-url"), ("sigstore", "issuer")):
        message = _refused(tmp_path, {"sign": {method: {key: "https://me:s3cr3t@ts.example/"}}}, f"sign.{method}.{key}")
        assert "s3cr3t" not in message


@pytest.mark.parametrize(("method", "typo", "near"), [
    ("gpg", "pubkey", "public-key"), ("authenticode", "timestamp-uri", "timestamp-url"),
    ("ssh", "allowed-signer", "allowed-signers"), ("sigstore", "isuer", "issuer"), ("minisign", "keyy", "key"),
])
def test_sign_unknown_key_is_refused_with_a_did_you_mean(tmp_path: Path, method: str, typo: str, near: str) -> None:
    message = _refused(tmp_path, {"sign": {method: {typo: "x"}}}, f"sign.{method}.{typo}")
    assert f"did you mean {near!r}" in message


def test_sign_values_are_typed_and_paths_resolved_against_targets_toml(tmp_path: Path) -> None:
    from wavrybuild.config.values import HttpUrl

    cfg = _parse(tmp_path, {"sign": {
        "gpg": {"key": "rel@example.com", "homedir": "gnupg", "passphrase-env": "REL_PW"},
        "minisign": {"key": "/abs/m.key"},
        "authenticode": {"timestamp-url": "http://ts.example/", "description": "Demo"},
        "sigstore": {"identity": "https://github.com/o/n/.github/workflows/r.yml@refs/tags/v1",
                     "issuer": "https://token.actions.githubusercontent.com"},
    }})
    s = cfg.sign
    assert s.gpg.key == "rel@example.com" and isinstance(s.gpg.key, Line)
    assert s.gpg.homedir == (tmp_path / "gnupg").resolve() and s.gpg.passphrase_env == "REL_PW"
    assert s.minisign.key == Path("/abs/m.key") and s.minisign.passphrase_env == "WAVRYBUILD_MINISIGN_PASSPHRASE"
    assert isinstance(s.authenticode.timestamp_url, HttpUrl) and isinstance(s.sigstore.issuer, HttpUrl)
    assert s.sigstore.issuer == "https://token.actions.githubusercontent.com"  # kept as written: compared as is
    assert s.ssh.namespace == "file" and s.ssh.key is None and s.authenticode.pkcs12 is None  # the defaults


def test_sign_env_overrides_enter_the_same_typed_model(tmp_path: Path) -> None:
    """WAVRYBUILD_<METHOD>_<KEY> wins over targets.toml, checked like it; a hostile one names the variable."""
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')

    def parse_with(environ: dict[str, str]) -> Config:
        data = {"targets": {TARGET: {}}, "sign": {"minisign": {"key": "file.key"}}}
        return parse(tmp_path / "targets.toml", data, fake_metadata, Settings.read(environ))

    cfg = parse_with({"WAVRYBUILD_MINISIGN_KEY": "ci/m.key", "WAVRYBUILD_SSH_ALLOWED_SIGNERS": "/etc/allowed",
                      "WAVRYBUILD_AUTHENTICODE_TIMESTAMP_URL": "https://ts.example"})
    assert cfg.sign.minisign.key == (tmp_path / "ci/m.key").resolve()
    assert cfg.sign.ssh.allowed_signers == Path("/etc/allowed")
    assert cfg.sign.authenticode.timestamp_url == "https://ts.example"
    for name, value in (("WAVRYBUILD_GPG_KEY", "A\nB"), ("WAVRYBUILD_MINISIGN_KEY", "k\0"),
                        ("WAVRYBUILD_AUTHENTICODE_TIMESTAMP_URL", "ftp://x"), ("WAVRYBUILD_SSH_NAMESPACE", "a\rb"),
                        ("WAVRYBUILD_MINISIGN_PASSPHRASE_ENV", "not a name")):
        with pytest.raises(ConfigError) as info:
            parse_with({name: value})
        assert info.value.message.startswith(f"{name}: expected"), info.value.message
        assert value not in info.value.message and "\n" not in info.value.message


def test_sign_env_override_one_typo_away_is_refused(tmp_path: Path) -> None:
    """WAVRYBUILD_GPG_KEYS would otherwise be ignored and the file's key used: refused with the
    right name. A name close to no key is left alone (it may be another tool's)."""
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    data = {"targets": {TARGET: {}}, "sign": {"gpg": {"key": "A"}}}
    with pytest.raises(ConfigError) as info:
        parse(tmp_path / "targets.toml", data, fake_metadata, Settings.read({"WAVRYBUILD_GPG_KEYS": "B"}))
    assert info.value.message == ("WAVRYBUILD_GPG_KEYS: not a [sign.gpg] key; did you mean WAVRYBUILD_GPG_KEY?")
    cfg = parse(tmp_path / "targets.toml", data, fake_metadata, Settings.read({"WAVRYBUILD_SSH_AGENT_PID": "42"}))
    assert cfg.sign.gpg.key == "A" and cfg.sign.ssh == type(cfg.sign.ssh)()
