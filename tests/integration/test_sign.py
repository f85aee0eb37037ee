"""Real signatures with throwaway keys: gpg, minisign, ssh-keygen -Y, osslsigncode (Authenticode).

Each is verified with the same tool a user has, then tampered with and seen to fail. The passphrase
must not appear in any output stream or any file written.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import invoke

PASS = "correct-horse-7f3a9c-battery-staple"  # distinctive, so a leak is found by a plain search
WIN_ZIP = "wavry-demo-0.1.0-x86_64-pc-windows-gnu.zip"


def _run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kw)


@dataclass
class Keys:
    dir: Path
    gnupghome: Path
    gpg_fpr: str
    other_gpg_pub: Path


def _gen_gpg(home: Path, uid: str) -> str:
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    done = _run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", PASS, "--quick-gen-key",
                 uid, "ed25519", "sign", "never"], env=env)
    assert done.returncode == 0, done.stderr
    out = _run(["gpg", "--batch", "--with-colons", "--list-secret-keys"], env=env).stdout
    return next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    d = tmp_path_factory.mktemp("keys")
    home = d / "gnupg"
    fpr = _gen_gpg(home, "Wavry Release <release@example.invalid>")
    env = {**os.environ, "GNUPGHOME": str(home)}
    (d / "gpg.pub.asc").write_text(_run(["gpg", "--batch", "--armor", "--export", fpr], env=env).stdout)
    other = d / "other-gnupg"
    other_fpr = _gen_gpg(other, "Somebody Else <else@example.invalid>")
    (d / "other.pub.asc").write_text(_run(["gpg", "--batch", "--armor", "--export", other_fpr],
                                          env={**os.environ, "GNUPGHOME": str(other)}).stdout)
    # minisign reads the new key's password twice from stdin.
    done = subprocess.run(["minisign", "-G", "-p", str(d / "minisign.pub"), "-s", str(d / "minisign.key")],
                          input=f"{PASS}\n{PASS}\n", capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "release@example.invalid",
                 "-f", str(d / "ssh_release")]).returncode == 0
    (d / "allowed_signers").write_text(f"release@example.invalid {(d / 'ssh_release.pub').read_text()}")
    # A self-signed code-signing certificate in a PKCS#12 file protected by the passphrase.
    assert _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                 "-keyout", str(d / "code.key"), "-out", str(d / "code.pem"),
                 "-subj", "/CN=Wavry Test Code Signing", "-addext", "extendedKeyUsage=codeSigning"]).returncode == 0
    done = _run(["openssl", "pkcs12", "-export", "-in", str(d / "code.pem"), "-inkey", str(d / "code.key"),
                 "-out", str(d / "code.p12"), "-passout", "env:P12_PASS"], env={**os.environ, "P12_PASS": PASS})
    assert done.returncode == 0, done.stderr
    return Keys(d, home, fpr, d / "other.pub.asc")


def _sign_section(k: Keys, gpg_pub: Path | None = None) -> str:
    return f"""
[sign]
methods = ["gpg", "minisign", "ssh", "authenticode"]
artifacts = true

[sign.gpg]
key = "{k.gpg_fpr}"
homedir = "{k.gnupghome}"
public-key = "{gpg_pub or k.dir / 'gpg.pub.asc'}"

[sign.minisign]
key = "{k.dir / 'minisign.key'}"
public-key = "{k.dir / 'minisign.pub'}"

[sign.ssh]
key = "{k.dir / 'ssh_release'}"
allowed-signers = "{k.dir / 'allowed_signers'}"
identity = "release@example.invalid"

