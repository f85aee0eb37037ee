"""`invoke release`: which stages run, in which order, for a whole release, a CI matrix part, or
the merge of parts. Each stage lives in its feature package (build/, package/, channels/<name>/, …), the runner and
stage protocol in pipeline/, the merge of CI parts in ci/."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .build.stage import BuildStage
from .channels.container.stage import ContainerStage
from .channels.desktop.stage import DesktopStage
from .channels.installer.stage import InstallerStage
from .channels.linux.stage import LinuxStage
from .channels.npm.stage import NpmStage
from .channels.pkgmanagers.stage import PackageManagersStage
from .channels.repos.stage import ReposStage
from .channels.wheel.stage import WheelStage
from .ci.merge import MergeStage, write_part_manifest
from .codesign.stage import CodesignStage
from .errors import ConfigError, WavryError
from .fsutil import state_dir
from .notes.stage import NotesStage
from .package.artifacts import ArtifactsStage
from .package.cratefiles import CrateFilesStage
from .package.stage import PackageStage
from .pipeline.runner import Pipeline
from .pipeline.stage import Run, Stage
from .provenance.stage import ProvenanceStage
from .publish.rolling import RollingStage
from .publish.stage import PublishStage
from .sbom.stage import SbomStage
from .sign.stage import SignStage
from .sign.sums import ChecksumStage
from .smoke.stage import SmokeStage
from .toolchain.stage import ToolchainStage
from .ui import Reporter

if TYPE_CHECKING:
    from .config.storage import StorageConfig
    from .pipeline.requirements import Problem
    from .snapshot import Snapshot


def release_stages(*, part: bool, no_publish: bool, repos: bool = True) -> list[Stage]:
    """toolchain → build → smoke → codesign → package → sbom → wheel → npm → linux → desktop → artifacts →
    crates (these two in a matrix: the part of the first target), then (not in a matrix part) installer →
    package-managers → container → notes →
    provenance → checksum → sign → repos → publish → rolling (the [[artifacts]] on a rolling tag).
    repos=False (a snapshot): the apt/rpm repositories are left as they are."""
    # Every chosen target must have built: the later stages take them all (chosen=True).
    stages: list[Stage] = [ToolchainStage(), BuildStage(), SmokeStage(chosen=True), CodesignStage(chosen=True),
                           PackageStage(chosen=True),
                           SbomStage(chosen=True), WheelStage(chosen=True), NpmStage(main=not part, chosen=True),
                           LinuxStage(), DesktopStage(chosen=True), ArtifactsStage(), CrateFilesStage()]
    if not part:
        stages += [InstallerStage(), PackageManagersStage(), ContainerStage(), NotesStage(), ProvenanceStage(),
                   ChecksumStage(), SignStage()]
        stages += [ReposStage()] if repos else []
        stages += [] if no_publish else [PublishStage()]
        stages += [RollingStage(publish=not no_publish)]
    return stages


def merge_stages(parts_dir: Path, *, no_publish: bool, repos: bool = True) -> list[Stage]:
    """Collect the parts, then what needs every target at once: the main npm package, the
    installer, the package managers' manifests, checksum, sign, repos, publish. Never builds."""
    stages: list[Stage] = [MergeStage(parts_dir), NpmStage(main=True, platform_packages=False), InstallerStage(),
                           PackageManagersStage(), NotesStage(), ProvenanceStage(), ChecksumStage(), SignStage()]
    stages += [ReposStage()] if repos else []
    return stages + ([] if no_publish else [PublishStage()]) + [RollingStage(publish=not no_publish)]


def release_only(run: Run, only: str, *, no_publish: bool = False) -> Pipeline:
    """`invoke release --only artifacts`: the rolling artifacts alone — made, checksummed, signed
    and published on their tags — and nothing of the versioned release (no cargo, no dist/ change)."""
    from .publish.rolling import ONLY

    if only not in ONLY:
        from .errors import suggest

        near = suggest(only, list(ONLY))
        raise ConfigError(f"--only {only}: unknown" + (f"; did you mean {near!r}?" if near else ""),
                          hint="--only takes: " + ", ".join(ONLY))
    pipeline = Pipeline(run)
    try:
        with run.ui.group("release: rolling"):
            pipeline.stage(RollingStage(publish=not no_publish), always=True)
    finally:
        pipeline.summary()
    return pipeline


def release(run: Run, *, no_publish: bool = False, snapshot: Snapshot | None = None) -> Pipeline:
    """The whole release (or a CI part). A snapshot (snapshot.py) is built and packaged with its
    snapshot version, and neither published nor added to a repository. Everything the stages
    will need (programs, credentials, keys) is checked first: a missing one stops it before the build."""
    withheld = no_publish or snapshot is not None
    if not run.part:
        _check_rolling(run, no_publish=withheld)
    stages = release_stages(part=run.part, no_publish=withheld, repos=snapshot is None)
    _start(run, stages, snapshot)
    pipeline = Pipeline(run, note=snapshot.summary if snapshot else None)
    pipeline.pipeline(stages, "release")
    if run.part and not run.dry:
        written = write_part_manifest(run.cfg, run.targets)
        if run.cfg.storage is not None:
            upload_part(run, written)
    elif run.part and run.cfg.storage is not None:
        run.ui.info(f"would upload the part to s3://{run.cfg.storage.bucket}/{run.cfg.storage.prefix}/<commit>/")
    return pipeline


