"""Signing commands are built without secrets in argv."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import write_project
from wavrybuild.codesign.authenticode import authenticode_command
from wavrybuild.config import load
from wavrybuild.sign.signatures import (
    GpgSigner,
    MinisignSigner,
    SshSigner,
)

TOML = """
[project]
crate = "demo"
[targets.x86_64-pc-windows-gnu]
[sign]
methods = ["gpg", "minisign", "ssh", "authenticode"]
[sign.gpg]
key = "0xABCDEF"
homedir = "gnupg"
[sign.minisign]
key = "keys/m.key"
[sign.ssh]
key = "keys/id"
[sign.authenticode]
pkcs12 = "keys/c.p12"
password-env = "MY_P12_PASSWORD"
"""


@pytest.fixture
def cfg(tmp_path: Path):
    write_project(tmp_path, TOML)
    (tmp_path / "keys").mkdir()
    for name in ("m.key", "id", "c.p12"):
        (tmp_path / "keys" / name).write_text("k")
    return load(tmp_path / "targets.toml")


def test_commands_carry_no_secret(cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAVRYBUILD_GPG_PASSPHRASE", "s3cret-value")
    monkeypatch.setenv("MY_P12_PASSWORD", "s3cret-value")
    subject = tmp_path / "SHA256SUMS"
    gpg = GpgSigner().job(subject, tmp_path / "o.asc", cfg)
    assert gpg.command.argv[:2] == ("gpg", "--batch")
    assert "--passphrase-fd" in gpg.command.argv and gpg.command.env["GNUPGHOME"] == str(tmp_path / "gnupg")
    assert gpg.stdin_secret.value == "s3cret-value"
    mini = MinisignSigner().job(subject, tmp_path / "o.minisig", cfg)
    assert mini.command.argv[:4] == ("minisign", "-S", "-s", str(tmp_path / "keys/m.key"))
    ssh = SshSigner().job(subject, tmp_path / "o.sig", cfg)
    assert ssh.command.argv[-1] == "-" and ssh.stdout_is_signature
    code = authenticode_command(cfg, tmp_path / "a.exe", tmp_path / "b.exe", tmp_path / "passfile", 1700000000)
    assert "-readpass" in code.argv and "-st" in code.argv
    for cmd in (gpg.command, mini.command, ssh.command, code):
        assert "s3cret-value" not in " ".join(cmd.argv) and "s3cret-value" not in cmd.display()


def test_sigstore_keyless_needs_an_oidc_identity_and_keeps_the_token_off_argv(tmp_path: Path, monkeypatch) -> None:
    from wavrybuild.sign.signatures import SignError, SigstoreSigner, sigstore_verify_command

    write_project(tmp_path, TOML.replace('"authenticode"]', '"authenticode", "sigstore"]')
                  + '[sign.sigstore]\ntoken-env = "GITLAB_SIGSTORE_TOKEN"\n')
    cfg = load(tmp_path / "targets.toml")
    for name in ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "GITLAB_SIGSTORE_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    sums = tmp_path / "SHA256SUMS"
    # Outside CI: refused with what would make it work.
    with pytest.raises(SignError, match="no OIDC identity") as exc:
        SigstoreSigner().job(sums, tmp_path / "out.sigstore.json", cfg)
    assert "id-token: write" in (exc.value.hint or "")
    # GitLab: the token from `id_tokens:` reaches sigstore as its own variable, masked, never argv.
    monkeypatch.setenv("GITLAB_SIGSTORE_TOKEN", "eyJ-secret-oidc")
    job = SigstoreSigner().job(sums, tmp_path / "out.sigstore.json", cfg)
    assert job.command.argv == ("sigstore", "sign", "--overwrite", "--bundle", str(tmp_path / "out.sigstore.json"),
                                str(sums))
    assert job.command.env == {"SIGSTORE_IDENTITY_TOKEN": "eyJ-secret-oidc"}
    assert "eyJ-secret-oidc" not in job.command.display() and "eyJ-secret-oidc" not in " ".join(job.command.argv)
    # GitHub Actions: the ambient token, which the sigstore CLI fetches itself.
    monkeypatch.delenv("GITLAB_SIGSTORE_TOKEN")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", "https://example.invalid/token")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "x")
    # No child inherits them (env.SecretPolicy): sigstore is given the request URL and token, the token masked.
    github = SigstoreSigner().job(sums, tmp_path / "o.json", cfg).command
    assert github.env == {"ACTIONS_ID_TOKEN_REQUEST_URL": "https://example.invalid/token",
                          "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "x"}
    assert "ACTIONS_ID_TOKEN_REQUEST_TOKEN=***" in github.display() and "=x" not in github.display()
    assert sigstore_verify_command(sums, tmp_path / "b.json", "https://ci/x@refs/tags/v1", "https://issuer")[:3] == [
        "sigstore", "verify", "identity"]