[sign.authenticode]
pkcs12 = "{k.dir / 'code.p12'}"
ca = "{k.dir / 'code.pem'}"
"""


SECRET_ENV = {"WAVRYBUILD_GPG_PASSPHRASE": PASS, "WAVRYBUILD_MINISIGN_PASSPHRASE": PASS,
              "WAVRYBUILD_AUTHENTICODE_PASSWORD": PASS}


@dataclass
class Signed:
    root: Path
    env: dict[str, str]
    outputs: list[str]


@pytest.fixture(scope="session")
def signed(packaged, keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Signed:
    root = tmp_path_factory.mktemp("signed") / "p"
    shutil.copytree(packaged.root, root)
    (root / "targets.toml").write_text((root / "targets.toml").read_text() + _sign_section(keys))
    env = {**packaged.env, **SECRET_ENV}
    outputs = []
    for task in ("codesign", "package", "checksum", "sign", "verify"):
        done = invoke(task, cwd=root, env=env)
        outputs += [done.stdout, done.stderr]
        assert done.returncode == 0, f"{task}:\n{done.stdout}\n{done.stderr}"
    return Signed(root, env, outputs)


def test_signatures_verify_with_the_users_tools(signed, keys: Keys) -> None:
    dist = signed.root / "dist"
    gpg = _run(["gpg", "--batch", "--verify", "SHA256SUMS.asc", "SHA256SUMS"], cwd=dist,
               env={**os.environ, "GNUPGHOME": str(keys.gnupghome)})
    assert gpg.returncode == 0 and "Good signature" in gpg.stderr, gpg.stderr
    mini = _run(["minisign", "-V", "-p", str(keys.dir / "minisign.pub"), "-m", "SHA256SUMS"], cwd=dist)
    assert mini.returncode == 0 and "Signature and comment signature verified" in mini.stdout, mini.stdout + mini.stderr
    with (dist / "SHA256SUMS").open("rb") as data:
        ssh = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(keys.dir / "allowed_signers"),
                              "-I", "release@example.invalid", "-n", "file", "-s", str(dist / "SHA256SUMS.sig")],
                             stdin=data, capture_output=True, text=True, check=False)
    assert ssh.returncode == 0 and "Good \"file\" signature" in ssh.stdout, ssh.stdout + ssh.stderr
    # Every artifact is signed too ([sign] artifacts = true).
    manifest = json.loads((dist / "manifest.json").read_text())
    for a in manifest["artifacts"]:
        for suffix in (".asc", ".minisig", ".sig"):
            assert (dist / (a["path"] + suffix)).is_file()
    methods = {(s["method"], s["signs"]) for s in manifest["signatures"]}
    assert ("gpg", "SHA256SUMS") in methods and ("minisign", "SHA256SUMS") in methods
    assert len(manifest["signatures"]) == 3 * (1 + len(manifest["artifacts"]))


def test_authenticode_signed_exe_is_in_the_archive(signed, keys: Keys, tmp_path: Path) -> None:
    dist = signed.root / "dist"
    manifest = json.loads((dist / "manifest.json").read_text())
    win = next(a for a in manifest["artifacts"] if a["path"] == WIN_ZIP)
    assert win["authenticode"] is True
    with zipfile.ZipFile(dist / WIN_ZIP) as zf:
        exe = tmp_path / "wavry-demo.exe"
        exe.write_bytes(zf.read("wavry-demo-0.1.0-x86_64-pc-windows-gnu/wavry-demo.exe"))
    done = _run(["osslsigncode", "verify", "-in", str(exe), "-CAfile", str(keys.dir / "code.pem")])
    assert done.returncode == 0 and "Signature verification: ok" in done.stdout, done.stdout + done.stderr
    # Tampered after signing: the Authenticode digest no longer matches.
    data = bytearray(exe.read_bytes())
    data[0x400] ^= 0xFF
    exe.write_bytes(bytes(data))
    assert _run(["osslsigncode", "verify", "-in", str(exe), "-CAfile", str(keys.dir / "code.pem")]).returncode != 0


def test_passphrase_never_leaks(signed, keys: Keys) -> None:
    for text in signed.outputs:
        assert PASS not in text
    for path in signed.root.rglob("*"):
        if path.is_file():
            assert PASS.encode() not in path.read_bytes(), f"passphrase written to {path}"
    # Under GitHub Actions the value is masked for the runner, and appears only in that command.
    root = signed.root
    (root / "dist/SHA256SUMS").unlink()
    for task in ("checksum", "sign"):
        done = invoke(task, cwd=root, env={**signed.env, "GITHUB_ACTIONS": "true"})
        assert done.returncode == 0, done.stderr
        leaks = [ln for ln in (done.stdout + done.stderr).splitlines() if PASS in ln]
        assert all(ln == f"::add-mask::{PASS}" for ln in leaks), leaks
        if task == "sign":
            assert leaks, "the passphrase must be masked for the runner"


def _copy(signed, tmp_path: Path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(signed.root, root)
    return root


def _verify(root: Path, signed) -> subprocess.CompletedProcess:
    return invoke("verify", cwd=root, env=signed.env)


def test_tampered_artifact_fails(signed, tmp_path: Path) -> None:
    root = _copy(signed, tmp_path)
    victim = root / "dist/wavry-demo-0.1.0-aarch64-unknown-linux-gnu.tar.gz"
    data = bytearray(victim.read_bytes())
    data[100] ^= 1
    victim.write_bytes(bytes(data))
    done = _verify(root, signed)
    assert done.returncode == 1
    assert "wavry-demo-0.1.0-aarch64-unknown-linux-gnu.tar.gz (mismatch)" in done.stderr
    assert "wavry-demo-0.1.0-aarch64-unknown-linux-gnu.tar.gz.asc (bad-signature)" in done.stderr
    assert "wavry-demo-0.1.0-aarch64-unknown-linux-gnu.tar.gz.minisig (bad-signature)" in done.stderr
    assert "wavry-demo-0.1.0-aarch64-unknown-linux-gnu.tar.gz.sig (bad-signature)" in done.stderr


def test_tampered_sums_fails(signed, tmp_path: Path) -> None:
    root = _copy(signed, tmp_path)
    sums = root / "dist/SHA256SUMS"
    lines = sums.read_text().splitlines(keepends=True)
    lines.pop()  # drop one artifact from the list: still well-formed, but not what was signed
    sums.write_text("".join(lines))
    done = _verify(root, signed)
    assert done.returncode == 1
    for sig in ("SHA256SUMS.asc", "SHA256SUMS.minisig", "SHA256SUMS.sig"):
        assert f"{sig} (bad-signature)" in done.stderr


def test_missing_signature_fails(signed, tmp_path: Path) -> None:
    root = _copy(signed, tmp_path)
    (root / "dist/SHA256SUMS.minisig").unlink()
    done = _verify(root, signed)
    assert done.returncode == 1 and "SHA256SUMS.minisig (missing-signature)" in done.stderr


def test_wrong_key_fails(signed, keys: Keys, tmp_path: Path) -> None:
    root = _copy(signed, tmp_path)
    toml = (root / "targets.toml").read_text().replace(str(keys.dir / "gpg.pub.asc"), str(keys.other_gpg_pub))
    (root / "targets.toml").write_text(toml)
    done = _verify(root, signed)
    assert done.returncode == 1 and "SHA256SUMS.asc (bad-signature)" in done.stderr
    assert "SHA256SUMS.minisig (bad-signature)" not in done.stderr


def test_missing_key_is_clear_and_signs_nothing(signed, keys: Keys, tmp_path: Path) -> None:
    root = _copy(signed, tmp_path)
    dist = root / "dist"
    for sig in dist.glob("*.minisig"):
        sig.unlink()
    for sig in dist.glob("*.asc"):
        sig.unlink()
    before = sorted(p.name for p in dist.iterdir())
    toml = (root / "targets.toml").read_text().replace(str(keys.dir / "minisign.key"), str(keys.dir / "nope.key"))
    (root / "targets.toml").write_text(toml)
    done = invoke("sign", cwd=root, env=signed.env)
    assert done.returncode == 3
    assert f"sign.minisign.key: {keys.dir / 'nope.key'} does not exist" in done.stderr
    # gpg runs before minisign in the plan, yet no .asc appeared: nothing half-signed.
    assert sorted(p.name for p in dist.iterdir()) == before
    assert PASS not in done.stdout + done.stderr


def test_wrong_passphrase_fails_and_leaves_nothing_half_signed(signed, tmp_path: Path) -> None:
    root = _copy(signed, tmp_path)
    dist = root / "dist"
    for suffix in ("*.asc", "*.minisig", "*.sig"):
        for sig in dist.glob(suffix):
            sig.unlink()
    before = sorted(p.name for p in dist.iterdir())
    env = {**signed.env, "WAVRYBUILD_MINISIGN_PASSPHRASE": "wrong-" + PASS}
    done = invoke("sign", cwd=root, env=env)
    assert done.returncode == 1
    assert "minisign" in done.stderr and PASS not in done.stdout + done.stderr
    # gpg signed successfully before minisign failed, but none of its signatures entered dist/.
    assert sorted(p.name for p in dist.iterdir()) == before
