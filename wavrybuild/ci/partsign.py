"""Signed parts ([ci] part-key, docs/ci.md "Signed parts"): a part job signs its part manifest,
the merge checks that signature before it parses the manifest, then that the part was made for
this release.

The manifest lists every file of the part with its size and sha256, so its signature covers them
all: whoever can write to the bucket can rewrite an artifact, the sha256 kept with it and the
manifest together, but not make a signature the configured key (or Sigstore identity) accepts.
The manifest also records the commit, crate and version it was made for, so its signature binds
the part to them: a validly signed part of another commit, replayed into this one's place, is
refused (`unbound`).

Two methods, one signer each (sign/signatures.py):
- minisign: `<part manifest>.minisig` beside it, made with the [sign.minisign] key and its
  passphrase from the environment, checked against [ci] part-public-key;
- sigstore: `<part manifest>.sigstore.json` beside it, a keyless bundle made with the part job's
  OIDC identity (the token only through sigstore's environment), checked with `sigstore verify
  identity` against [sign.sigstore] identity and issuer.
Either is checked over the very bytes the merge then parses (copied to a private directory: the
part cannot change under the check).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from .. import proc
from ..config import Config
from ..config.ci import PartIdentity, PartPublicKey, PartTrust, part_trust
from ..errors import ToolMissing
from ..fsutil import tmp_dir
from ..manifest import Manifest
from ..sign import signatures

MINISIG_SUFFIX = ".minisig"
SIGSTORE_SUFFIX = ".sigstore.json"
SIG_SUFFIXES = (MINISIG_SUFFIX, SIGSTORE_SUFFIX)
SIG_SUFFIX = MINISIG_SUFFIX  # kept for callers written for minisign alone
MAX_SIG_BYTES = 4096  # a minisign signature is two comments and two base64 lines
MAX_BUNDLE_BYTES = 256 * 1024  # a Sigstore bundle: a certificate chain, a signature and a log entry with its proof
HINT = "re-run this part's matrix job (with the part key), and find out who else can write to where the parts are kept"


def trust(cfg: Config) -> PartTrust | None:
    """What parts must be signed with, None when parts are not authenticated."""
    return part_trust(cfg.project.config_path, cfg.ci, cfg.sign)




def suffix(key: PartTrust) -> str:
    return SIGSTORE_SUFFIX if isinstance(key, PartIdentity) else MINISIG_SUFFIX


def max_signature_bytes(key: PartTrust) -> int:
    return MAX_BUNDLE_BYTES if isinstance(key, PartIdentity) else MAX_SIG_BYTES


def is_signature(name: str) -> bool:
    """A part manifest's signature (of either method), never a part manifest itself."""
    return name.endswith(SIG_SUFFIXES)


def sign_part(cfg: Config, manifest: Path) -> Path | None:
    """Sign the part manifest (dist/manifest-part-*.json) when [ci] part-key asks for it: the
    signature beside it, written whole or not at all. None when parts are not signed."""
    key = trust(cfg)
    if key is None:
        return None
    method = "sigstore" if isinstance(key, PartIdentity) else "minisign"
    if proc.which(method) is None:
        raise ToolMissing(f"[ci] part-key = \"{method}\" needs {method}, which is not installed",
                          hint=signatures.TOOLS[method][1])
    work = tmp_dir(manifest.parent)
    work.mkdir(parents=True, exist_ok=True)
    out = work / (manifest.name + suffix(key))
    out.unlink(missing_ok=True)
    job = signatures.SIGNERS[method].job(manifest, out, cfg)
    try:
        signatures.run_job(job)
        dest = manifest.with_name(manifest.name + suffix(key))
        os.replace(out, dest)
    finally:
        out.unlink(missing_ok=True)
    return dest


