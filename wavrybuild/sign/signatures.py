"""Signing: detached signatures over SHA256SUMS (and artifacts); the secret file osslsigncode and
rcodesign read a password from (Authenticode itself is codesign/authenticode.py).

Signers are strategy objects that only build commands; secrets reach the tools on stdin or through a
private 0600 file that is removed afterwards, never through argv, and are scrubbed from errors.
Everything is written under dist/.wavrybuild/tmp first and renamed into dist/ only when every
signature of the run succeeded: a failure leaves nothing half-signed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .. import env as env_
from .. import proc
from ..config import Config, SignConfig
from ..errors import ConfigError, ToolMissing, WavryError
from ..pipeline.requirements import GpgKey, KeyFile, Requirement, Tool
from ..proc import Command

SUFFIX = {"gpg": ".asc", "minisign": ".minisig", "ssh": ".sig", "sigstore": ".sigstore.json"}
TOOLS = {
    "gpg": ("gpg", "apt-get install gnupg (or your OS's GnuPG)"),
    "minisign": ("minisign", "apt-get install minisign (or https://jedisct1.github.io/minisign/)"),
    "ssh": ("ssh-keygen", "apt-get install openssh-client"),
    "sigstore": ("sigstore", "pip install sigstore"),
}


class SignError(WavryError):
    exit_code = 1


@dataclass(frozen=True)
class Secret:
    """A secret by the name of the env var that holds it. Its value is read only when needed."""

    env: str | None

    @property
    def value(self) -> str:
        return env_.secret_value(self.env) if self.env else ""


@dataclass(frozen=True)
class SignJob:
    """One signature: sign `subject`, and put the signature at `output` (in dist/)."""

    method: str
    subject: Path
    output: Path
    command: Command
    stdin_secret: Secret | None = None  # fed on stdin, followed by a newline
    stdout_is_signature: bool = False  # the tool prints the signature instead of writing a file
    signer: str = ""  # public description of the key, for the manifest


def _require_tool(method: str) -> None:
    program, hint = TOOLS[method]
    if proc.which(program) is None:
        raise ToolMissing(f"signing with {method} needs {program}, which is not installed", hint=hint)


def _require_file(method: str, key: str, path: Path | None, cfg_path: Path) -> Path:
    if path is None:
        raise ConfigError(
            f"{cfg_path}: sign.{method}.{key}: not set",
            hint=f"set it in targets.toml or in WAVRYBUILD_{method.upper()}_{key.upper().replace('-', '_')}",
        )
    if not path.exists():
        raise ToolMissing(f"sign.{method}.{key}: {path} does not exist",
                          hint=f"create the key (see docs/signing.md) or point WAVRYBUILD_{method.upper()}_"
                          f"{key.upper().replace('-', '_')} at it")
    return path


class Signer(Protocol):
    method: str

    def job(self, subject: Path, output_tmp: Path, cfg: Config) -> SignJob: ...


@dataclass(frozen=True)
class GpgIdentity:
    """The release's gpg key: which key, which keyring (env), and where its passphrase is."""

    key: str
    env: dict[str, str]
    passphrase: Secret


def gpg_identity(cfg: Config) -> GpgIdentity:
    sign = cfg.sign
    key = sign.gpg.key
    if not key:
        raise ConfigError(f"{cfg.project.config_path}: sign.gpg.key: not set",
                          hint="the key id, fingerprint or email of the signing key (or WAVRYBUILD_GPG_KEY)")
    env = {}
    home = sign.gpg.homedir
    if home:
        env["GNUPGHOME"] = str(home)
    return GpgIdentity(key, env, Secret(sign.gpg.passphrase_env))


class GpgSigner:
    method = "gpg"

    def job(self, subject: Path, output_tmp: Path, cfg: Config) -> SignJob:
        gpg = gpg_identity(cfg)
        argv = ("gpg", "--batch", "--yes", "--no-tty", "--pinentry-mode", "loopback", "--passphrase-fd", "0",
                "--local-user", gpg.key, "--armor", "--detach-sign", "--output", str(output_tmp), str(subject))
        return SignJob("gpg", subject, output_tmp, Command(argv, gpg.env), stdin_secret=gpg.passphrase,
                       signer=f"gpg:{gpg.key}")


class MinisignSigner:
    method = "minisign"

    def job(self, subject: Path, output_tmp: Path, cfg: Config) -> SignJob:
        key = _require_file("minisign", "key", cfg.sign.minisign.key,
                            cfg.project.config_path)
        # A fixed trusted comment (no timestamp): Ed25519 is deterministic, so the signature is too.
        comment = f"file:{subject.name} {cfg.project.name} {cfg.project.version}"
        argv = ("minisign", "-S", "-s", str(key), "-m", str(subject), "-x", str(output_tmp), "-t", comment)
        pub = cfg.sign.minisign.public_key
        return SignJob("minisign", subject, output_tmp, Command(argv),
                       stdin_secret=Secret(cfg.sign.minisign.passphrase_env),
                       signer=f"minisign:{pub.read_text().splitlines()[-1].strip() if pub and pub.exists() else key.name}")


