"""Authenticode with osslsigncode: the command, one PE file signed or verified, and a target's
staged Windows binaries signed into dist/.wavrybuild/codesigned/<target>/.

The password reaches osslsigncode through a private 0600 file (-readpass), never argv, and is
scrubbed from errors. A fixed signing time (the release's SOURCE_DATE_EPOCH) and no timestamp
server keep the signed bytes reproducible; each signed copy has a note of what it was signed from
(the unsigned input's digest and the signing settings), so a rerun signs nothing again."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .. import proc
from ..checksum import sha256_file
from ..config import Config
from ..errors import ConfigError, ToolMissing
from ..fsutil import state_dir
from ..proc import Command
from ..record import BinaryRecord
from ..sign.signatures import Secret, secret_file

TOOL = ("osslsigncode", "apt-get install osslsigncode")


def require_tool() -> None:
    if proc.which(TOOL[0]) is None:
        raise ToolMissing(f"signing with authenticode needs {TOOL[0]}, which is not installed", hint=TOOL[1])


def pkcs12(cfg: Config) -> Path:
    """The signing certificate and key ([sign.authenticode] pkcs12 or WAVRYBUILD_AUTHENTICODE_PKCS12)."""
    path = cfg.sign.authenticode.pkcs12
    if path is None:
        raise ConfigError(f"{cfg.project.config_path}: sign.authenticode.pkcs12: not set",
                          hint="set it in targets.toml or in WAVRYBUILD_AUTHENTICODE_PKCS12")
    if not path.exists():
        raise ToolMissing(f"sign.authenticode.pkcs12: {path} does not exist",
                          hint="create the key (see docs/signing.md) or point WAVRYBUILD_AUTHENTICODE_PKCS12 at it")
    return path


def password(cfg: Config) -> Secret:
    return Secret(cfg.sign.authenticode.password_env)


def authenticode_command(cfg: Config, src: Path, out: Path, passfile: Path, signing_time: int) -> Command:
    argv = ["osslsigncode", "sign", "-pkcs12", str(pkcs12(cfg)), "-readpass", str(passfile), "-h", "sha256",
            "-n", cfg.sign.authenticode.description or cfg.project.name,
            # A fixed signing time keeps the signed .exe reproducible (no timestamp server involved).
            "-st", str(signing_time)]
    ts = cfg.sign.authenticode.timestamp_url
    if ts:
        argv += ["-ts", ts]
    argv += ["-in", str(src), "-out", str(out)]
    return Command(tuple(argv))


def authenticode_sign(cfg: Config, src: Path, dest: Path, tmp: Path, signing_time: int) -> None:
    """Sign a PE file into `dest` (atomically: a failure leaves `dest` as it was)."""
    require_tool()
    secret = password(cfg)
    tmp.mkdir(parents=True, exist_ok=True)
    out = tmp / f"{dest.name}.{os.getpid()}.signed"
    out.unlink(missing_ok=True)
    with secret_file(secret.value) as passfile:
        proc.run(authenticode_command(cfg, src, out, passfile, signing_time), secrets=(secret.value,))
    os.chmod(out, 0o755)
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(out, dest)


def verify_authenticode(exe: Path, cfg: Config) -> tuple[bool, str]:
    """(ok, osslsigncode's last line): the signature is intact (and chains to [sign.authenticode] ca)."""
    ca = cfg.sign.authenticode.ca
    argv = ["osslsigncode", "verify", "-in", str(exe)]
    if ca is not None:
        argv += ["-CAfile", str(ca)]
    done = proc.capture_all(argv, timeout=120)
    out = done.text() or (done.error or "")
    lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
    return done.returncode == 0 and "Signature verification: ok" in out, lines[-1] if lines else ""


def settings(cfg: Config, signing_time: int) -> str:
    """What a signature depends on besides the input: the certificate's bytes, the description, the
    timestamp server and the signing time (never the password)."""
    p12 = pkcs12(cfg)
    data = [hashlib.sha256(p12.read_bytes()).hexdigest(), cfg.sign.authenticode.description
            or cfg.project.name, cfg.sign.authenticode.timestamp_url, signing_time]
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()


def signed_path(dist: Path, target: str, binary: BinaryRecord) -> Path:
    return state_dir(dist) / "codesigned" / target / Path(binary.path).name


def _note(dest: Path) -> Path:
    return dest.with_name(dest.name + ".signed-from")


def note_text(src_digest: str, settings_digest: str) -> str:
    return f"{src_digest} {settings_digest}\n"


def is_current(dest: Path, src_digest: str, settings_digest: str) -> bool:
    """The signed copy exists and was signed from these bytes with these settings."""
    note = _note(dest)
    return dest.is_file() and note.is_file() and note.read_text() == note_text(src_digest, settings_digest)


def sign_binary(cfg: Config, src: Path, dest: Path, tmp: Path, signing_time: int, settings_digest: str) -> bool:
    """Sign `src` into `dest` unless `dest` is already its signed copy; True if it signed."""
    digest = sha256_file(src)
    if is_current(dest, digest, settings_digest):
        return False
    _note(dest).unlink(missing_ok=True)  # no note vouches for a copy while it is being replaced
    authenticode_sign(cfg, src, dest, tmp, signing_time)
    _note(dest).write_text(note_text(digest, settings_digest))
    return True
