"""Signed parts ([ci] part-key, docs/ci.md "Signed parts"): a part job signs its part manifest,
the merge checks that signature before it parses the manifest.

The manifest lists every file of the part with its size and sha256, so its signature covers them
all: whoever can write to the bucket can rewrite an artifact, the sha256 kept with it and the
manifest together, but not make a signature the configured public key accepts. The signature is
`<part manifest>.minisig` beside it; it is made by the one minisign signer (sign/signatures.py,
the [sign.minisign] key and its passphrase from the environment) and checked over the very bytes
the merge then parses (copied to a private directory: the part cannot change under the check).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .. import proc
from ..config import Config
from ..config.ci import PartPublicKey
from ..errors import ToolMissing
from ..fsutil import tmp_dir
from ..sign import signatures

SIG_SUFFIX = ".minisig"
MAX_SIG_BYTES = 4096  # a minisign signature is two comments and two base64 lines


def public_key(cfg: Config) -> PartPublicKey | None:
    """The key parts must be signed with, None when parts are not authenticated."""
    return cfg.ci.part_public_key if cfg.ci is not None and cfg.ci.part_key else None


def sign_part(cfg: Config, manifest: Path) -> Path | None:
    """Sign the part manifest (dist/manifest-part-*.json) when [ci] part-key asks for it: the
    signature beside it, written whole or not at all. None when parts are not signed."""
    if public_key(cfg) is None:
        return None
    if proc.which("minisign") is None:
        raise ToolMissing("[ci] part-key = \"minisign\" needs minisign, which is not installed",
                          hint=signatures.TOOLS["minisign"][1])
    work = tmp_dir(manifest.parent)
    work.mkdir(parents=True, exist_ok=True)
    out = work / (manifest.name + SIG_SUFFIX)
    out.unlink(missing_ok=True)
    job = signatures.MinisignSigner().job(manifest, out, cfg)
    try:
        signatures.run_job(job)
        dest = manifest.with_name(manifest.name + SIG_SUFFIX)
        os.replace(out, dest)
    finally:
        out.unlink(missing_ok=True)
    return dest


def verify_part(name: str, data: bytes, signature: bytes | None, key: PartPublicKey) -> str | None:
    """Why the part manifest `data` is not signed by `key` (None: it is). `name` is only the file
    name minisign is shown (the trusted comment names it)."""
    if signature is None:
        return f"not signed (no {name}{SIG_SUFFIX}), and [ci] part-key requires a signature by the {key.describe()}"
    if key.file is not None and not key.file.is_file():
        return f"cannot be checked: ci.part-public-key {key.file} does not exist"
    if proc.which("minisign") is None:
        return "cannot be checked: minisign is not installed (" + signatures.TOOLS["minisign"][1] + ")"
    d = Path(tempfile.mkdtemp(prefix="wavrybuild-part-"))
    try:
        subject, sig = d / "part.json", d / "part.json.minisig"
        subject.write_bytes(data)
        sig.write_bytes(signature)
        argv = ["minisign", "-V", "-q", "-m", str(subject), "-x", str(sig),
                *(["-P", str(key.key)] if key.key else ["-p", str(key.file)])]
        done = proc.capture_all(argv, timeout=60)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    if done.returncode == 0:
        return None
    said = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
    why = said[-1][:200] if said else (done.error or f"minisign exited with {done.returncode}")
    return (f"its signature {name}{SIG_SUFFIX} does not verify against the {key.describe()} ({why}): the part "
            "was changed after it was signed, or signed with another key")
