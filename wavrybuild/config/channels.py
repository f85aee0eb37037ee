"""[channels.*]: the package-manager channels fed from the built binaries, checked when
targets.toml loads (a bad package name or a version a channel cannot carry is refused before
anything is built). npm has its own module (config/npm.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from . import checks as c
from .project import Core
from .targets import TargetConfig
from .values import Component, HttpUrl, Line

if TYPE_CHECKING:  # [channels.npm]'s module loads only when the file has it (see _npm)
    from .container import ContainerConfig
    from .npm import NpmConfig
    from .pkgmanagers import HomebrewConfig, ScoopConfig, WingetConfig

CHANNELS = ("pypi", "npm", "deb", "rpm", "installer", "homebrew", "scoop", "winget", "container")


# --- [channels.pypi] ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class WheelConfig:
    name: Component  # the PyPI distribution name
    summary: Line  # METADATA's Summary: header
    license: Line | None


PYPI_KEYS = ("name", "summary", "license")
CONTENT_KEYS = ("src", "dst", "mode")  # one item of [channels.deb|rpm] contents
INSTALLER_KEYS = ("base-url", "targets")
DEB_ONLY_KEYS = ("section", "distribution", "component")


def parse_pypi(cfg: Core, raw: Any) -> WheelConfig:
    """[channels.pypi] name = "…"; defaults to the artifact name."""
    where = cfg.project.config_path
    table = c.check_table(where, "channels.pypi.", raw)
    c.reject_unknown(where, "channels.pypi.", table, PYPI_KEYS)
    name = table.get("name", cfg.project.name)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", name) or len(name) > 128:
        raise ConfigError(f"{where}: channels.pypi.name: {name!r} is not a valid Python package name",
                          hint="letters, digits, '.', '_' and '-', starting and ending with a letter or digit")
    v = c.values(where, "channels.pypi.", {k: x for k, x in table.items() if k != "name"},
                 {"summary": (c.opt_line, None), "license": (c.opt_line, None)})
    pep440(cfg.project.version, where)
    # The summary is one METADATA header: a multi-line Cargo.toml description gives its first line.
    fallback = (cfg.project.description.splitlines() or [""])[0].strip() or f"{cfg.project.name} command-line tool"
    try:
        summary = v["summary"] or Line.parse(fallback)
    except ValueError as exc:
        raise ConfigError(f"{where}: channels.pypi.summary: Cargo.toml's description is not {exc}",
                          hint="set channels.pypi.summary") from None
    return WheelConfig(Component.parse(name), summary, v["license"] or cfg.project.license)


def pep440(version: str, where: object = "Cargo.toml") -> str:
    from packaging.version import InvalidVersion, Version  # here: a no-op build never needs it

    from .snapshots import pep440_local

    local = pep440_local(version)
    if local is not None:  # a snapshot (never uploaded): its base version, .dev0, the suffix as a local label
        return f"{pep440(local[0], where)}.dev0+{local[1]}"
    try:
        parsed = Version(version)
    except InvalidVersion:
        raise ConfigError(f"{where}: channels.pypi: crate version {version!r} is not a valid Python (PEP 440) version",
                          hint="use a plain X.Y.Z version, or X.Y.Z-alpha.N / -beta.N / -rc.N") from None
    if parsed.local:
        raise ConfigError(f"{where}: channels.pypi: crate version {version!r} has build metadata (+{parsed.local}), "
                          "which PyPI refuses", hint="release a version without the +… suffix")
    return str(parsed)


# --- [channels.deb] / [channels.rpm] ------------------------------------------------------------------

LINUX_KEYS = ("targets", "name", "maintainer", "section", "depends", "contents", "release", "repository", "repo-dir",
        "distribution", "component")
REPO_KEYS = ("repo-dir", "distribution", "component")  # they describe the repository: setting one asks for it
REPO_DIR = "repo"  # dist/repo/apt, dist/repo/rpm: static trees of their own, outside SHA256SUMS
DEB_NAME_RE = re.compile(r"[a-z0-9][a-z0-9+.-]+")


@dataclass(frozen=True)
class Content:
    src: Path
    dst: Line  # an absolute path inside the package
    mode: int


@dataclass(frozen=True)
class LinuxPackageConfig:
    format: str  # deb | rpm
    name: Component
    targets: tuple[str, ...] | None
    maintainer: Line  # control: Maintainer (and rpm Packager)
    section: Line
    depends: tuple[Line, ...]
    contents: tuple[Content, ...]
    release: Component  # a part of the package's file name
    repo_dir: Path
    distribution: Component  # apt: dists/<distribution>
    component: Component  # apt: <component>/binary-<arch>
    # The signed apt/rpm repository: True/False as `repository` says; None (not said, no REPO_KEYS)
    # follows [sign]: made when its methods have gpg to sign it with, else the packages alone.
    repository: bool | None = None

    def makes_repository(self, gpg: bool) -> bool:
        return self.repository if self.repository is not None else gpg


def _contents(where: Path, key: str, crate: Path, raw_contents: Any) -> list[Content]:
    """[channels.deb|rpm] contents: extra files from the crate, each to an absolute path."""
    if not isinstance(raw_contents, list):
        raise ConfigError(f"{where}: {key}.contents: expected a list of {{ src = ..., dst = ... }} tables")
    contents = []
    for i, item in enumerate(raw_contents):
        at = f"{where}: {key}.contents[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{at}: expected a table {{ src = \"...\", dst = \"/usr/share/...\" }}")
        c.reject_unknown(where, f"{key}.contents[{i}].", item, CONTENT_KEYS)
        src, dst, mode = item.get("src"), item.get("dst"), item.get("mode", "0644")
        if (not isinstance(src, str) or not isinstance(dst, str) or not dst.startswith("/")
                or ".." in dst.split("/") or not Line.valid(dst)):
            raise ConfigError(f"{at}: needs src (a file relative to the crate) and dst (an absolute path, "
                              "one line, without '..')")
        path = c.local_path(where, f"{key}.contents[{i}].src", src, base=crate)
        if not path.is_relative_to(crate.resolve()):
            raise ConfigError(f"{at}: src {src!r} is outside the crate", hint="files come from the crate directory")
        if not c.is_file(path):
            raise ConfigError(f"{at}: src {src!r}: no such file in {crate}")
        if not isinstance(mode, str) or not re.fullmatch(r"0?[0-7]{3}", mode):
            raise ConfigError(f"{at}: mode {mode!r}: expected an octal string such as \"0644\"")
        contents.append(Content(path, Line.parse(dst), int(mode, 8)))
    return contents



def _field(where: Path, key: str, table: dict[str, Any], k: str, default: Any, check: Any) -> Any:
    """One key through its boundary type: ConfigError naming the key, never a traceback."""
    v = table.get(k, default)
    if v is None:
        raise ConfigError(f"{where}: {key}.{k}: missing", hint=f"set {key}.{k}")
    if v == "" or (not isinstance(v, str) and check is not c.line_list):
        raise ConfigError(f"{where}: {key}.{k}: expected a non-empty string, got {v!r}")
    try:
        return check(v)
    except ValueError as exc:
        raise ConfigError(f"{where}: {key}.{k}: expected {exc}, got {v!r}") from None


def _repo_dir(cfg: Core, key: str, fmt: str, value: Any) -> Path:
    """Where the signed repository lives: it is rebuilt in place (directories swapped and pruned),
    so never the project itself, a directory holding it, .git, or dist/'s artifact namespace."""
    where = cfg.project.config_path
    default = cfg.project.dist_dir / REPO_DIR / ("apt" if fmt == "deb" else "rpm")
    if value is None:
        return default.resolve()
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: {key}.repo-dir: expected a directory path, got {value!r}")
    out = c.local_path(where, f"{key}.repo-dir", value)
    dist = cfg.project.dist_dir.resolve()
    inside_dist = out == dist or (out.is_relative_to(dist) and not out.is_relative_to(dist / REPO_DIR))
    if where.parent.resolve().is_relative_to(out) or ".git" in out.parts or inside_dist or out == dist / REPO_DIR:
        raise ConfigError(f"{where}: {key}.repo-dir: {value!r} is the project, holds it, is inside .git, or is "
                          "dist/ itself", hint=f"a directory of its own, e.g. the default {default}")
    return out


