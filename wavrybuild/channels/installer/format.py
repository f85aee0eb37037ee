"""install.sh (POSIX sh) and install.ps1 (Windows) for a release: pick the archive for the
machine, download it with SHA256SUMS, check its SHA-256 (and SHA256SUMS's minisign signature when
minisign is installed), install into a prefix. The templates live in resources/installer/; this
module fills in the release's name, version, base URL, binaries, minisign key and archive table.
"""

from __future__ import annotations

import re
from importlib import resources

from ...config import Config, TargetConfig
from ...config.channels import InstallerConfig
from ...errors import ConfigError, WavryError


def _row_os(t: TargetConfig) -> tuple[str, str, str] | None:
    tr = t.triple
    cpu = "armv7" if tr.arch.startswith("armv7") else tr.arch
    if tr.os == "linux":
        return "linux", cpu, "musl" if tr.is_musl else "gnu"
    if tr.os == "macos":
        return "darwin", cpu, "-"
    if tr.is_windows:
        return "windows", cpu, "-"
    return None


def _order(cfg: Config, ic: InstallerConfig, archives: dict[str, str]) -> list[TargetConfig]:
    if ic.targets is not None:
        return [t for i in ic.targets for t in cfg.targets if t.id == i and t.id in archives]
    # The lowest glibc floor first: it runs on the most systems.
    def floor(t: TargetConfig) -> tuple[int, ...]:
        return tuple(int(x) for x in t.glibc.split(".")) if t.glibc else (99,)

    return sorted((t for t in cfg.targets if t.id in archives), key=floor)


def minisign_public_key(cfg: Config) -> str:
    if "minisign" not in cfg.sign.methods:
        return ""
    path = cfg.sign.minisign.public_key
    if path is None or not path.is_file():
        raise ConfigError(f"{cfg.project.config_path}: sign.minisign.public-key: needed to put the key in install.sh",
                          hint="point it at the minisign .pub file")
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("untrusted comment")]
    if not lines or not re.fullmatch(r"[A-Za-z0-9+/=]+", lines[0]):
        raise ConfigError(f"{path}: not a minisign public key file")
    return lines[0]


def render(cfg: Config, ic: InstallerConfig, archives: dict[str, str]) -> dict[str, str]:
    """{file name: script} for install.sh and (with a Windows target) install.ps1."""
    rows, win = [], []
    for t in _order(cfg, ic, archives):
        where = _row_os(t)
        if where is None:
            continue
        if where[0] == "windows":
            win.append(f"{where[1]} {t.id} {archives[t.id]}")
        else:
            rows.append(f"{' '.join(where)} {t.id} {archives[t.id]}")
    if not rows and not win:
        raise WavryError("no archive for an installer: package first", hint="run `invoke package`")
    p = cfg.project
    values = {
        "NAME": p.name, "VERSION": p.version, "BASE_URL": ic.base_url.format(version=p.version, name=p.name).rstrip("/"),
        "BINARIES": " ".join(p.binaries), "MINISIGN_PUBKEY": minisign_public_key(cfg),
        "ARTIFACTS": "\n".join(rows), "WINDOWS_ARTIFACTS": "\n".join(win),
    }
    for k, v in values.items():
        if "'" in v:
            raise ConfigError(f"{k.lower()}: {v!r} cannot go into a quoted shell string")
    out = {}
    for name, wanted in (("install.sh", rows), ("install.ps1", win)):
        if not wanted:
            continue
        text = resources.files("wavrybuild").joinpath(f"resources/installer/{name}").read_text()
        out[name] = re.sub(r"@([A-Z_]+)@", lambda m: values[m.group(1)], text)
    return out