class SshSigner:
    method = "ssh"

    def job(self, subject: Path, output_tmp: Path, cfg: Config) -> SignJob:
        key = _require_file("ssh", "key", cfg.sign.ssh.key, cfg.project.config_path)
        ns = cfg.sign.ssh.namespace
        # "-" reads the data from stdin and prints the signature: nothing is written beside the input.
        argv = ("ssh-keygen", "-Y", "sign", "-f", str(key), "-n", ns, "-")
        return SignJob("ssh", subject, output_tmp, Command(argv), stdout_is_signature=True,
                       signer=f"ssh:{cfg.sign.ssh.identity or key.name}")


# What a GitHub Actions job with `id-token: write` has, and the sigstore CLI fetches its identity with.
GITHUB_OIDC = ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN")


def oidc_available(token_env: str | None) -> bool:
    """An identity Sigstore can use: GitHub Actions' ambient OIDC (a job with `id-token: write`),
    or a token in `token_env` (GitLab's `id_tokens:`, any other CI)."""
    return bool((token_env and env_.secret_value(token_env))
                or (env_.var("ACTIONS_ID_TOKEN_REQUEST_URL") and env_.var("ACTIONS_ID_TOKEN_REQUEST_TOKEN")))


class SigstoreSigner:
    """Keyless signing: a short-lived Fulcio certificate for the CI's OIDC identity, logged in Rekor;
    the bundle (.sigstore.json) holds signature, certificate and log entry. The token reaches the
    sigstore CLI through its environment (SIGSTORE_IDENTITY_TOKEN), never argv."""

    method = "sigstore"

    def job(self, subject: Path, output_tmp: Path, cfg: Config) -> SignJob:
        token_env = cfg.sign.sigstore.token_env
        if not oidc_available(token_env):
            raise SignError("sigstore: no OIDC identity here to sign with",
                            hint="run it in CI: GitHub Actions with `permissions: id-token: write`, or put an OIDC "
                                 f"token for audience `sigstore` in ${token_env} (GitLab: `id_tokens:`)")
        # No child inherits a token (env.SecretPolicy): the one sigstore signs with is given to it,
        # and on GitHub Actions the request token it fetches the ambient identity with.
        env = {}
        if token_env and env_.secret_value(token_env):
            env["SIGSTORE_IDENTITY_TOKEN"] = env_.secret_value(token_env)
        for name in GITHUB_OIDC:  # the URL too: its name says TOKEN, so the policy withholds it
            if env_.secret_value(name):
                env[name] = env_.secret_value(name)
        argv = ("sigstore", "sign", "--overwrite", "--bundle", str(output_tmp), str(subject))
        return SignJob("sigstore", subject, output_tmp, Command(argv, env, secret_env=frozenset(env)),
                       signer=f"sigstore:{cfg.sign.sigstore.identity or 'the CI identity'}")


SIGNERS: dict[str, Signer] = {"gpg": GpgSigner(), "minisign": MinisignSigner(), "ssh": SshSigner(),
                              "sigstore": SigstoreSigner()}


def detached_methods(sign: SignConfig, only: tuple[str, ...] = ()) -> list[str]:
    methods = only or sign.methods
    return [m for m in methods if m in SIGNERS]


def requirements(cfg: Config, methods: list[str]) -> list[Requirement]:
    """What signing with `methods` needs, checked before a release builds (pipeline/requirements.py)."""
    out: list[Requirement] = []
    keys = {"minisign": cfg.sign.minisign.key, "ssh": cfg.sign.ssh.key}
    for m in methods:
        if m == "gpg":
            out.append(GpgKey(str(cfg.sign.gpg.key) if cfg.sign.gpg.key else None, cfg.sign.gpg.homedir))
            continue
        program, hint = TOOLS[m]
        out.append(Tool(program, f"sign.methods: {m}", hint))
        if m in keys:
            env = f"WAVRYBUILD_{m.upper()}_KEY"
            out.append(KeyFile(keys[m], f"sign.{m}.key", f"create the key (docs/signing.md) and set sign.{m}.key or {env}"))
    return out


def plan(cfg: Config, dist: Path, subjects: list[Path], tmp: Path, only: tuple[str, ...] = ()) -> list[SignJob]:
    jobs = []
    for method in detached_methods(cfg.sign, only):
        _require_tool(method)
        for subject in subjects:
            out = tmp / (subject.name + SUFFIX[method])
            jobs.append(SIGNERS[method].job(subject, out, cfg))
    return jobs


def run_job(job: SignJob) -> None:
    secret = job.stdin_secret.value if job.stdin_secret else ""
    if job.stdout_is_signature:
        data = job.subject.read_bytes()
        result = proc.run(job.command, stdin_data=data, secrets=(secret,))
        job.output.write_text(result.stdout)
    else:
        stdin = (secret + "\n").encode() if job.stdin_secret else None
        proc.run(job.command, stdin_data=stdin, secrets=(secret,))
    if not job.output.is_file() or job.output.stat().st_size == 0:
        raise SignError(f"{job.method}: no signature was produced for {job.subject.name}")


# --- secrets a tool reads from a file -----------------------------------------------------------


