""".deb and .rpm packages of the built Linux binaries, made by nfpm.

Metadata comes from Cargo.toml (name, version, description, license, maintainer = first author,
homepage); binaries go to /usr/bin, configured extra files (man pages, completions, licenses)
where `contents` says. nfpm takes its config as YAML, and JSON is YAML: the plan is a dict. File
times are the release's SOURCE_DATE_EPOCH, so unsigned packages are byte-for-byte reproducible.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...config import Config, TargetConfig
from ...config.channels import (
    LinuxPackageConfig,
    arch_of,
)

FORMATS = ("deb", "rpm")



def package_version(version: str) -> str:
    """Cargo's 1.2.0-rc.1 sorts before 1.2.0 in dpkg and rpm only as 1.2.0~rc.1."""
    return version.replace("-", "~", 1).split("+")[0]


def file_name(lc: LinuxPackageConfig, t: TargetConfig, version: str) -> str:
    v = package_version(version)
    arch = arch_of(t, lc.format)
    if lc.format == "deb":
        return f"{lc.name}_{v}-{lc.release}_{arch}.deb"
    return f"{lc.name}-{v}-{lc.release}.{arch}.rpm"


def nfpm_config(cfg: Config, lc: LinuxPackageConfig, t: TargetConfig, binaries: list[Path], mtime: int,
                rpm_key: Path | None = None, extra: Sequence[tuple[Path, str, int]] = (),
                docs: Sequence[tuple[Path, str, str]] = ()) -> dict[str, Any]:
    """nfpm's configuration for one package (written as JSON, which nfpm reads as YAML); `extra`:
    more files as (source, destination, mode), e.g. the [desktop] entry and icons; `docs`: the
    crate's documents as (source, destination, nfpm type: "license" is the rpm's %license, "doc"
    its %doc; "" a plain file, as a .deb needs: nfpm leaves typed ones out of it), a destination
    `contents` already fills left to it."""

    p = cfg.project
    stamp = datetime.datetime.fromtimestamp(mtime, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    contents: list[dict[str, Any]] = [
        {"src": str(b), "dst": f"/usr/bin/{b.name}", "file_info": {"mode": 0o755, "mtime": stamp}} for b in binaries]
    contents += [{"src": str(c.src), "dst": c.dst, "file_info": {"mode": c.mode, "mtime": stamp}} for c in lc.contents]
    contents += [{"src": str(src), "dst": dst, "file_info": {"mode": mode, "mtime": stamp}} for src, dst, mode in extra]
    taken = {c["dst"] for c in contents}
    contents += [{"src": str(src), "dst": dst, **({"type": kind} if kind else {}),
                  "file_info": {"mode": 0o644, "mtime": stamp}} for src, dst, kind in docs if dst not in taken]
    data: dict[str, Any] = {
        "name": lc.name,
        "arch": t.triple.arch_info["nfpm"],
        "platform": "linux",
        "version": p.version,
        "version_schema": "semver",
        "release": lc.release,
        "maintainer": lc.maintainer,
        "description": p.description or f"{p.name} command-line tool",
        "license": p.license or "",
        "homepage": p.homepage or p.repository or "",
        "section": lc.section,
        "priority": "optional",
        "mtime": stamp,
        "contents": contents,
    }
    if lc.depends:
        data["depends"] = list(lc.depends)
    # The build host's name would differ between machines: a fixed one keeps rpms reproducible.
    data["rpm"] = {"buildhost": "wavrybuild", "packager": lc.maintainer}
    if rpm_key is not None:
        data["rpm"]["signature"] = {"key_file": str(rpm_key)}
    return data


def write_nfpm_config(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")
