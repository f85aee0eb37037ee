"""Fail before the build (issue 30 item 8): what a release's stages need — programs, credentials'
variables, key files, the gpg secret key — one problem line each, checked by `invoke release` (and
--dry) and `invoke doctor` before anything runs. Real lookups (PATH, the environment, files, a gpg
keyring made here) next to injected ones for the message of each kind."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_pipeline import Recorder, fake_metadata
from wavrybuild import snapshot as sn
from wavrybuild.config import Config, parse
from wavrybuild.env import Settings
from wavrybuild.pipeline import requirements as rq
from wavrybuild.pipeline.stage import Run
from wavrybuild.release import release, release_stages, requirement_problems

NOTHING = rq.Checker(which=lambda _p: None, variable=lambda _n: "", exists=lambda _p: False,
                     has_gpg_key=lambda _k, _h: False)
EVERYTHING = rq.Checker(which=lambda p: f"/usr/bin/{p}", variable=lambda _n: "x", exists=lambda _p: True,
                        has_gpg_key=lambda _k, _h: True)


# --- one problem line per kind --------------------------------------------------------------------------

@pytest.mark.parametrize(("req", "line"), [
    (rq.Tool("createrepo_c", "channels.rpm.repository", "apt-get install createrepo-c"),
     "channels.rpm.repository: needs createrepo_c, which is not installed — apt-get install createrepo-c"),
    (rq.EnvVar("GITHUB_TOKEN", "publish.github.token-env"),
     "publish.github.token-env: environment variable GITHUB_TOKEN is not set (or empty) — export GITHUB_TOKEN with "
     "the credential, or name another variable in publish.github.token-env"),
    (rq.KeyFile(None, "sign.minisign.key", "create the key"), "sign.minisign.key: not set — create the key"),
    (rq.KeyFile(Path("/k/minisign.key"), "sign.minisign.key"),
     "sign.minisign.key: /k/minisign.key does not exist (or is not a file) — create it, or point sign.minisign.key "
     "at it"),
    (rq.GpgKey(None, None), "sign.gpg.key: not set — the key id, fingerprint or e-mail of the signing key "
                            "(or WAVRYBUILD_GPG_KEY)"),
    (rq.GpgKey("ABCD", None), "sign.gpg.key: needs gpg, which is not installed — apt-get install gnupg"),
    (rq.AnyOf((rq.EnvVar("PYPI_TOKEN", "publish.pypi.token-env"),), "publish.pypi.token-env", "export PYPI_TOKEN"),
     "publish.pypi.token-env: no credential — export PYPI_TOKEN"),
])
def test_each_kind_missing_is_one_line_naming_its_key_and_the_fix(req: rq.Requirement, line: str) -> None:
    assert rq.missing([req], NOTHING) == [p := NOTHING.problem(req)] and p is not None
    assert p.line() == line and "\n" not in p.line()
    unset = isinstance(req, rq.KeyFile | rq.GpgKey) and (req.path if isinstance(req, rq.KeyFile) else req.key) is None
    assert rq.missing([req], EVERYTHING) == ([p] if unset else [])  # a key not set is missing on any machine


def test_gpg_found_but_without_the_key_names_the_keyring() -> None:
    checker = rq.Checker(which=lambda p: p, has_gpg_key=lambda _k, _h: False)
    (p,) = rq.missing([rq.GpgKey("ABCD", Path("/keys"))], checker)
    assert p.line().startswith("sign.gpg.key: no secret key 'ABCD' in the keyring in /keys — import it")


def test_one_of_several_credentials_is_enough_and_duplicates_are_said_once() -> None:
    token, oidc = rq.EnvVar("PYPI_TOKEN", "publish.pypi.token-env"), rq.EnvVar("PYPI_ID_TOKEN", "x")
    checker = rq.Checker(variable=lambda n: "t" if n == "PYPI_ID_TOKEN" else "")
    assert rq.missing([rq.AnyOf((token, oidc), "publish.pypi.token-env", "h")], checker) == []
    tool = rq.Tool("gpg", "k", "apt-get install gnupg")
    assert len(rq.missing([tool, tool, rq.Tool("gpg", "k", "apt-get install gnupg")], NOTHING)) == 1


# --- the real lookups -----------------------------------------------------------------------------------

def test_real_lookups_path_environment_and_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAVRY_TEST_SECRET", "s3cr3t-value")
    monkeypatch.delenv("WAVRY_TEST_UNSET", raising=False)
    key = tmp_path / "minisign.key"
    key.write_text("k")
    (tmp_path / "dir.key").mkdir()
    problems = rq.missing([rq.Tool("sh", "a", "b"), rq.Tool("wavry-no-such-program", "x.y", "install it"),
                           rq.EnvVar("WAVRY_TEST_SECRET", "publish.http.token-env"),
                           rq.EnvVar("WAVRY_TEST_UNSET", "publish.http.token-env"),
                           rq.KeyFile(key, "sign.minisign.key"), rq.KeyFile(tmp_path / "dir.key", "sign.ssh.key")])
    assert [p.key for p in problems] == ["x.y", "publish.http.token-env", "sign.ssh.key"]
    assert "WAVRY_TEST_UNSET" in problems[1].what
    assert all("s3cr3t" not in p.line() for p in problems)  # a value is never read into a message


def _gpg_home(tmp_path: Path) -> Path:
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    return home


def test_a_gpg_key_is_looked_up_in_the_real_keyring(tmp_path: Path) -> None:
    home = _gpg_home(tmp_path)
    env = {**os.environ, "GNUPGHOME": str(home)}
    (p,) = rq.missing([rq.GpgKey("release@example.invalid", home)])
    assert "no secret key 'release@example.invalid'" in p.what
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Release <release@example.invalid>",
                    "ed25519", "sign", "never"], env=env, check=True, capture_output=True)
    assert rq.missing([rq.GpgKey("release@example.invalid", home)]) == []
    assert rq.missing([rq.GpgKey("other@example.invalid", home)])  # another key: still missing


# --- what the stages of a release ask for ---------------------------------------------------------------

def load(root: Path, data: dict[str, Any]) -> Config:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    return parse(root / "targets.toml", {"targets": {"x86_64-unknown-linux-gnu": {}}, **data}, fake_metadata,
                 Settings())


def needs(cfg: Config, *, publish: bool = True) -> list[rq.Requirement]:
    return rq.of_stages(Run(cfg, Recorder(), cfg.targets), release_stages(part=False, no_publish=not publish))


def test_publish_destinations_need_their_tokens(tmp_path: Path) -> None:
    cfg = load(tmp_path, {"publish": {"github": {"repo": "o/demo", "token-env": "GH_RELEASE_TOKEN"},
                                      "http": {"url": "https://h.example/{name}/", "user-env": "U", "password-env": "P"},
                                      "pypi": {"trusted-publishing": False},
                                      "directory": {"path": str(tmp_path / "out")}},
                          "channels": {"pypi": {"name": "demo"}}})
    got = needs(cfg)
    assert rq.EnvVar("GH_RELEASE_TOKEN", "publish.github.token-env") in got
    assert rq.EnvVar("U", "publish.http.user-env") in got and rq.EnvVar("P", "publish.http.password-env") in got
    assert rq.EnvVar("PYPI_TOKEN", "publish.pypi.token-env") in got
    assert not [r for r in needs(cfg, publish=False) if isinstance(r, rq.EnvVar | rq.AnyOf)]  # nothing published


def test_trusted_publishing_makes_the_pypi_token_one_of_several(tmp_path: Path) -> None:
    cfg = load(tmp_path, {"publish": {"pypi": {}}, "channels": {"pypi": {"name": "demo"}}})
    (anyof,) = [r for r in needs(cfg) if isinstance(r, rq.AnyOf)]
    assert rq.EnvVar("PYPI_TOKEN", "publish.pypi.token-env") in anyof.options
    assert rq.EnvVar("PYPI_ID_TOKEN", "publish.pypi.id-token-env") in anyof.options


def test_signing_and_repositories_need_their_programs_and_keys(tmp_path: Path) -> None:
    cfg = load(tmp_path, {"sign": {"methods": ["gpg", "minisign"], "gpg": {"key": "release@example.invalid"}},
                          "channels": {"deb": {"maintainer": "A <a@example.invalid>", "repository": True},
                                       "rpm": {"maintainer": "A <a@example.invalid>", "repository": True}}})
    got = needs(cfg)
    assert rq.GpgKey("release@example.invalid", None) in got
    assert rq.Tool("minisign", "sign.methods: minisign", "apt-get install minisign (or https://jedisct1.github.io/"
                                                         "minisign/)") in got
    assert any(isinstance(r, rq.KeyFile) and r.key == "sign.minisign.key" and r.path is None for r in got)
    assert {r.program for r in got if isinstance(r, rq.Tool)} >= {"nfpm", "apt-ftparchive", "createrepo_c"}


def test_the_release_stops_before_any_stage_with_one_line_per_problem(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GH_RELEASE_TOKEN", raising=False)
    monkeypatch.delenv("NPM_TOKEN", raising=False)
    cfg = load(tmp_path, {"publish": {"github": {"repo": "o/demo", "token-env": "GH_RELEASE_TOKEN"}},
                          "sign": {"methods": ["minisign"], "minisign": {"key": "nope.key"}}})
    for dry in (False, True):
        ui = Recorder()
        with pytest.raises(rq.RequirementsMissing) as info:
            release(Run(cfg, ui, cfg.targets, dry=dry))
        lines = info.value.message.splitlines()
        assert lines[0] == "the release cannot run here: 2 missing (checked before building)"
        assert lines[1].startswith(f"  - sign.minisign.key: {tmp_path / 'nope.key'} does not exist")
        assert lines[2].startswith("  - publish.github.token-env: environment variable GH_RELEASE_TOKEN is not set")
        assert info.value.exit_code == 2 and not ui.tables and not any(k == "group" for k, _ in ui.lines)
        assert not (tmp_path / "dist").exists()
    # A snapshot publishes nothing: its missing token is no problem, the key still is.
    ui = Recorder()
    with pytest.raises(rq.RequirementsMissing) as info:
        release(Run(cfg, ui, cfg.targets), snapshot=sn.Snapshot("not a git checkout"))
    assert "GH_RELEASE_TOKEN" not in str(info.value) and "sign.minisign.key" in str(info.value)
    assert ui.lines[0] == ("warn", "snapshot: not published (why: not a git checkout): demo 1.2.3 is built as a "
                                   "snapshot; release from the tag, or pass --publish-untagged to publish anyway")


def test_doctor_leaves_publish_credentials_out_for_a_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GH_RELEASE_TOKEN", raising=False)
    monkeypatch.delenv(sn.ENV, raising=False)
    cfg = load(tmp_path, {"publish": {"github": {"repo": "o/demo", "token-env": "GH_RELEASE_TOKEN"}}})
    snap, problems = requirement_problems(Run(cfg, Recorder(), cfg.targets))  # not a git checkout
    assert snap == sn.Snapshot("not a git checkout") and problems == []
    monkeypatch.setenv(sn.ENV, "1")
    snap, problems = requirement_problems(Run(cfg, Recorder(), cfg.targets))
    assert snap is None and [p.key for p in problems] == ["publish.github.token-env"]
