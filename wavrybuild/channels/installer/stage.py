"""The installer stage ([channels.installer]): install.sh (and install.ps1 with a Windows target)
for the packaged archives."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from ...config import Bundle, Config
from ...config.channels import InstallerConfig
from ...dist import Transaction, writes
from ...pipeline.stage import Run, Step, configured
from ...ui import human_size
from .format import render


class InstallerStage:
    name: ClassVar[str] = "installer"

    def applies(self, run: Run) -> bool:
        return run.cfg.channels.installer is not None

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return {}

    def _config(self, run: Run) -> InstallerConfig:
        return configured(run, run.cfg.channels.installer, "channels.installer",
                          'add [channels.installer] with base-url = "..." (docs/install-script.md)')

    def steps(self, run: Run, todo: Sequence[str] | None) -> Sequence[Step]:
        cfg, ic = run.cfg, self._config(run)
        if run.dry and run.state.manifest is None:  # nothing packaged yet: the archives are not known
            return [Step.write("would write install.sh / install.ps1 ([channels.installer])")]
        manifest = run.state.require_manifest()
        tx = Transaction(run.state, "installer", manifest)
        rows: list[tuple[str, str, str]] = []
        out = []
        for bundle in cfg.bundles:
            # One bundle: every archive (manifests older than `packages` included); several: its own.
            archives = {a.target: a.path for a in manifest.artifacts if a.kind == "archive"
                        and (len(cfg.bundles) == 1 or a.packages == list(bundle.packages))}
            names = dict(zip(("install.sh", "install.ps1"), script_names(cfg, bundle), strict=True))
            for name, text in render(cfg.view(bundle), ic, archives).items():

                def add(bundle: Bundle = bundle, name: str = names[name], text: str = text) -> None:
                    a = tx.add(name, writes(text.encode()), target="", triple="", fmt=name.rsplit(".", 1)[1],
                               binaries=list(bundle.binaries), packages=bundle.packages)
                    rows.append((bundle.name, name, human_size(a.size)))

                out.append(Step.write(f"would write {run.state.dist / names[name]}", add))

        def commit() -> bool:
            changed = tx.commit(lambda a: True)
            run.ui.table("Install scripts", ["installs", "file", "size"], rows)
            return changed

        return [*out, Step.finish(commit)]


def script_names(cfg: Config, bundle: Bundle) -> tuple[str, str]:
    """install.sh and install.ps1; with a package per bundle, install-<package>.sh and .ps1."""
    if len(cfg.bundles) == 1:
        return "install.sh", "install.ps1"
    return f"install-{bundle.name}.sh", f"install-{bundle.name}.ps1"
