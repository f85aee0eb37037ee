"""The repos stage: this release's .deb/.rpm added to the signed apt / rpm repositories of
[channels.deb] / [channels.rpm] (static trees under dist/repo, outside SHA256SUMS), for each
that makes one (`repository`, LinuxPackageConfig.makes_repository): packages alone need no key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import ClassVar

from ...config.channels import LinuxPackageConfig
from ...errors import WavryError
from ...pipeline.requirements import GpgKey, Requirement, Tool
from ...pipeline.stage import Run, Step, configured
from .trees import update_apt, update_rpm


def _files(run: Run, lc: LinuxPackageConfig) -> list[Path]:
    manifest = run.state.manifest
    return [run.state.dist / a.path for a in (manifest.artifacts if manifest else []) if a.kind == lc.format]


def _with_repository(run: Run) -> list[LinuxPackageConfig]:
    return [lc for lc in run.cfg.channels.linux if lc.makes_repository("gpg" in run.cfg.sign.methods)]


class ReposStage:
    name: ClassVar[str] = "repos"

    def applies(self, run: Run) -> bool:
        return bool(_with_repository(run))

    def requires(self, run: Run) -> Sequence[Requirement]:
        """The indexer of each repository and the gpg key that signs them."""
        gpg = run.cfg.sign.gpg
        tools = {"deb": Tool("apt-ftparchive", "channels.deb.repository", "apt-get install apt-utils"),
                 "rpm": Tool("createrepo_c", "channels.rpm.repository", "apt-get install createrepo-c")}
        return [*(tools[lc.format] for lc in _with_repository(run)),
                GpgKey(str(gpg.key) if gpg.key else None, gpg.homedir)]

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return {}

    def steps(self, run: Run, todo: Sequence[str] | None) -> Sequence[Step]:
        out = []
        configured(run, run.cfg.channels.linux, "channels.deb / channels.rpm",
                   "add [channels.deb] and/or [channels.rpm] (docs/channels-deb-rpm.md)")
        for lc in configured(run, _with_repository(run), "channels.deb.repository / channels.rpm.repository",
                             "set repository = true in [channels.deb] / [channels.rpm] and give [sign] a gpg key "
                             "(docs/channels-deb-rpm.md)"):
            files = _files(run, lc)
            if not files and not run.dry:
                raise WavryError(f"{run.state.dist}: no .{lc.format} packages in manifest.json",
                                 hint="run `invoke linux-packages` first")
            what = ", ".join(f.name for f in files) if files else f"this release's .{lc.format} packages"
            out.append(Step.write(f"would add {what} to {lc.repo_dir} and sign it", partial(_update, run, lc, files)))
        return out


def _update(run: Run, lc: LinuxPackageConfig, files: list[Path]) -> bool:
    """The repository's tree rebuilt with `files` and signed (trees.py runs gpg and the indexers)."""
    update = update_apt if lc.format == "deb" else update_rpm
    with run.ui.group(f"{'apt' if lc.format == 'deb' else 'rpm'} repository"):
        return update(run.cfg, lc, files, run.ui.info)
