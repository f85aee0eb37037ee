"""[ci]: how the parts of a CI matrix are authenticated (docs/ci.md, "Signed parts").

    [ci]
    part-key = "minisign"                 # each part job signs its part manifest
    part-public-key = "keys/parts.pub"    # what the merge checks them against: a file, or the key itself

    [ci]
    part-key = "sigstore"                 # keyless: the part job's OIDC identity; checked against
                                          # [sign.sigstore] identity and issuer

The part job signs with the [sign.minisign] key (WAVRYBUILD_MINISIGN_KEY, its passphrase in
$WAVRYBUILD_MINISIGN_PASSPHRASE) or with Sigstore ([sign.sigstore] token-env): there is one signer
of each (sign/signatures.py). What the merge trusts (the public key, the identity and issuer) is in
targets.toml, never in the parts themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from . import checks as c
from .values import Checked, HttpUrl, Line

if TYPE_CHECKING:
    from .sign import SignConfig

PART_KEYS = ("minisign", "sigstore")
KEYS = ("part-key", "part-public-key")
# A minisign public key: base64 of "Ed" + an 8-byte key id + a 32-byte Ed25519 key (42 bytes).
_MINISIGN_PUBLIC = re.compile(r"RW[A-Za-z0-9+/]{54}")


class MinisignPublicKey(Checked):
    """A minisign public key written out (what `minisign -P` takes), never anything longer: a
    secret key's base64 also starts with RW and must not pass for one."""

    expected = "a minisign public key (RW followed by 54 base64 characters) or the path of a .pub file"

    @classmethod
    def check(cls, value: str) -> str:
        if not _MINISIGN_PUBLIC.fullmatch(value):
            raise ValueError(cls.expected)
        return value


@dataclass(frozen=True)
class PartPublicKey:
    """Exactly one of: the key itself, or the file that holds it (resolved against targets.toml)."""

    key: MinisignPublicKey | None = None
    file: Path | None = None

    def describe(self) -> str:
        return f"minisign key {self.key}" if self.key else f"minisign public key {self.file}"


@dataclass(frozen=True)
class PartIdentity:
    """Sigstore keyless parts: the certificate of a part's bundle must name this identity, issued by
    this OIDC issuer ([sign.sigstore] identity and issuer, the same the release's bundles are checked against)."""

    identity: Line
    issuer: HttpUrl

    def describe(self) -> str:
        return f"Sigstore identity {self.identity} (issuer {self.issuer})"


PartTrust = PartPublicKey | PartIdentity


@dataclass(frozen=True)
class CiConfig:
    part_key: str | None = None  # "minisign", "sigstore", or None: parts are unauthenticated (the merge warns)
    part_public_key: PartPublicKey | None = None  # minisign's only


def part_trust(path: Path, ci: CiConfig | None, sign: SignConfig) -> PartTrust | None:
    """What a part's signature must verify against; None when parts are not authenticated."""
    if ci is None or ci.part_key is None:
        return None
    if ci.part_key == "minisign":
        assert ci.part_public_key is not None  # parse_ci: both or neither
        return ci.part_public_key
    identity, issuer = sign.sigstore.identity, sign.sigstore.issuer
    if identity is None or issuer is None:
        missing = " and ".join(f"sign.sigstore.{k}" for k, v in (("identity", identity), ("issuer", issuer)) if v is None)
        raise ConfigError(f"{path}: ci.part-key = \"sigstore\": {missing} missing (the merge checks "
                          "each part's bundle against the certificate's identity and issuer)",
                          hint='e.g. [sign.sigstore] identity = "https://github.com/o/r/.github/workflows/release.yml'
                               '@refs/heads/main", issuer = "https://token.actions.githubusercontent.com"')
    return PartIdentity(identity, issuer)


def _public_key(path: Path, value: Any) -> PartPublicKey:
    where = f"{path}: ci.part-public-key"
    # The value is never echoed: whoever pastes a secret key here must not see it again in a CI log.
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: expected {MinisignPublicKey.expected}")
    if MinisignPublicKey.valid(value):
        return PartPublicKey(key=MinisignPublicKey.parse(value))
    if re.fullmatch(r"RW[A-Za-z0-9+/=]{30,}", value):  # base64 that is not a public key: never a file name
        raise ConfigError(f"{where}: not a minisign public key (a public key is RW followed by 54 base64 "
                              f"characters; this value is {len(value)} characters long)",
                              hint="give the line of the .pub file that starts with RW, or the file's path; "
                                   "never the secret key")
    if value.lstrip().startswith("untrusted comment:"):
        raise ConfigError(f"{where}: holds a key file's text, not its path",
                          hint="give the path of the .pub file, or only its line that starts with RW")
    return PartPublicKey(file=c.local_path(path, "ci.part-public-key", value))


def parse_ci(path: Path, raw: Any) -> CiConfig:
    """[ci]: minisign takes both keys (or neither); sigstore takes no public key."""
    table = c.check_table(path, "ci.", raw)
    c.reject_unknown(path, "ci.", table, KEYS)
    part_key = table.get("part-key")
    if part_key is not None:
        try:
            part_key = c.choice(PART_KEYS)(part_key)
        except ValueError as exc:
            shown = repr(part_key) if isinstance(part_key, str) and len(part_key) < 80 else type(part_key).__name__
            raise ConfigError(f"{path}: ci.part-key: expected {exc}, got {shown}",
                              hint='part-key = "minisign" or "sigstore" (docs/ci.md, "Signed parts")') from None
    public = _public_key(path, table["part-public-key"]) if "part-public-key" in table else None
    if part_key == "sigstore":
        if public is not None:
            raise ConfigError(f"{path}: ci.part-public-key: not used with part-key = \"sigstore\" (a Sigstore part "
                              "is checked against [sign.sigstore] identity and issuer, not a key)",
                              hint='remove part-public-key, or use part-key = "minisign"')
        return CiConfig(part_key, None)
    if part_key is not None and public is None:
        raise ConfigError(f"{path}: ci.part-public-key: missing (part-key = {part_key!r} needs the key the merge "
                          "checks parts against)", hint='e.g. part-public-key = "keys/parts.pub"')
    if public is not None and part_key is None:
        raise ConfigError(f"{path}: ci.part-key: missing (part-public-key is set, but no part job would sign)",
                          hint='add part-key = "minisign"')
    return CiConfig(part_key, public)
