"""targets.toml → Config: the whole file parsed and checked, every section, before anything runs."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import cargo
from ..env import Settings, guard
from ..errors import ConfigError, ToolMissing
from ..fsutil import Refused, read_regular
from . import checks as c
from .artifacts import parse_artifacts
from .channels import Channels, parse_channels
from .project import Metadata, Project, parse_cache, parse_project, secret_policy
from .publish import parse_publish
from .published import check_publish
from .release import parse_release
from .sections import parse_checksum, parse_package
from .sign import parse_sign
from .targets import TargetConfig, parse_targets
from .whole import Config

if TYPE_CHECKING:
    from .bindings import BindingsConfig
    from .ci import CiConfig
    from .desktop import DesktopConfig
    from .sbom import ProvenanceConfig, SbomConfig
    from .storage import StorageConfig

TOP_KEYS = {"project", "defaults", "targets", "package", "checksum", "sign", "publish", "channels", "bindings",
            "cache", "release", "artifacts", "storage", "desktop", "sbom",
            "provenance", "ci"}


@dataclass(frozen=True)
class _Core:
    """The project and targets, which the later sections are checked against."""

    project: Project
    targets: tuple[TargetConfig, ...]


def parse(path: Path, data: Mapping[str, Any], metadata: Metadata, settings: Settings | None = None) -> Config:
    """Turn the TOML document into a Config, or raise the first ConfigError. `metadata` says what
    cargo knows of a Cargo.toml (cargo.metadata, or a stand-in in tests)."""
    settings = settings or Settings.read()
    c.reject_unknown(path, "", data, TOP_KEYS)
    targets = parse_targets(path, data)
    project = parse_project(path, data.get("project"), metadata)
    project = dataclasses.replace(project, sccache=parse_cache(path, data.get("cache", {}), settings),
                                  secrets=secret_policy(path, data, settings))
    core = _Core(project, targets)
    package = parse_package(path, data.get("package", {}))
    views = _bundle_channels(path, project, targets, package.group, data.get("channels", {}))
    publish = parse_publish(core, data.get("publish", {}))
    cfg = Config(
        project=project,
        targets=targets,
        package=package,
        checksum=parse_checksum(path, data.get("checksum", {})),
        sign=parse_sign(path, data.get("sign", {}), settings),
        channels=views[0][1],
        bundle_channels=views,
        release=parse_release(core, data.get("release"), release_page=publish.has_release_page),
        artifacts=parse_artifacts(core, data.get("artifacts"), package),
        storage=_storage(path, data.get("storage"), settings) if "storage" in data or settings.storage else None,
        publish=publish,
        bindings=_bindings(core, data["bindings"]) if "bindings" in data else None,
        desktop=_desktop(core, data["desktop"]) if "desktop" in data else None,
        sbom=_sbom(core, data["sbom"]) if "sbom" in data else None,
        provenance=_provenance(core, data["provenance"]) if "provenance" in data else None,
        ci=_ci(path, data["ci"]) if "ci" in data else None,
    )
    check_publish(cfg)
    if any(ch.homebrew or ch.scoop or ch.winget for _, ch in cfg.bundle_channels):
        from .downloads import check_package_managers  # the download URL: base-url or [publish.github]
        check_package_managers(cfg)
    if cfg.ci is not None:  # [ci] part-key = "sigstore" is checked against [sign.sigstore]
        from .ci import part_trust
        part_trust(path, cfg.ci, cfg.sign)
    return cfg


# The optional sections' modules are imported only when the file has the section: building their
# dataclasses is most of an import's cost, and a no-op build pays for every module it imports
# (docs/performance.md, "No-op build"). An absent section is None, as its parser would say.
def _ci(path: Path, raw: Any) -> CiConfig:
    from .ci import parse_ci
    return parse_ci(path, raw)


def _storage(path: Path, raw: Any, settings: Settings) -> StorageConfig | None:
    from .storage import parse_storage
    return parse_storage(path, raw, settings)


def _bindings(core: _Core, raw: Any) -> BindingsConfig | None:
    from .bindings import parse_bindings
    return parse_bindings(core, raw)


def _desktop(core: _Core, raw: Any) -> DesktopConfig | None:
    from .desktop import parse_desktop
    return parse_desktop(core, raw)


def _sbom(core: _Core, raw: Any) -> SbomConfig | None:
    from .sbom import parse_sbom
    return parse_sbom(core, raw)


def _provenance(core: _Core, raw: Any) -> ProvenanceConfig | None:
    from .sbom import parse_provenance
    return parse_provenance(core, raw)


NAMED_CHANNELS = ("pypi", "npm", "deb", "rpm")


def _bundle_channels(path: Path, project: Project, targets: tuple[TargetConfig, ...], group: str,
                     raw: Any) -> tuple[tuple[str, Channels], ...]:
    """[channels] checked for every bundle (see Project.bundles): each package released on its
    own gets its own names (a `{name}` in a channel's name is the bundle's name) and versions."""
    out = []
    for b in project.bundles(group):
        table = raw
        if isinstance(raw, dict):
            table = {k: ({**v, "name": v["name"].replace("{name}", b.name)}
                         if k in NAMED_CHANNELS and isinstance(v, dict) and isinstance(v.get("name"), str) else v)
                     for k, v in raw.items()}
        out.append((b.name, parse_channels(_Core(project.view(b), targets), table)))
    for key in NAMED_CHANNELS:
        names = [getattr(ch, key).name for _, ch in out if getattr(ch, key) is not None]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ConfigError(
                f"{path}: channels.{key}.name: every package would be published as {twice[0]!r}",
                hint='put {name} in it (the package name, e.g. "@scope/{name}"), or set [package] group = "platform"')
    return tuple(out)


def _metadata(cargo_optional: bool) -> Metadata:
    def read(manifest: Path) -> dict[str, Any]:
        try:
            return cargo.metadata(manifest)
        except ToolMissing:
            if not cargo_optional:
                raise
            return cargo.manifest_metadata(manifest)

    return read


CONFIG_LIMIT = 4 << 20  # bytes: a targets.toml is a few KiB; /dev/zero must not be read for ever


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(read_regular(path, CONFIG_LIMIT).decode("utf-8"))
    except Refused as exc:
        if exc.why != "no such file":  # a directory, a FIFO, /dev/zero, too large, unreadable
            raise ConfigError(f"{path}: {exc.why}",
                              hint="point --config (or WAVRYBUILD_CONFIG) at the targets.toml file itself") from None
        raise ConfigError(
            f"{path}: file not found",
            hint="create targets.toml (see docs/targets-toml.md), or point at one with --config, "
            "WAVRYBUILD_CONFIG or the invoke setting wavrybuild.config",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid TOML for wavrybuild: nested too deeply") from None


def load(path: str | os.PathLike[str], cargo_optional: bool = False, settings: Settings | None = None,
         metadata: Metadata | None = None) -> Config:
    """Parse targets.toml. cargo_optional: a machine without cargo still gets a Config (read from
    Cargo.toml directly), for the tasks that report on or install the toolchain. metadata: what
    stands for cargo (the release job's record of the crate, ci/recorded.py)."""
    path = Path(path).absolute()
    cfg = parse(path, read_toml(path), metadata or _metadata(cargo_optional), settings)
    # From here on every child of this process gets its environment through this config's policy.
    guard(cfg.project.secrets)
    return cfg
