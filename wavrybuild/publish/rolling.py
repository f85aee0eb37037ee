"""The rolling track: [[artifacts]] with a `tag` (a website on "website-latest") are released on
their own tag, apart from the versioned release. `invoke release` ends with them; `invoke release
--only artifacts` runs nothing else — no cargo, no package, channel or repository stage, and the
versioned dist/, its SHA256SUMS and its GitHub release stay as they are.

Each tag has its own small release set in dist/.wavrybuild/rolling/<tag>/: the archives, a
manifest.json and a SHA256SUMS listing only them (signed with [sign]'s detached methods), which
pull-deploy reads from <download URL>/<tag>/. It is published to [publish.github] on that tag as a
rolling release: the tag moves to this commit, an asset of the same name and other bytes is
replaced, one no longer made is removed, and the same bytes upload nothing."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import BinaryIO, ClassVar

from .. import proc
from ..checksum import SUMS_NAME, format_sums
from ..config import Config
from ..config.artifacts import ExtraArtifact, RollingTag, rolling
from ..config.checks import TagTemplate
from ..config.publish import GitHubConfig
from ..dist import DistState, Transaction, clean_tmp
from ..errors import ConfigError
from ..fsutil import state_dir, tmp_dir, write_atomic
from ..manifest import Manifest, git_state
from ..package.archive import HashingWriter, source_date_epoch, write_archive
from ..package.artifacts import KIND, command_failed, entries
from ..pipeline.stage import Run, Step
from ..sign import signatures as sg
from ..ui import human_size, mask_for_ci
from .base import PublishResult, ReleaseRef, collect

ONLY = ("artifacts",)  # what `invoke release --only` takes


def rolling_dir(dist: Path, tag: RollingTag) -> Path:
    """Where a tag's release set is kept: never in dist/ itself, whose files are the versioned release."""
    return state_dir(dist) / "rolling" / tag


@dataclasses.dataclass(frozen=True)
class RollingPlan:
    """One tag's release: what is packed, and where it is published (None: kept local)."""

    tag: RollingTag
    directory: Path
    artifacts: tuple[ExtraArtifact, ...]
    github: GitHubConfig | None


def plan(cfg: Config, *, publish: bool) -> list[RollingPlan]:
    """Every rolling tag's release. A tag needs [publish.github] to be published, and may not be
    the versioned release's own tag (its assets would be replaced by the website's)."""
    path = cfg.project.config_path
    groups = rolling(cfg.artifacts)
    if not groups:
        raise ConfigError(f"{path}: artifacts: no [[artifacts]] entry has a tag, so there is no rolling release",
                          hint='add tag = "website-latest" to the [[artifacts]] entry to release on its own')
    gh = cfg.publish.github
    if publish and gh is None:
        tags = ", ".join(groups)
        raise ConfigError(f"{path}: artifacts: tag {tags}: a rolling tag is published to [publish.github], "
                          "which is not configured",
                          hint="add [publish.github] (docs/publishing.md), or pass --no-publish to make it locally")
    if gh is not None:
        values = ReleaseRef(cfg.project.name, cfg.project.version, "0" * 40).values()
        try:
            versioned = gh.tag.render(values)
        except ValueError:
            versioned = None
        for tag in groups:
            if tag == versioned:
                raise ConfigError(f"{path}: artifacts: tag {tag!r} is the versioned release's own tag "
                                  f"(publish.github.tag renders to {versioned!r})",
                                  hint='give the rolling artifacts a tag of their own, e.g. tag = "website-latest"')
    return [RollingPlan(tag, rolling_dir(cfg.project.dist_dir, tag), arts,
                        _github(gh, tag) if publish and gh is not None else None)
            for tag, arts in groups.items()]


def _github(gh: GitHubConfig, tag: RollingTag) -> GitHubConfig:
    # Published at once (no draft), never a pre-release of the app nor its "Latest" release, and
    # re-pointed at each commit.
    return dataclasses.replace(gh, tag=TagTemplate.parse(str(tag)), rolling=True, draft=False, prerelease=False,
                               latest=False)