def upload_part(run: Run, manifest_path: Path) -> None:
    """The part's artifacts and manifest into [storage], under this commit."""
    from .ci import storage
    from .ci.partsign import SIG_SUFFIXES

    sc = run.cfg.storage
    assert sc is not None
    dist = run.cfg.project.dist_dir
    commit = json.loads(manifest_path.read_text()).get("git", {}).get("commit") or ""
    w = storage.where(sc, str(commit))
    part = manifest_path.name.removeprefix("manifest-part-").removesuffix(".json")
    with run.ui.group(f"release: upload the part to {w.url()}/{part}/"):
        signatures = (manifest_path.with_name(manifest_path.name + x) for x in SIG_SUFFIXES)
        signature = [s.name for s in signatures if s.is_file()]
        rows = storage.upload_part(sc, w, part, dist, storage.part_files(dist, manifest_path) + signature,
                                   manifest_path.name,
                                   run.ui.info)
    run.ui.table(f"Part {part} in {w.url()}", ["file", "state"], rows)


def fetch_parts(storage_cfg: StorageConfig | None, config_path: Path, dist: Path, ui: Reporter, merge: str | None,
                commit: str | None, *, dry: bool) -> Path:
    """The directory holding the parts: `merge` itself, or what [storage] (or an s3:// URL) holds.
    Taken before the config is loaded: the release job reads the crate from the parts (ci/recorded.py)."""
    from .ci import storage
    from .ci.recorded import part_trust_of
    from .config.load import read_toml
    from .config.storage import StorageConfig, parse_s3_url

    if merge and not merge.startswith("s3://"):
        if commit:
            raise WavryError("give --merge DIR or --merge-from-storage COMMIT, not both")
        return Path(merge)
    if merge:
        bucket, prefix = parse_s3_url(merge, "--merge")
        base = storage_cfg or StorageConfig(bucket, "")
        sc = StorageConfig(bucket, "", base.endpoint_url, base.region)
        w = storage.Where(bucket, prefix)
    else:
        if storage_cfg is None:
            raise ConfigError(f"{config_path}: storage: not configured",
                              hint='add [storage] url = "s3://bucket/prefix", or give --merge DIR')
        sc = storage_cfg
        w = storage.where(sc, commit or "")
    dest = state_dir(dist) / "parts" / w.prefix.rsplit("/", 1)[-1]
    if dry:
        # The plan lists what the parts hold: read them (storage is only read) into a temp dir, not dist/.
        dest = Path(tempfile.mkdtemp(prefix="wavrybuild-parts-"))
        ui.info(f"(dry) reading the parts under {w.url()} into {dest} to plan the merge")
    shutil.rmtree(dest, ignore_errors=True)
    with ui.group(f"release: download the parts from {w.url()}"):
        # [ci] part-key: each part's signature is checked as it comes in, before its other files.
        count = storage.download(sc, w, dest, ui.info, key=part_trust_of(config_path, read_toml(config_path)))
    ui.info(f"{count} files from {w.url()}")
    return dest


def _check_rolling(run: Run, *, no_publish: bool) -> None:
    """A rolling tag that could not be published stops the release before anything is built, not
    after the versioned release went out."""
    from .config.artifacts import rolling
    from .publish.rolling import plan

    if rolling(run.cfg.artifacts):
        plan(run.cfg, publish=not no_publish)


def merge(run: Run, parts_dir: Path, *, no_publish: bool = False, snapshot: Snapshot | None = None) -> Pipeline:
    withheld = no_publish or snapshot is not None
    _check_rolling(run, no_publish=withheld)
    stages = merge_stages(parts_dir, no_publish=withheld, repos=snapshot is None)
    _start(run, stages, snapshot)
    pipeline = Pipeline(run, note=snapshot.summary if snapshot else None)
    pipeline.pipeline(stages, "release")
    return pipeline


def requirement_problems(run: Run) -> tuple[Snapshot | None, list[Problem]]:
    """`invoke doctor`: what a whole release from this checkout would miss (a snapshot publishes
    nothing, so its credentials are not needed), and the snapshot it would be, if it is one."""
    from .pipeline.requirements import missing, of_stages
    from .snapshot import Snapshot, decide_for

    decision = decide_for(run.cfg, flag=False)
    snap = decision if isinstance(decision, Snapshot) else None
    stages = release_stages(part=False, no_publish=snap is not None, repos=snap is None)
    return snap, missing(of_stages(run, stages))


def _start(run: Run, stages: list[Stage], snapshot: Snapshot | None) -> None:
    """Say whether this is a snapshot, then stop (one line per problem) if anything is missing."""
    from .pipeline.requirements import check

    if snapshot is not None:
        run.ui.warn(f"{snapshot.summary}: {run.cfg.project.title} is built as a snapshot; "
                    f"release from the tag, or pass --publish-untagged to publish anyway")
    check(run, stages, "the snapshot" if snapshot is not None else "the release")