def _repository(where: Path, key: str, table: dict[str, Any]) -> bool | None:
    """`repository`: true or false; absent, true if a key that describes the repository is set."""
    said = [k for k in REPO_KEYS if k in table]
    if "repository" not in table:
        return True if said else None
    try:
        on = c.bool_value(table["repository"])
    except ValueError as exc:
        raise ConfigError(f"{where}: {key}.repository: expected {exc}, got {table['repository']!r}",
                          hint="true: also a signed apt/rpm repository (needs [sign] gpg); false: the packages alone") from None
    if not on and said:
        raise ConfigError(f"{where}: {key}.repository = false, but {', '.join(f'{key}.{k}' for k in said)} "
                          "describe the repository", hint="remove them, or set repository = true")
    return on


def parse_linux(cfg: Core, fmt: str, raw: Any) -> LinuxPackageConfig:
    where = cfg.project.config_path
    key = f"channels.{fmt}"
    table = c.check_table(where, key + ".", raw)
    deb_only = DEB_ONLY_KEYS
    c.reject_unknown(where, key + ".", table, LINUX_KEYS if fmt == "deb" else [k for k in LINUX_KEYS if k not in deb_only])

    def field(k: str, default: Any, check: Any = c.line) -> Any:
        return _field(where, key, table, k, default, check)

    name = field("name", cfg.project.name, c.str_value)
    if not DEB_NAME_RE.fullmatch(name) or len(name) > 128:
        raise ConfigError(f"{where}: {key}.name: {name!r} is not a valid package name",
                          hint="lowercase letters, digits, '+', '-' and '.', at least two characters, starting alphanumeric")
    maintainer = field("maintainer", cfg.project.authors[0] if cfg.project.authors else None)
    depends = table.get("depends", [])
    if not isinstance(depends, list) or not all(isinstance(d, str) and d for d in depends):
        raise ConfigError(f"{where}: {key}.depends: expected a list of package names (with optional versions)")
    deps = field("depends", [], c.line_list)
    contents = _contents(where, key, cfg.project.manifest_path.parent, table.get("contents", []))
    targets = table.get("targets")
    if targets is not None:
        targets = c.target_ids(where, [t.id for t in cfg.targets], f"{key}.targets", targets)
    release = field("release", "1", c.str_value)
    if not re.fullmatch(r"[0-9A-Za-z.+~]+", release) or len(release) > 64:
        raise ConfigError(f"{where}: {key}.release: {release!r}: letters, digits, '.', '+' and '~' only")
    repository = _repository(where, key, table)
    lc = LinuxPackageConfig(fmt, Component.parse(name), targets, maintainer, field("section", "utils"), deps,
                            tuple(contents), field("release", "1", c.component),
                            _repo_dir(cfg, key, fmt, table.get("repo-dir")),
                            field("distribution", "stable", c.component), field("component", "main", c.component),
                            repository)
    linux_targets(cfg, lc)
    return lc


