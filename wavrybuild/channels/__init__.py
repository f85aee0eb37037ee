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
    from .npm import NpmConfig
    from .wheel import WheelConfig

CHANNELS = ("pypi", "npm")


@dataclass(frozen=True)
class Channels:
    pypi: WheelConfig | None = None
    npm: NpmConfig | None = None


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
    return Channels(pypi, npm)
