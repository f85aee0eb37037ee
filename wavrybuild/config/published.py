"""[release] publish against the rest of targets.toml: every chosen kind is made by something
configured, and nothing that hands out artifacts on its own needs a kind left out."""

from __future__ import annotations

from ..errors import ConfigError
from .channels import Channels
from .release import ArtifactKind
from .whole import Config


def check_publish(cfg: Config) -> None:
    """The chosen kinds against the rest of targets.toml: each must be made by something configured,
    and nothing that hands out artifacts on its own (install scripts, npm, PyPI, the apt/rpm
    repositories) may need a kind left out. One ConfigError naming the key."""
    kinds = cfg.release.publish
    if kinds is None:
        return
    where, key = cfg.project.config_path, "release.publish"
    every = [ch for _, ch in cfg.bundle_channels] or [cfg.channels]
    desktop = cfg.desktop
    oses = {t.triple.os for t in cfg.targets}
    win_formats = desktop.windows_formats if desktop is not None and "windows" in oses else ()
    makers: dict[str, tuple[bool, str]] = {
        "archive": (True, ""),
        "crate": (cfg.publish.crates is not None, "[publish.crates]"),
        "wheel": (any(ch.pypi for ch in every), "[channels.pypi]"),
        "npm": (any(ch.npm for ch in every), "[channels.npm]"),
        "deb": (any(ch.deb for ch in every), "[channels.deb]"),
        "rpm": (any(ch.rpm for ch in every), "[channels.rpm]"),
        "installer": (any(ch.installer for ch in every), "[channels.installer]"),
        "homebrew": (any(ch.homebrew for ch in every), "[channels.homebrew]"),
        "scoop": (any(ch.scoop for ch in every), "[channels.scoop]"),
        "winget": (any(ch.winget for ch in every), "[channels.winget]"),
        "sbom": (cfg.sbom is not None, "[sbom]"),
        "extra": (bool(cfg.artifacts), "[[artifacts]]"),
        "dmg": (desktop is not None and "macos" in oses, "[desktop] and a macOS target"),
        "msi": ("msi" in win_formats, '[desktop] with a Windows target (desktop.windows.formats with "msi")'),
        "setup": ("nsis" in win_formats, '[desktop] with a Windows target (desktop.windows.formats with "nsis")'),
    }
    for kind in kinds:
        made, by = makers[kind]
        if not made:
            raise ConfigError(f"{where}: {key}: {kind!r} is chosen, but nothing configured makes it (it needs {by})",
                              hint=f"configure {by}, or remove {kind!r} from {key}")
    chosen = ", ".join(repr(k) for k in kinds)

    def needs(what: str, kind: str, why: str) -> ConfigError:
        return ConfigError(f"{where}: {key} leaves out {kind!r} (it chooses {chosen}), but {what} {why}",
                           hint=f"add {kind!r} to {key}, or remove {what}")

    gpg = "gpg" in cfg.sign.methods
    for ch in every:
        if (need := _downloaders_need(ch, kinds)) is not None:
            raise needs(*need)
        if ch.npm is not None and ch.npm.publish and "npm" not in kinds:
            raise needs("[channels.npm] (publish = true)", "npm", "sends the npm packages to the registry")
        for lc in ch.linux:
            if lc.makes_repository(gpg) and lc.format not in kinds:
                raise needs(f"[channels.{lc.format}] (its signed repository)", lc.format,
                            f"serves the .{lc.format} packages from dist/repo")
    if cfg.publish.pypi is not None and "wheel" not in kinds:
        raise needs("[publish.pypi]", "wheel", "uploads the wheels")
    if cfg.publish.crates is not None and "crate" not in kinds:
        raise needs("[publish.crates]", "crate", "uploads the packaged .crate files")


def _downloaders_need(ch: Channels, kinds: tuple[ArtifactKind, ...]) -> tuple[str, str, str] | None:
    """(what, kind, why) when an install script or a package manager's file would point at files
    the release leaves out."""
    if ch.installer is not None and "archive" not in kinds:
        return "[channels.installer]", "archive", "makes install scripts that download the archives"
    for what, pm in (("homebrew", ch.homebrew), ("scoop", ch.scoop)):
        if pm is not None and "archive" not in kinds:
            return f"[channels.{what}]", "archive", "points the package manager at the archives"
    if ch.winget is not None and not {"msi", "setup"} & set(kinds):
        return "[channels.winget]", "msi", "points winget at the MSI or setup.exe"
    return None