def arch_of(t: TargetConfig, fmt: str) -> str:
    name = t.triple.arch_info.get("debian" if fmt == "deb" else "rpm")
    if t.triple.os != "linux" or not isinstance(name, str) or not name:
        raise ConfigError(f"{t.id}: not a Linux target {fmt} can package", hint=f"leave it out of channels.{fmt}.targets")
    return name


def linux_targets(cfg: Core, lc: LinuxPackageConfig) -> list[TargetConfig]:
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


# --- [channels.installer] ------------------------------------------------------------------------------

@dataclass(frozen=True)
class InstallerConfig:
    base_url: HttpUrl  # may hold {version} and {name} (checked filled in)
    targets: tuple[str, ...] | None  # preference order; None: every packaged target


def parse_installer(cfg: Core, raw: Any) -> InstallerConfig:
    where = cfg.project.config_path
    table = c.check_table(where, "channels.installer.", raw)
    c.reject_unknown(where, "channels.installer.", table, INSTALLER_KEYS)
    url = c.base_url(where, "channels.installer.base-url", table.get("base-url"))
    targets = table.get("targets")
    if targets is not None:
        targets = c.target_ids(where, [t.id for t in cfg.targets], "channels.installer.targets", targets)
    return InstallerConfig(url, targets)


@dataclass(frozen=True)
class Channels:
    pypi: WheelConfig | None = None
    npm: NpmConfig | None = None
    deb: LinuxPackageConfig | None = None
    rpm: LinuxPackageConfig | None = None
    installer: InstallerConfig | None = None
    homebrew: HomebrewConfig | None = None
    scoop: ScoopConfig | None = None
    winget: WingetConfig | None = None
    container: ContainerConfig | None = None

    @property
    def linux(self) -> tuple[LinuxPackageConfig, ...]:
        return tuple(x for x in (self.deb, self.rpm) if x is not None)


def parse_channels(cfg: Core, raw: Any) -> Channels:
    where = cfg.project.config_path
    table = c.check_table(where, "channels.", raw)
    c.reject_unknown(where, "channels.", table, CHANNELS)
    return Channels(
        pypi=parse_pypi(cfg, table["pypi"]) if "pypi" in table else None,
        npm=_npm(cfg, table["npm"]) if "npm" in table else None,
        deb=parse_linux(cfg, "deb", table["deb"]) if "deb" in table else None,
        rpm=parse_linux(cfg, "rpm", table["rpm"]) if "rpm" in table else None,
        installer=parse_installer(cfg, table["installer"]) if "installer" in table else None,
        container=_container(cfg, table["container"]) if "container" in table else None,
        **_package_managers(cfg, table),
    )


def _container(cfg: Core, raw: Any) -> ContainerConfig:
    from .container import parse_container  # loaded only when the file has [channels.container]
    return parse_container(cfg, raw)


def _package_managers(cfg: Core, table: dict[str, Any]) -> dict[str, Any]:
    if not {"homebrew", "scoop", "winget"} & table.keys():
        return {}
    from . import pkgmanagers as pm  # loaded only when the file has one of them (docs/performance.md)

    parsers = {"homebrew": pm.parse_homebrew, "scoop": pm.parse_scoop, "winget": pm.parse_winget}
    return {k: parse(cfg, table[k]) for k, parse in parsers.items() if k in table}


def _npm(cfg: Core, raw: Any) -> NpmConfig:
    # Imported here: building npm's dataclasses is most of its import, which a no-op build of a
    # project without [channels.npm] should not pay (docs/performance.md, "No-op build").
    from .npm import parse_npm
    return parse_npm(cfg, raw)
