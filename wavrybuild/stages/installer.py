"""The installer stage ([channels.installer]): install.sh (and install.ps1 with a Windows target)
for the packaged archives."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from ..channels.installer import render
from ..config.channels import InstallerConfig
from ..dist import Transaction, writes
from ..pipeline.stage import Planned, Run, configured
from ..ui import human_size


class InstallerStage:
    name: ClassVar[str] = "installer"

    def applies(self, run: Run) -> bool:
        return run.cfg.channels.installer is not None

    def plan(self, run: Run) -> Sequence[Planned]:
        self._config(run)
        if run.state.manifest is None:
            return [Planned("would write install.sh / install.ps1 ([channels.installer])")]
        windows = any(t.triple.is_windows for t in run.cfg.targets)
        return [Planned(f"would write {run.state.dist / name}") for name in ("install.sh", "install.ps1")[:1 + windows]]

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return {}

    def _config(self, run: Run) -> InstallerConfig:
        return configured(run, run.cfg.channels.installer, "channels.installer",
                          'add [channels.installer] with base-url = "..." (docs/install-script.md)')

    def run(self, run: Run, todo: Sequence[str] | None) -> bool:
        cfg, ic = run.cfg, self._config(run)
        manifest = run.state.require_manifest()
        archives = {a.target: a.path for a in manifest.artifacts if a.kind == "archive"}
        tx = Transaction(run.state, "installer", manifest)
        rows = []
        for name, text in render(cfg, ic, archives).items():
            a = tx.add(name, writes(text.encode()), target="", triple="", fmt=name.rsplit(".", 1)[1],
                       binaries=list(cfg.project.binaries))
            rows.append(("(all)", name, human_size(a.size)))
        changed = tx.commit(lambda a: True)
        run.ui.table("Install scripts", ["target", "file", "size"], rows)
        return changed
