"""`invoke release`: toolchain check → build → smoke → package → wheel → npm → linux (.deb/.rpm) →
checksum → sign → repos (apt/rpm) → publish.

Resumable: build is skipped per target when its cache key (sources, Cargo.lock, toolchain, flags,
config, wavrybuild version) matches the record; smoke and sign record their own keys in
dist/.wavrybuild/steps.json; package, checksum and publish leave unchanged files alone. A rerun
after a failure or an interruption therefore does only what is missing.

Fan-out: `--part` stops after packaging and writes dist/manifest-part-<targets>.json; `--merge DIR`
collects the parts' archives and manifests, never builds, and runs checksum → sign → publish.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Config, TargetConfig
from .errors import ConfigError, WavryError
from .record import state_dir

if TYPE_CHECKING:
    from .manifest import Artifact, Manifest
    from .ui import UI

class MergeError(WavryError):
    exit_code = 1


@dataclass
class StageResult:
    stage: str
    status: str  # done | up to date | skipped | failed | dry
    seconds: float = 0.0
    detail: str = ""


@dataclass
class Steps:
    """dist/.wavrybuild/steps.json: keys of what smoke and sign last did successfully."""

    smoke: dict[str, str] = field(default_factory=dict)
    sign: str = ""

    @staticmethod
    def path(dist: Path) -> Path:
        return state_dir(dist) / "steps.json"

    @classmethod
    def load(cls, dist: Path) -> Steps:
        try:
            data = json.loads(cls.path(dist).read_text())
            return cls(smoke=dict(data.get("smoke", {})), sign=str(data.get("sign", "")))
        except (OSError, ValueError):
            return cls()

    def save(self, dist: Path) -> None:
        from .fsutil import write_atomic

        write_atomic(self.path(dist), json.dumps({"smoke": self.smoke, "sign": self.sign}, indent=2, sort_keys=True))


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def smoke_key(cfg: Config, t: TargetConfig, build_key: str) -> str:
    return _digest(build_key, t.smoke_args, t.smoke_expect, t.runner, cfg.project.version)


def sign_key(cfg: Config, dist: Path) -> str:
    from .checksum import SUMS_NAME, sha256_file

    sums = dist / SUMS_NAME
    return _digest(sha256_file(sums) if sums.exists() else None, cfg.sign.methods, cfg.sign.artifacts,
                   sorted(cfg.sign.options))


def publish_configured(cfg: Config) -> bool:
    return cfg.publishes


class Release:
    """Runs the stages in order, each in a log group, timing it; stops at the first failing stage."""

    def __init__(self, ui: UI, cfg: Config, targets: tuple[TargetConfig, ...], *, dry: bool, force: bool,
                 parallel: int | None = None) -> None:
        self.ui = ui
        self.parallel = parallel
        self.cfg = cfg
        self.targets = targets
        self.ids = [t.id for t in targets]
        self.dry = dry
        self.force = force
        self.dist = cfg.project.dist_dir
        self.results: list[StageResult] = []

    def stage(self, name: str, fn: Callable[[], str | None]) -> None:
        start = time.monotonic()
        with self.ui.group(f"release: {name}"):
            try:
                status = fn() or ("dry" if self.dry else "done")
            except WavryError as exc:
                self.results.append(StageResult(name, "failed", time.monotonic() - start, str(exc).splitlines()[0]))
                raise
        self.results.append(StageResult(name, status, time.monotonic() - start))

    # -- stages ---------------------------------------------------------------------------------
    def toolchain(self) -> str | None:
        from . import stages
        from .errors import ToolMissing

        _tools, sts = stages.statuses(self.cfg, self.targets)
        bad = [s for s in sts if not s.buildable]
        if bad and not self.dry:
            raise ToolMissing("cannot build here: " + "; ".join(f"{s.target.id}: {', '.join(s.problems)}" for s in bad),
                              hint="run `invoke toolchain --install`, or release these targets on another runner")
        return None

    def build(self) -> str | None:
        from . import stages

        outcomes = stages.run_build(self.ui, self.cfg, self.ids, False, False, self.dry, self.force, self.parallel)
        if outcomes and all(o.cached for o in outcomes):
            return "up to date"
        return None

    def smoke(self) -> str | None:
        from . import stages
        from .record import BuildRecord

        record = BuildRecord.load(self.dist)
        steps = Steps.load(self.dist)
        keys = {t.id: smoke_key(self.cfg, t, record.targets[t.id].key)
                for t in self.targets if t.id in record.targets and record.targets[t.id].ok}
        todo = [t for t in self.ids if self.force or steps.smoke.get(t) != keys.get(t) or t not in keys]
        if not todo:
            self.ui.info("every target passed its smoke run with these binaries already")
            return "up to date"
        stages.run_smoke(self.ui, self.cfg, todo, self.dry)
        if not self.dry:
            steps.smoke.update({t: keys[t] for t in todo if t in keys})
            steps.save(self.dist)
        return None

    def package(self) -> str | None:
        from . import stages

        if self.dry:
            # Nothing is built in a dry run, so say what would be written rather than validate inputs.
            from .archive import extension

            for t in self.targets:
                name = f"{self.cfg.project.name}-{self.cfg.project.version}-{t.id}"
                self.ui.info(f"(dry) would write {self.dist / (name + extension(self.cfg.package.format_for(t)))}"
                             f" and {self.dist / 'manifest.json'}")
            return None
        changed = stages.run_package(self.ui, self.cfg, self.ids, self.dry)
        return None if changed or self.dry else "up to date"

    def wheel(self) -> str | None:
        """Python wheels from the same binaries, when [channels.pypi] is configured."""
        from . import stages

        if self.cfg.channels.pypi is None:
            return "skipped"
        if self.dry:
            # Nothing is built in a dry run: the wheels' platform tags are not known yet.
            self.ui.info("(dry) would write a Python wheel per target ([channels.pypi])")
            return None
        return None if stages.run_wheel(self.ui, self.cfg, self.ids) else "up to date"

    def npm(self, main: bool = True) -> str | None:
        """npm packages from the same binaries, when [channels.npm] is configured."""
        from . import stages
        if self.cfg.channels.npm is None:
            return "skipped"
        if self.dry:
            self.ui.info("(dry) would write an npm package per target and the main package ([channels.npm])")
            return None
        return None if stages.run_npm(self.ui, self.cfg, self.ids, main=main) else "up to date"

    def linux(self) -> str | None:
        """.deb/.rpm from the same binaries, when [channels.deb] / [channels.rpm] are configured."""
        from . import stages
        ch = self.cfg.channels
        if ch.deb is None and ch.rpm is None:
            return "skipped"
        if self.dry:
            self.ui.info("(dry) would write a .deb / .rpm per Linux target with nfpm")
            return None
        return None if stages.run_linux_packages(self.ui, self.cfg, self.ids) else "up to date"

    def installer(self) -> str | None:
        """install.sh / install.ps1, when [channels.installer] is configured."""
        from . import stages
        if self.cfg.channels.installer is None:
            return "skipped"
        if self.dry:
            self.ui.info("(dry) would write install.sh / install.ps1 ([channels.installer])")
            return None
        return None if stages.run_installer(self.ui, self.cfg) else "up to date"

    def repos(self) -> str | None:
        """The signed apt / rpm repositories, updated with this release's packages."""
        from . import stages
        ch = self.cfg.channels
        if ch.deb is None and ch.rpm is None:
            return "skipped"
        return None if stages.run_repos(self.ui, self.cfg, self.dry) or self.dry else "up to date"

    def npm_main(self) -> str | None:
        """After a merge: the main npm package (the parts brought the platform packages)."""
        from . import stages
        if self.cfg.channels.npm is None:
            return "skipped"
        if self.dry:
            self.ui.info("(dry) would write the main npm package ([channels.npm])")
            return None
        return None if stages.run_npm(self.ui, self.cfg, main=True, platforms=False) else "up to date"

    def checksum(self) -> str | None:
        from . import stages

        if self.dry:
            self.ui.info(f"(dry) would write {self.dist / 'SHA256SUMS'} from dist/manifest.json")
            return None
        return None if stages.run_checksum(self.ui, self.cfg) else "up to date"

    def sign(self) -> str | None:
        from . import stages
        from .sign import SUFFIX, detached_methods

        methods = detached_methods(self.cfg.sign)
        if not methods:
            return "skipped"
        if self.dry:
            for m in methods:
                self.ui.info(f"(dry) would sign SHA256SUMS with {m} → SHA256SUMS{SUFFIX[m]}")
            return None
        steps = Steps.load(self.dist)
        key = sign_key(self.cfg, self.dist)
        have = all((self.dist / f"SHA256SUMS{SUFFIX[m]}").is_file() for m in methods)
        if have and steps.sign == key and not self.force:
            # Re-signing would give new bytes (gpg puts a time in signatures): keep the valid ones.
            self.ui.info("signatures are current for this SHA256SUMS")
            return "up to date"
        stages.run_sign(self.ui, self.cfg)
        steps.sign = key
        steps.save(self.dist)
        return None

    def publish(self) -> str | None:
        if not publish_configured(self.cfg):
            return "skipped"
        from .publish import publish

        if self.dry and not (self.dist / "manifest.json").is_file():
            # Nothing is built in a dry run from scratch: say where it would go instead of listing files.
            for d in self.cfg.publish.destinations:
                self.ui.info(f"(dry) would publish dist/ to [publish.{d.kind}]")
            npm = self.cfg.channels.npm
            if npm and npm.publish:
                self.ui.info(f"(dry) would publish the npm packages to {npm.registry}")
            return None
        results = publish(self.cfg, self.dist, dry=self.dry, log=self.ui.info)
        if results and all(r.action == "skipped" for r in results):
            return "up to date"
        return None

    # -- summary --------------------------------------------------------------------------------
    def summary(self) -> None:
        color = {"done": "green", "up to date": "green", "skipped": "yellow", "failed": "red", "dry": "cyan"}
        rows = [(r.stage, f"[{color.get(r.status, 'white')}]{r.status}[/]", f"{r.seconds:.1f} s", r.detail)
                for r in self.results]
        self.ui.table(f"Release of {self.cfg.project.name} {self.cfg.project.version}",
                      ["stage", "result", "time", "detail"], rows)
        path = os.environ.get("GITHUB_STEP_SUMMARY")
        if path:
            lines = [f"### Release of {self.cfg.project.name} {self.cfg.project.version}", "",
                     "| stage | result | time | detail |", "| --- | --- | --- | --- |"]
            lines += [f"| {r.stage} | {r.status} | {r.seconds:.1f} s | {r.detail.replace('|', '/')} |"
                      for r in self.results]
            with open(path, "a", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n\n")


def run_release(ui: UI, cfg: Config, targets: tuple[TargetConfig, ...], *, dry: bool = False, force: bool = False,
                part: bool = False, no_publish: bool = False, parallel: int | None = None) -> Release:
    rel = Release(ui, cfg, targets, dry=dry, force=force, parallel=parallel)
    order = ["toolchain", "build", "smoke", "package", "wheel", "npm", "linux"]
    if not part:
        order += ["installer", "checksum", "sign", "repos"] + ([] if no_publish else ["publish"])
    try:
        for name in order:
            # A matrix part writes its platform packages; the merge writes the main one.
            rel.stage(name, (lambda: rel.npm(main=False)) if part and name == "npm" else getattr(rel, name))
        if part and not dry:
            write_part_manifest(cfg, targets)
    finally:
        rel.summary()
    return rel


# --- fan-out over a CI matrix -------------------------------------------------------------------


def part_name(targets: tuple[TargetConfig, ...]) -> str:
    return "manifest-part-" + "+".join(t.id for t in targets) + ".json"


def write_part_manifest(cfg: Config, targets: tuple[TargetConfig, ...]) -> Path:
    """The part's manifest, under a name of its own so that parts can be unpacked side by side."""
    from .fsutil import write_atomic
    from .manifest import MANIFEST_NAME
    from .record import tmp_dir

    dist = cfg.project.dist_dir
    dest = dist / part_name(targets)
    write_atomic(dest, (dist / MANIFEST_NAME).read_bytes(), tmp_dir=tmp_dir(dist))
    return dest


def matrix(cfg: Config, fmt: str) -> object:
    """The build matrix for CI: one job per target."""
    targets = [{"target": t.id, "triple": str(t.triple), "runs-on": "ubuntu-latest"} for t in cfg.targets]
    if fmt in ("github", "json"):
        return {"include": targets}
    if fmt == "gitlab":
        # A child pipeline (JSON is YAML): one job per target, then a merge job that needs them all.
        jobs: dict[str, object] = {"stages": ["build", "merge"]}
        setup = ["python3 -m pip install -e .", "python3 -m invoke toolchain --install"]
        for t in targets:
            jobs[f"part:{t['target']}"] = {
                "stage": "build",
                "script": [*setup, f"python3 -m invoke release --part --target {t['target']}"],
                "artifacts": {"paths": ["dist/*.tar.*", "dist/*.zip", "dist/*.whl", "dist/*.tgz",
                                             "dist/manifest-part-*.json"]},
            }
        jobs["merge"] = {
            "stage": "merge",
            "needs": [{"job": f"part:{t['target']}", "artifacts": True} for t in targets],
            "script": ["python3 -m pip install -e .", "python3 -m invoke release --merge dist"],
            "artifacts": {"paths": ["dist/"]},
        }
        return jobs
    raise ConfigError(f"--format {fmt}: unknown format", hint="use github, gitlab or json")


def _find_parts(parts_dir: Path) -> list[Path]:
    return sorted(p for p in parts_dir.rglob("manifest*.json")
                  if not any(part.startswith(".") for part in p.relative_to(parts_dir).parts)
                  and (p.name.startswith("manifest-part-") or p.name == "manifest.json"))


def run_merge(ui: UI, cfg: Config, parts_dir: Path, *, dry: bool = False, no_publish: bool = False) -> Release:
    """Collect matrix parts into dist/, then checksum → sign → publish. Never builds."""
    rel = Release(ui, cfg, cfg.targets, dry=dry, force=False)
    try:
        rel.stage("merge", lambda: _merge(ui, cfg, parts_dir, dry))
        rel.stage("npm", rel.npm_main)
        rel.stage("installer", rel.installer)
        for name in ["checksum", "sign", "repos"] + ([] if no_publish else ["publish"]):
            rel.stage(name, getattr(rel, name))
    finally:
        rel.summary()
    return rel


def _read_parts(parts_dir: Path, dist: Path) -> tuple[dict[str, tuple[Path, Artifact]], Manifest | None, dict[str, Any]]:
    """Every part manifest's artifacts by file, checked to come from one commit and to agree."""
    from .manifest import Manifest

    found: dict[str, tuple[Path, Artifact]] = {}
    context: Manifest | None = None
    rustc: dict[str, Any] = {}
    for path in _find_parts(parts_dir):
        if path.parent.resolve() == dist.resolve() and path.name == "manifest.json":
            continue  # our own output from an earlier merge
        try:
            data = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise MergeError(f"{path}: not a part manifest (not valid JSON: {exc})") from None
        if not isinstance(data, dict):
            raise MergeError(f"{path}: not a part manifest (a JSON {type(data).__name__}, not an object)")
        part = Manifest.load_data(data, path)  # refuses artifact paths outside dist/
        if context is None:
            context = part
        part_rustc = part.tools.get("rustc", {})
        if isinstance(part_rustc, dict):
            rustc.update(part_rustc)
        for key in ("crate", "version", "git", "source_date_epoch"):
            if getattr(part, key) != getattr(context, key):
                raise MergeError(f"{path}: {key} {getattr(part, key)!r} differs from the other parts' "
                                 f"{getattr(context, key)!r}", hint="every part must come from the same commit")
        for a in part.artifacts:
            # Keyed by file: a target may bring an archive and a wheel.
            if a.path in found and found[a.path][1].sha256 != a.sha256:
                raise MergeError(f"{path}: {a.path} also comes from {found[a.path][0]} with other bytes")
            found[a.path] = (path.parent / a.path, a)
    return found, context, rustc


def _check_parts(cfg: Config, found: dict[str, tuple[Path, Artifact]]) -> None:
    """Every target has its part, and every file is there with the bytes its part says."""
    from .checksum import sha256_file

    have = {a.target for _, a in found.values() if a.kind == "archive"}
    missing = [t.id for t in cfg.targets if t.id not in have]
    if missing:
        raise MergeError(f"no part for {', '.join(missing)}: a merge never builds",
                         hint="run the matrix job for these targets (or drop them from targets.toml)")
    for src, a in found.values():
        if not src.is_file():
            raise MergeError(f"{src}: listed by a part manifest but missing")
        if sha256_file(src) != a.sha256:
            raise MergeError(f"{src}: sha256 differs from its part manifest (corrupted upload?)")


def _merge(ui: UI, cfg: Config, parts_dir: Path, dry: bool) -> str | None:
    from .checksum import sha256_file
    from .fsutil import atomic_writer, fsync_dir
    from .manifest import Manifest
    from .record import tmp_dir

    if not parts_dir.is_dir():
        raise MergeError(f"{parts_dir}: no such directory", hint="download the matrix jobs' parts into it first")
    dist = cfg.project.dist_dir
    found, context, rustc = _read_parts(parts_dir, dist)
    if context is None:
        raise MergeError(f"{parts_dir}: no part manifests (manifest-part-*.json) found",
                         hint="each matrix job runs `invoke release --part --target T` and uploads dist/")
    _check_parts(cfg, found)
    if dry:
        for _path, (src, a) in sorted(found.items()):
            ui.info(f"(dry) would copy {src} → {dist / a.path}")
        return None
    for _path, (src, a) in sorted(found.items()):
        dest = dist / a.path
        if dest.is_file() and sha256_file(dest) == a.sha256:
            continue
        with atomic_writer(dest, mode=0o644, tmp_dir=tmp_dir(dist)) as f, src.open("rb") as s:
            while chunk := s.read(1 << 20):
                f.write(chunk)
    fsync_dir(dist)
    merged = Manifest(
        crate=context.crate, name=context.name, version=context.version, git=context.git,
        source_date_epoch=context.source_date_epoch, source_date_epoch_from=context.source_date_epoch_from,
        tools=context.tools, artifacts=[a for _, (_, a) in sorted(found.items())],
    )
    merged.tools = {**context.tools, "rustc": dict(sorted(rustc.items()))}
    old = Manifest.load(dist)
    if old is not None and [a.sha256 for a in old.artifacts] == [a.sha256 for a in merged.artifacts]:
        merged.checksums, merged.signatures = old.checksums, old.signatures
    merged.save(dist)
    ui.info(f"merged {len(found)} targets from {parts_dir} into {dist}")
    return None
