"""The crates stage ([publish.crates]): the listed workspace crates packaged by `cargo package`
(which verifies each by building the packaged sources, a crate after the workspace crates it
depends on, cargo's local overlay standing in for a registry they are not in yet), each `.crate`
file and the web API's publish metadata for it (cratemeta.py, from `cargo metadata`) listed in the
manifest as artifacts of kind "crate". The release job publishes them with no cargo (publish/crates.py).
In a CI matrix exactly one part makes them: the one with the first configured target."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache, partial
from pathlib import Path
from typing import ClassVar

from .. import cargo, proc
from ..config import Config
from ..config.publish import CratesConfig
from ..cratemeta import KIND, CrateMeta, crate_file, from_cargo, metadata_file, publish_order
from ..dist import Transaction, writes
from ..errors import CommandFailed, WavryError
from ..pipeline.stage import Run, Step
from ..ui import human_size


def package_command(cfg: Config, cc: CratesConfig, metas: Sequence[CrateMeta], workspace: Path) -> proc.Command:
    """One `cargo package` for every crate: cargo verifies each against the others as packaged."""
    picks = [arg for m in metas for arg in ("--package", m.name)]
    registry = ("--registry", cc.registry) if cc.registry else ()
    # It runs the build scripts: it inherits no credential (env.SecretPolicy), and not the registry
    # token even when [project] pass-env lets it into builds.
    return proc.Command(("cargo", "package", "--manifest-path", str(workspace / "Cargo.toml"), *picks, *registry),
                        cwd=cfg.project.root, unset_env=frozenset({cc.token_env}))


class CrateFilesStage:
    name: ClassVar[str] = "crates"

    def applies(self, run: Run) -> bool:
        return run.cfg.publish.crates is not None and (not run.part or run.cfg.targets[0] in run.targets)

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return {}  # cargo package always runs (cheap when built); unchanged bytes stay put

    def steps(self, run: Run, todo: Sequence[str] | None) -> Sequence[Step]:
        cfg, cc = run.cfg, run.cfg.publish.crates
        assert cc is not None
        meta = cargo.metadata(cfg.project.manifest_path)
        order = publish_order(meta["packages"], cc.packages, cfg.project.config_path)
        metas = [from_cargo(p, cc.index) for p in order]
        out_dir = Path(meta["target_directory"]) / "package"
        tx = cache(lambda: Transaction(run.state, KIND, run.state.require_manifest()))
        rows: list[tuple[str, str, str]] = []

        def add(m: CrateMeta) -> None:
            src = out_dir / crate_file(m.name, m.vers)
            if not src.is_file():
                raise WavryError(f"{src}: `cargo package` did not write it", hint="check cargo's output above")
            a = tx().add(crate_file(m.name, m.vers), writes(src.read_bytes()), target="", triple="", fmt="crate",
                         binaries=[], packages=[m.name])
            tx().add(metadata_file(m.name, m.vers), writes(m.json()), target="", triple="", fmt="json", binaries=[],
                     packages=[m.name])
            rows.append((f"{m.name} {m.vers}", a.path, human_size(a.size)))

        def commit() -> bool:
            changed = tx().commit(lambda a: True)
            run.ui.table("Crates", ["crate", "file", "size", "state"],
                         [(*r, "written" if r[1] in tx().written else "unchanged") for r in rows])
            return changed

        dist = run.state.dist
        return [Step.finish(lambda: tx() is None),  # False: opening it changes nothing
                Step.command(package_command(cfg, cc, metas, Path(meta["workspace_root"])), on_line=run.ui.raw,
                             failed=_failed),
                *(Step.write(f"would write {dist / crate_file(m.name, m.vers)} and {metadata_file(m.name, m.vers)} "
                             "(the publish request's metadata)", partial(add, m)) for m in metas),
                Step.finish(commit)]


def _failed(exc: CommandFailed) -> WavryError:
    return WavryError(f"crates: `cargo package` failed (exit {exc.returncode}):\n{exc.stderr_tail[-800:]}",
                      hint="fix the crate (cargo package verifies it by building the packaged sources); nothing "
                           "of it reached dist/")
