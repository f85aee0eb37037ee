"""Package-manager channels fed from the binaries already built: PyPI wheels and npm packages.

`[channels.<name>]` tables are checked here when targets.toml is loaded, so a bad package name or a
version the channel cannot carry is refused before anything is built or written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..config import Config
    from .installer import InstallerConfig
    from .linux import LinuxPackageConfig
    from .npm import NpmConfig
    from .wheel import WheelConfig

CHANNELS = ("pypi", "npm", "deb", "rpm", "installer")


@dataclass(frozen=True)
class Channels:
    pypi: WheelConfig | None = None
    npm: NpmConfig | None = None
    deb: LinuxPackageConfig | None = None
    rpm: LinuxPackageConfig | None = None
    installer: InstallerConfig | None = None


def parse_channels(cfg: Config) -> Channels:
    where = cfg.project.config_path
    table = cfg.raw.get("channels", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: channels: expected a table with [channels.pypi] / [channels.npm]")
    from ..config import reject_unknown

    reject_unknown(where, "channels.", table, CHANNELS)
    pypi = npm = None
    if "pypi" in table:
        from .wheel import parse_wheel_config, pep440

        pypi = parse_wheel_config(cfg)
        pep440(cfg.project.version, where)
    if "npm" in table:
        from .npm import parse_npm_config

        npm = parse_npm_config(cfg)
    linux = {}
    for fmt in ("deb", "rpm"):
        if fmt in table:
            from .linux import parse_linux_config

            linux[fmt] = parse_linux_config(cfg, fmt)
    installer = None
    if "installer" in table:
        from .installer import parse_installer_config

        installer = parse_installer_config(cfg)
    return Channels(pypi, npm, linux.get("deb"), linux.get("rpm"), installer)
