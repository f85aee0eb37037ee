"""`invoke release`: which stages run, in which order, for a whole release, a CI matrix part, or
the merge of parts. The stages live in stages/, the runner and stage protocol in pipeline/."""

from __future__ import annotations

from pathlib import Path

from .pipeline.merge import MergeStage, write_part_manifest
from .pipeline.runner import Pipeline
from .pipeline.stage import Run, Stage
from .stages.artifacts import ArtifactsStage
from .stages.build import BuildStage
from .stages.checksum import ChecksumStage
from .stages.installer import InstallerStage
from .stages.linux import LinuxStage
from .stages.notes import NotesStage
from .stages.npm import NpmStage
from .stages.package import PackageStage
from .stages.publish import PublishStage
from .stages.repos import ReposStage
from .stages.sign import SignStage
from .stages.smoke import SmokeStage
from .stages.toolchain import ToolchainStage
from .stages.wheel import WheelStage


def release_stages(*, part: bool, no_publish: bool) -> list[Stage]:
    """toolchain → build → smoke → package → wheel → npm → linux, then (not in a matrix part)
    artifacts → installer → notes → checksum → sign → repos → publish."""
    # Every chosen target must have built: the later stages take them all (chosen=True).
    stages: list[Stage] = [ToolchainStage(), BuildStage(), SmokeStage(chosen=True), PackageStage(chosen=True),
                           WheelStage(chosen=True), NpmStage(main=not part, chosen=True), LinuxStage()]
    if not part:
        stages += [ArtifactsStage(), InstallerStage(), NotesStage(), ChecksumStage(), SignStage(), ReposStage()]
        stages += [] if no_publish else [PublishStage()]
    return stages


def merge_stages(parts_dir: Path, *, no_publish: bool) -> list[Stage]:
    """Collect the parts, then what needs every target at once: the main npm package, the
    installer, checksum, sign, repos, publish. Never builds."""
    stages: list[Stage] = [MergeStage(parts_dir), NpmStage(main=True, platform_packages=False), InstallerStage(),
                           NotesStage(), ChecksumStage(), SignStage(), ReposStage()]
    return stages + ([] if no_publish else [PublishStage()])


def release(run: Run, *, no_publish: bool = False) -> Pipeline:
    pipeline = Pipeline(run)
    pipeline.pipeline(release_stages(part=run.part, no_publish=no_publish), "release")
    if run.part and not run.dry:
        write_part_manifest(run.cfg, run.targets)
    return pipeline


def merge(run: Run, parts_dir: Path, *, no_publish: bool = False) -> Pipeline:
    pipeline = Pipeline(run)
    pipeline.pipeline(merge_stages(parts_dir, no_publish=no_publish), "release")
    return pipeline
