"""`invoke wheels`: cibuildwheel for a crate with Python bindings, its matrix from targets.toml
([bindings]). Not a release stage: cibuildwheel builds in its own containers and output dir."""

from __future__ import annotations

from ... import proc
from ...config import Config
from ...errors import ConfigError
from ...ui import Reporter
from .plan import plan


def run_wheels(ui: Reporter, cfg: Config, platform: str, *, identifiers: bool = False, dry: bool = False) -> None:
    bc = cfg.bindings
    if bc is None:
        raise ConfigError(f"{cfg.project.config_path}: bindings: not configured",
                          hint="add a [bindings] table with package-dir (docs/channels-pypi.md)")
    p = plan(cfg, bc, platform, ("--print-build-identifiers",) if identifiers else ())
    cmd = proc.Command(p.argv, env=p.env)
    ui.command(cmd.display(), dry=dry)
    if dry:
        return
    if identifiers:
        ui.result(proc.run(cmd).stdout)
        return
    with ui.group(f"cibuildwheel --platform {platform}"):
        proc.run(cmd, on_stderr_line=ui.raw, on_stdout_line=ui.raw, tail_lines=60)
