"""Developer ID signing and notarization of a macOS .app, as strategy objects.

Two signers, one protocol: `codesign` + `notarytool` + `stapler` on a macOS runner (the identity
already in the keychain), or `rcodesign` (apple-codesign) on any machine where it is installed
(the identity as a .p12 file). Both sign every binary with the hardened runtime and the
configured entitlements, get the notarization ticket and staple it. The plans are pure; the desktop
stage runs them. Secrets never reach argv: the .p12 password goes to rcodesign as a 0600 file, the
App Store Connect key is a file path.

Without an identity nothing here runs: the app keeps the linker's ad-hoc signature, which Apple
Silicon accepts but Gatekeeper does not (users must right-click → Open, or clear the quarantine).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .. import proc
from ..config.desktop import MacSigning
from ..errors import ConfigError, ToolMissing
from ..proc import Command


@dataclass(frozen=True)
class Step:
    command: Command
    when: str  # "app": before the disk image is made; "dmg": on the finished image


class MacSigner(Protocol):
    @property
    def name(self) -> str: ...

    def plan(self, app: Path, binaries: list[str], dmg: Path, password_file: Path | None) -> list[Step]: ...


def _require(value: object, key: str) -> None:
    if not value:
        raise ConfigError(f"desktop.macos.{key}: needed to sign and notarize with a Developer ID",
                          hint=f"set [desktop.macos] {key}, or remove identity to ship an ad-hoc signed app")


@dataclass(frozen=True)
class Codesign:
    """Apple's own tools, on a macOS runner."""

    signing: MacSigning
    name: str = "codesign"

    def plan(self, app: Path, binaries: list[str], dmg: Path, password_file: Path | None) -> list[Step]:
        s = self.signing
        assert s.identity is not None
        base = ["codesign", "--force", "--options", "runtime", "--timestamp", "--sign", s.identity]
        if s.entitlements:
            base += ["--entitlements", str(s.entitlements)]
        # Inside out: every executable, then the bundle, whose seal covers them.
        steps = [Step(Command((*base, str(app / "Contents" / "MacOS" / b))), "app") for b in binaries]
        steps.append(Step(Command((*base, str(app))), "app"))
        steps.append(Step(Command(("codesign", "--verify", "--deep", "--strict", str(app))), "app"))
        steps.append(Step(Command(("codesign", "--force", "--timestamp", "--sign", s.identity, str(dmg))), "dmg"))
        if s.notarize:
            _require(s.api_key, "api-key")
            steps.append(Step(Command(("xcrun", "notarytool", "submit", str(dmg), "--key", str(s.api_key),
                                       "--key-id", s.api_key_id or "", "--issuer", s.api_issuer or "", "--wait")), "dmg"))
            steps.append(Step(Command(("xcrun", "stapler", "staple", str(dmg))), "dmg"))
        return steps


@dataclass(frozen=True)
class Rcodesign:
    """apple-codesign's rcodesign: signs and notarizes from Linux. The app itself is notarized and
    stapled, then put into the image (the ISO/HFS+ image cannot carry a signature of its own)."""

    signing: MacSigning
    name: str = "rcodesign"

    def plan(self, app: Path, binaries: list[str], dmg: Path, password_file: Path | None) -> list[Step]:
        s = self.signing
        _require(s.p12, "p12")
        argv = ["rcodesign", "sign", "--p12-file", str(s.p12)]
        if password_file is not None:
            argv += ["--p12-password-file", str(password_file)]
        argv += ["--code-signature-flags", "runtime", "--for-notarization"]
        if s.entitlements:
            argv += ["--entitlements-xml-file", str(s.entitlements)]
        steps = [Step(Command((*argv, str(app))), "app")]
        if s.notarize:
            _require(s.api_key, "api-key")
            steps.append(Step(Command(("rcodesign", "notary-submit", "--api-key-path", str(s.api_key),
                                       "--api-issuer", s.api_issuer or "", "--api-key", s.api_key_id or "",
                                       "--wait", "--staple", str(app))), "app"))
        return steps


def signer(signing: MacSigning, target: str, *, platform: str | None = None) -> MacSigner | None:
    """The signer for a configured identity (None: ad-hoc only), or a ToolMissing naming what
    would make it possible here."""
    if not signing.identity:
        return None
    on_mac = (platform or sys.platform) == "darwin"
    choice = signing.signer
    if choice == "auto":
        choice = "codesign" if on_mac else "rcodesign"
    if choice == "codesign":
        if not on_mac:
            raise ToolMissing(f"{target}: Developer ID signing with codesign needs a macOS runner",
                              hint='build this target\'s bundle on macOS (`invoke plan` puts it there), or set '
                                   'signer = "rcodesign" with rcodesign installed')
        return Codesign(signing)
    if proc.which("rcodesign") is None:
        raise ToolMissing(f"{target}: Developer ID signing here needs rcodesign (apple-codesign), which is not installed",
                          hint="install rcodesign (cargo install apple-codesign), or build the bundle on a macOS runner")
    return Rcodesign(signing)
