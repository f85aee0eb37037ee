"""Crates with Python bindings: cibuildwheel, with its build matrix taken from targets.toml.

cibuildwheel builds extension wheels per Python version inside manylinux/musllinux containers (Linux)
or on the runner itself (macOS, Windows). This module only plans: from `[bindings]` and the targets
it derives the CIBW_* variables (which build identifiers, which architectures, which manylinux image
for a target's glibc floor) and the argv; `invoke wheels` runs it. Variables set here override the
package's own `[tool.cibuildwheel]` only for the matrix; everything else there is left to it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...config import Config
from ...config.bindings import BindingsConfig, Selection, selections
from ...errors import ConfigError

PLATFORMS = ("linux", "macos", "windows")
# cibuildwheel's architecture names, by Rust arch.
RUSTUP = "curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal"


@dataclass(frozen=True)
class CibwPlan:
    platform: str
    argv: tuple[str, ...]
    env: dict[str, str]
    selections: tuple[Selection, ...]


def _own_config(package_dir: Path) -> dict[str, Any]:
    with (package_dir / "pyproject.toml").open("rb") as f:
        table: dict[str, Any] = tomllib.load(f).get("tool", {}).get("cibuildwheel", {})
        return table


def plan(cfg: Config, bc: BindingsConfig, platform: str, extra: tuple[str, ...] = ()) -> CibwPlan:
    """The cibuildwheel run for one platform: its argv and the CIBW_* variables of the matrix."""
    if platform not in PLATFORMS:
        raise ConfigError(f"--platform {platform}: expected one of {', '.join(PLATFORMS)}")
    chosen = tuple(s for s in selections(cfg, bc) if s.platform == platform)
    if not chosen:
        have = sorted({s.platform for s in selections(cfg, bc)})
        raise ConfigError(f"{cfg.project.config_path}: no {platform} target for cibuildwheel",
                          hint="platforms with targets: " + (", ".join(have) or "none"))
    env: dict[str, str] = {
        "CIBW_BUILD": " ".join(f"{py}-{s.suffix}" for s in chosen for py in bc.python),
        f"CIBW_ARCHS_{platform.upper()}": " ".join(dict.fromkeys(s.arch for s in chosen)),
    }
    for s in chosen:
        if s.image:
            env[s.image[0]] = s.image[1]
    own = _own_config(bc.package_dir)
    mine = own.get(platform, {}) if isinstance(own.get(platform), dict) else {}
    if bc.install_rust and platform == "linux" and "before-all" not in own and "before-all" not in mine:
        # The manylinux/musllinux containers have no Rust; the macOS and Windows runners do.
        env["CIBW_BEFORE_ALL_LINUX"] = RUSTUP
        env["CIBW_ENVIRONMENT_LINUX"] = 'PATH="$HOME/.cargo/bin:$PATH"'
    if platform == "macos" and any(s.arch == "arm64" for s in chosen):
        env.setdefault("MACOSX_DEPLOYMENT_TARGET", "11.0")
    argv = ("cibuildwheel", "--platform", platform, "--output-dir", str(bc.output_dir), *extra, str(bc.package_dir))
    return CibwPlan(platform, argv, env, chosen)
