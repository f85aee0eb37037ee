"""RELEASE_NOTES.md: this version's changes (the changelog's section, or the commits' from
commits.py), a table mapping every artifact to its platform and channel (with size and SHA-256), and
how to verify the downloads — in the built-in layout or a [release] notes-template's. Pure: the notes
stage writes it through a dist/ transaction, and every release page (GitHub, GitLab) shows it."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..checksum import SUMS_NAME
from ..config import Config, TargetConfig
from ..manifest import Artifact, Manifest
from ..provenance.slsa import NAME as PROVENANCE_NAME
from ..triple import Triple
from ..ui import human_size

NOTES_NAME = "RELEASE_NOTES.md"
# Kinds the downloads table never lists. The notes themselves, and the provenance statement: its
# subjects list the notes' digest, so notes listing its digest would make each rerun rewrite both
# (and SHA256SUMS, and the signatures) for ever. The provenance is named under "Verify" instead,
# from the config alone, so the first run already writes the final notes.
UNLISTED = ("notes", "provenance")
CHANNELS = {"archive": "archive", "wheel": "PyPI wheel", "npm": "npm", "deb": "Debian/Ubuntu .deb",
            "rpm": "Fedora/RHEL .rpm", "installer": "install script", "extra": "file",
            "dmg": "macOS app (.dmg)", "msi": "Windows installer (.msi)", "setup": "Windows installer (setup.exe)",
            "sbom": "SBOM (CycloneDX)", "homebrew": "Homebrew formula", "scoop": "Scoop manifest",
            "winget": "winget manifest"}
OS_NAMES = {"linux": "Linux", "macos": "macOS", "windows": "Windows", "freebsd": "FreeBSD"}
# "## [1.2.3] - 2026-01-02", "## 1.2.3 (2026-01-02)", "## v1.2.3": Keep a Changelog and its cousins.
HEADING = re.compile(r"^##\s+\[?v?(?P<version>[^\]\s]+)\]?(?:\s.*)?$")


def changelog_section(text: str, version: str) -> str | None:
    """The body under this version's `## ` heading, up to the next one (None: no such heading)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = HEADING.match(line.strip())
        if m and m["version"] == version:
            body = []
            for following in lines[i + 1:]:
                if following.startswith("## ") or re.match(r"^\[[^\]]+\]:\s", following):
                    break  # the next version, or the link references at the bottom
                body.append(following)
            return "\n".join(body).strip()
    return None


def platform_of(a: Artifact, targets: dict[str, TargetConfig]) -> str:
    """"Linux x86_64 (glibc ≥ 2.17)", "macOS aarch64", "any" for what runs everywhere."""
    if not a.triple:
        return "any"
    t = Triple(a.triple)
    what = f"{OS_NAMES.get(t.os, t.os)} {t.arch}"
    if t.is_universal:
        return "macOS universal (x86_64 + arm64)"
    target = targets.get(a.target)
    if t.os == "linux":
        if t.is_musl:
            return what + " (musl, static)"
        floor = target.glibc if target else None
        return what + (f" (glibc ≥ {floor})" if floor else " (glibc)")
    if t.is_windows:
        return what + (" (MSVC)" if t.env == "msvc" else "")
    return what


def _verify(cfg: Config) -> list[str]:
    lines = ["## Verify", "", "Download the files you want and `SHA256SUMS`, then:", "", "```sh",
             f"sha256sum --ignore-missing -c {SUMS_NAME}"]
    methods = cfg.sign.methods
    if "gpg" in methods:
        lines.append(f"gpg --verify {SUMS_NAME}.asc {SUMS_NAME}")
    if "minisign" in methods:
        lines.append(f"minisign -Vm {SUMS_NAME} -p minisign.pub")
    if "ssh" in methods:
        lines.append(f"ssh-keygen -Y verify -f allowed_signers -I <signer> -n file -s {SUMS_NAME}.sig < {SUMS_NAME}")
    lines.append("```")
    if "authenticode" in methods:
        lines += ["", "The Windows executables carry an Authenticode signature."]
    if cfg.provenance is not None:
        signed = " and it is signed on its own" if set(methods) - {"authenticode"} else ""
        lines += ["", f"`{PROVENANCE_NAME}` is the SLSA v1 provenance of every file of this release (these notes "
                  f"included): its SHA-256 is in `{SUMS_NAME}`{signed}."]
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _downloads(cfg: Config, artifacts: Iterable[Artifact]) -> list[str]:
    targets = {t.id: t for t in cfg.targets}
    listed = (a for a in artifacts if a.kind not in UNLISTED)
    rows = sorted(listed, key=lambda a: (a.kind != "archive", a.kind, a.target, a.path))
    out = ["## Downloads", "", "| File | Platform | Channel | Size | SHA-256 |", "| --- | --- | --- | --- | --- |"]
    for a in rows:
        out.append(f"| {_cell(a.path)} | {_cell(platform_of(a, targets))} | {CHANNELS.get(a.kind, a.kind)} "
                   f"| {human_size(a.size)} | `{a.sha256}` |")
    return out


def render(cfg: Config, manifest: Manifest, section: str | None, artifacts: Iterable[Artifact]) -> str:
    """The notes as Markdown. Deterministic: the same release gives the same bytes."""
    downloads = _downloads(cfg, artifacts)
    verify = _verify(cfg)
    commit = manifest.git.get("commit") if isinstance(manifest.git, dict) else None
    template = cfg.release.template
    if template is not None:
        return template.render({"name": manifest.name, "version": manifest.version, "changelog": section or "",
                                "artifacts": "\n".join(downloads), "verify": "\n".join(verify),
                                "commit": str(commit) if commit else ""})
    out = [f"# {manifest.name} {manifest.version}", ""]
    if len(manifest.packages) > 1:
        out += ["Packages: " + ", ".join(f"{n} {p.get('version')}" for n, p in sorted(manifest.packages.items())), ""]
    if section:
        out += [section, ""]
    out += [*downloads, "", *verify]
    if commit:
        out += ["", f"Built from commit `{commit}`."]
    return "\n".join(out) + "\n"