@contextlib.contextmanager
def secret_file(value: str) -> Iterator[Path]:
    """A 0600 file holding a secret, in a private directory, removed afterwards (osslsigncode -readpass)."""
    d = Path(tempfile.mkdtemp(prefix="wavrybuild-secret-"))
    path = d / "pass"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, value.encode())
        os.close(fd)
        yield path
    finally:
        shutil.rmtree(d, ignore_errors=True)


# --- verification with the tools users have -----------------------------------------------------


def _quiet(argv: list[str], *, env: dict[str, str] | None = None, stdin: bytes | None = None) -> tuple[int, str]:
    done = proc.capture_all(argv, env=env, stdin=stdin, timeout=120)
    return (done.returncode if done.returncode is not None else 127), done.text() or (done.error or "")


def _gpg_signer_is(key: str, status: str, env: dict[str, str]) -> bool:
    """Whether the key that made a good signature is exactly `key`: a fingerprint or key id (the
    end of the signing or primary key's fingerprint), or one of its user ids in full, or the
    e-mail address of one (never a substring: notrel@example.com is not rel@example.com)."""
    fprs = []
    for line in status.splitlines():
        parts = line.split()
        if parts[:2] == ["[GNUPG:]", "VALIDSIG"] and len(parts) > 2:
            fprs += [parts[2], parts[-1]]  # the signing (sub)key and its primary key
    want = key.replace(" ", "").upper().removeprefix("0X")
    if re.fullmatch(r"[0-9A-F]{8,40}", want):
        return any(f.upper().endswith(want) for f in fprs)
    if not fprs:
        return False
    listed = proc.capture_all(["gpg", "--batch", "--with-colons", "--list-keys", fprs[-1]], env=env)
    for line in listed.stdout.decode(errors="replace").splitlines():
        fields = line.split(":")
        if fields[0] != "uid" or len(fields) < 10:
            continue
        uid = fields[9]
        email = re.search(r"<([^<>]+)>\s*$", uid)
        if uid == key or (email and email.group(1).lower() == key.strip("<>").lower()):
            return True
    return False


def verify_detached(method: str, subject: Path, sig: Path, cfg: Config) -> tuple[bool, str]:
    """(ok, what the tool said) for one detached signature, checked against the configured public key."""
    sign = cfg.sign
    if method == "gpg":
        pub = sign.gpg.public_key
        with tempfile.TemporaryDirectory(prefix="wavrybuild-gpg-") as home:
            if pub is not None:
                if not pub.exists():
                    return False, f"public key {pub} does not exist"
                # A throwaway keyring holding only the release key: no other key can pass.
                _quiet(["gpg", "--homedir", home, "--batch", "--import", str(pub)])
                env = {"GNUPGHOME": home}
            else:
                homedir = sign.gpg.homedir
                env = {"GNUPGHOME": str(homedir)} if homedir else {}
            code, out = _quiet(["gpg", "--batch", "--status-fd", "1", "--verify", str(sig), str(subject)], env=env)
            key = sign.gpg.key or ""
            good = code == 0 and "[GNUPG:] VALIDSIG" in out
            if good and pub is None and key and not _gpg_signer_is(key, out, env):
                return False, f"signed by another key than {key}"
        return good, _last_line(out)
    if method == "minisign":
        pub = sign.minisign.public_key
        if pub is None or not pub.exists():
            return False, "sign.minisign.public-key is not set or missing"
        code, out = _quiet(["minisign", "-V", "-p", str(pub), "-m", str(subject), "-x", str(sig)])
        return code == 0, _last_line(out)
    if method == "ssh":
        allowed = sign.ssh.allowed_signers
        identity = sign.ssh.identity
        if allowed is None or not allowed.exists() or not identity:
            return False, "sign.ssh.allowed-signers and sign.ssh.identity are needed to verify"
        code, out = _quiet(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", identity,
                            "-n", sign.ssh.namespace, "-s", str(sig)], stdin=subject.read_bytes())
        return code == 0, _last_line(out)
    if method == "sigstore":
        return verify_sigstore(subject, sig, cfg)
    raise ValueError(method)


def sigstore_verify_command(subject: Path, bundle: Path, identity: str, issuer: str) -> list[str]:
    return ["sigstore", "verify", "identity", "--bundle", str(bundle), "--cert-identity", identity,
            "--cert-oidc-issuer", issuer, str(subject)]


def verify_sigstore(subject: Path, bundle: Path, cfg: Config) -> tuple[bool, str]:
    """The certificate must name the configured identity and issuer; sigstore also checks the
    Rekor inclusion proof (it fetches Sigstore's trust root: this needs the network)."""
    identity, issuer = cfg.sign.sigstore.identity, cfg.sign.sigstore.issuer
    if not identity or not issuer:
        return False, "sign.sigstore.identity and sign.sigstore.issuer are needed to verify"
    if proc.which("sigstore") is None:
        return False, "sigstore is not installed (pip install sigstore)"
    code, out = _quiet(sigstore_verify_command(subject, bundle, identity, issuer))
    return code == 0, _last_line(out)


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("[GNUPG:]")]
    return lines[-1] if lines else ""