class RollingStage:
    name: ClassVar[str] = "rolling"

    def __init__(self, *, publish: bool = True) -> None:
        self.publish = publish
        self.results: list[PublishResult] = []

    def applies(self, run: Run) -> bool:
        return bool(rolling(run.cfg.artifacts))

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return {}  # the commands always run (their inputs are not ours to know); unchanged bytes stay put

    def steps(self, run: Run, todo: Sequence[str] | None) -> Sequence[Step]:
        out: list[Step] = []
        for p in plan(run.cfg, publish=self.publish):
            out += self._steps(run, p)
        return out

    def _steps(self, run: Run, p: RollingPlan) -> list[Step]:
        cfg = run.cfg
        state = DistState(p.directory)
        holder: list[Transaction] = []
        rows: list[tuple[str, str, str]] = []

        def start() -> None:
            mtime, mtime_from = source_date_epoch(cfg.project.root)
            p.directory.mkdir(parents=True, exist_ok=True)
            clean_tmp(p.directory)
            old = state.manifest
            manifest = Manifest(
                crate=cfg.project.package, name=cfg.project.name, version=cfg.project.version,
                git=git_state(cfg.project.manifest_path.parent), source_date_epoch=mtime,
                source_date_epoch_from=mtime_from, tools={}, artifacts=list(old.artifacts) if old else [],
                signatures=list(old.signatures) if old else [])
            holder.append(Transaction(state, KIND, manifest))

        out = [Step.finish(start)]
        for a in p.artifacts:
            if a.command:
                # No credential reaches it: proc gives every child env.SecretPolicy's environment.
                out.append(Step.command(proc.Command(a.command, cwd=cfg.project.root), on_line=run.ui.raw,
                                        failed=partial(command_failed, a)))

            def pack(a: ExtraArtifact = a) -> None:
                files = entries(a)
                mtime = holder[0].manifest.source_date_epoch

                def write(f: BinaryIO) -> None:
                    write_archive(HashingWriter(f), a.format, a.top, files, mtime)  # type: ignore[arg-type]

                art = holder[0].add(a.name, write, target="", triple="", fmt=a.format, binaries=[])
                rows.append((a.name, str(len(files)), human_size(art.size)))

            out.append(Step.write(f"would pack {a.directory} into {p.directory / a.name} ({a.format})", pack))

        def commit() -> bool:
            changed = _commit(holder[0], p)
            run.ui.table(f"Rolling release {p.tag}", ["artifact", "files", "size", "state"],
                         [(*r, "written" if r[0] in holder[0].written else "unchanged") for r in rows])
            return changed

        out += [Step.finish(commit),
                Step.write(f"would write {p.directory / SUMS_NAME} for the artifacts of {p.tag} only"),
                *self._sign_steps(run, p, state)]
        if p.github is not None:
            out.append(Step.write(f"would publish {p.directory} to {p.github.repo} release {p.tag} (rolling: "
                                  "same-named assets replaced, others removed)", partial(self._publish, run, p)))
        return out

    def _sign_steps(self, run: Run, p: RollingPlan, state: DistState) -> list[Step]:
        methods = sg.detached_methods(run.cfg.sign)
        if not methods:
            return []

        def sign() -> bool:
            sums, manifest = p.directory / SUMS_NAME, state.require_manifest()
            kept = [s for s in manifest.signatures if (p.directory / s["file"]).is_file() and s["signs"] == SUMS_NAME]
            todo = [m for m in methods if not any(s["method"] == m for s in kept)]
            if not todo:
                return False  # SHA256SUMS is unchanged (a change removes its signatures)
            envs = {"gpg": run.cfg.sign.gpg.passphrase_env, "minisign": run.cfg.sign.minisign.passphrase_env}
            mask_for_ci([sg.Secret(envs[m]).value for m in todo if m in envs])
            work = tmp_dir(p.directory) / "sign"
            work.mkdir(parents=True, exist_ok=True)
            try:
                jobs = sg.plan(run.cfg, p.directory, [sums], work, only=tuple(todo))
                for job in jobs:
                    run.ui.command(job.command.display())
                    sg.run_job(job)
                for job in jobs:
                    write_atomic(p.directory / job.output.name, job.output.read_bytes(), tmp_dir=tmp_dir(p.directory))
            finally:
                shutil.rmtree(work, ignore_errors=True)
            manifest.signatures = sorted(kept + [{"method": j.method, "file": j.output.name, "signs": SUMS_NAME,
                                                  "signer": j.signer} for j in jobs], key=lambda s: s["file"])
            manifest.save(p.directory)
            return True

        return [Step.write(f"would sign {p.directory / SUMS_NAME} with {', '.join(methods)}", sign)]

    def _publish(self, run: Run, p: RollingPlan) -> bool:
        from .upload import _open, _upload_all

        assert p.github is not None
        release, files = collect(p.directory)
        results: list[PublishResult] = []

        def record(r: PublishResult) -> None:
            results.append(r)
            run.ui.info(r.line())

        dest = _open(run.cfg, p.github, release)
        try:
            _upload_all(dest, files, record)
        finally:
            dest.close()
        self.results += results
        run.ui.table(f"Publish {p.tag}", ["destination", "file", "action", "detail"],
                     [(r.destination, r.file, r.action, r.detail) for r in results])
        return not all(r.action == "skipped" for r in results)


def _commit(tx: Transaction, p: RollingPlan) -> bool:
    """The archives in, what this tag no longer makes out, then SHA256SUMS over exactly the set."""
    before = {a.path for a in tx.manifest.artifacts}
    changed = tx.commit(lambda a: True)
    now = {a.path for a in tx.manifest.artifacts}
    for gone in sorted(before - now):
        (p.directory / gone).unlink(missing_ok=True)
    sums = p.directory / SUMS_NAME
    text = format_sums({a.path: a.sha256 for a in tx.manifest.artifacts}).encode()
    if not sums.is_file() or sums.read_bytes() != text:
        # A new SHA256SUMS: its old signatures vouch for nothing now.
        for s in tx.manifest.signatures:
            (p.directory / s["file"]).unlink(missing_ok=True)
        tx.manifest.signatures = []
        write_atomic(sums, text, tmp_dir=tmp_dir(p.directory))
        tx.manifest.save(p.directory)
        changed = True
    return changed