# Part manifests verified in this process: (manifest digest, signature digest, key, key file digest).
# A release job reads a part's manifest up to three times (fetched from storage, its crate record,
# the merge), always checking the signature over the bytes it parses; the same bytes with the same
# signature under the same key (the key file's bytes included) are verified once. Only a success is
# remembered, so a refusal is always decided afresh.
_VERIFIED: set[tuple[str, str, PartTrust, str | None]] = set()


def _file_digest(key: PartTrust) -> str | None:
    if isinstance(key, PartPublicKey) and key.file is not None and key.file.is_file():
        return hashlib.sha256(key.file.read_bytes()).hexdigest()
    return None


def verify_part(name: str, data: bytes, signature: bytes | None, key: PartTrust) -> str | None:
    """Why the part manifest `data` is not signed by `key` (None: it is). `name` is only the file
    name shown in messages."""
    if signature is None:
        return _verify(name, data, signature, key)
    seen = (hashlib.sha256(data).hexdigest(), hashlib.sha256(signature).hexdigest(), key, _file_digest(key))
    if seen in _VERIFIED:
        return None
    why = _verify(name, data, signature, key)
    if why is None:
        _VERIFIED.add(seen)
    return why


def _verify(name: str, data: bytes, signature: bytes | None, key: PartTrust) -> str | None:
    sig_name = name + suffix(key)
    if signature is None:
        return f"not signed (no {sig_name}), and [ci] part-key requires a signature by the {key.describe()}"
    if isinstance(key, PartPublicKey) and key.file is not None and not key.file.is_file():
        return f"cannot be checked: ci.part-public-key {key.file} does not exist"
    tool = "sigstore" if isinstance(key, PartIdentity) else "minisign"
    if proc.which(tool) is None:
        return f"cannot be checked: {tool} is not installed ({signatures.TOOLS[tool][1]})"
    d = Path(tempfile.mkdtemp(prefix="wavrybuild-part-"))
    try:
        subject, sig = d / "part.json", d / ("part.json" + suffix(key))
        subject.write_bytes(data)
        sig.write_bytes(signature)
        if isinstance(key, PartIdentity):
            argv = signatures.sigstore_verify_command(subject, sig, key.identity, key.issuer)
            done = proc.capture_all(argv, timeout=120)
        else:
            argv = ["minisign", "-V", "-q", "-m", str(subject), "-x", str(sig),
                    *(["-P", str(key.key)] if key.key else ["-p", str(key.file)])]
            done = proc.capture_all(argv, timeout=60)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    if done.returncode == 0:
        return None
    said = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
    why = said[-1][:200] if said else (done.error or f"{tool} exited with {done.returncode}")
    if isinstance(key, PartIdentity):
        return (f"its bundle {sig_name} does not verify for the {key.describe()} ({why}): the part was changed "
                "after it was signed, or signed by another identity")
    return (f"its signature {sig_name} does not verify against the {key.describe()} ({why}): the part "
            "was changed after it was signed, or signed with another key")


def unbound(manifest: Manifest, commit: str | None) -> str | None:
    """Why a signed part was not made for this release (None: it was): its signature binds the
    commit its manifest records, which must be the merge's own. (Crate and version: `unbound_release`.)"""
    made = manifest.git.get("commit") if isinstance(manifest.git, dict) else None
    if commit is None:
        return ("cannot be bound to a release: this merge does not run in a git checkout, and a signed part "
                "is accepted only for the commit it was made for")
    if not made:
        return "records no commit: a signed part must say which commit it was made for (run the part job in a git checkout)"
    if made != commit:
        return (f"was made for commit {made}, and this merge is at commit {commit}: a signed part of another "
                "commit (replayed into this one's place?) is never merged")
    return None


def unbound_release(manifest: Manifest, crate: str, version: str) -> str | None:
    """Why a signed part was not made for this crate and version (None: it was)."""
    if (manifest.crate, manifest.version) != (crate, version):
        return (f"was made for {manifest.crate} {manifest.version}, and this merge releases {crate} {version}: "
                "a signed part of another release is never merged")
    return None
