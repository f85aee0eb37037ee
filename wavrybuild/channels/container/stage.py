"""The container stage ([channels.container]): per bundle, one OCI image index over the platforms
of channels.container.targets, written as an OCI image layout to
dist/.wavrybuild/container/<bundle>/ (swapped in whole). `invoke publish` pushes it
(publish/container.py). Static musl binaries go FROM scratch; the others onto the pinned base,
fetched from its registry when the stage runs (every blob checked against its digest)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from ...config import Bundle, Config, TargetConfig
from ...config.container import ContainerConfig, platform_of
from ...errors import WavryError
from ...fsutil import tmp_dir
from ...net import Client
from ...pipeline.stage import Run, Step, configured
from ...ui import human_size
from .format import Base, Blob, Platform, image, index, layout_dir, layout_index, write_layout
from .registry import fetch_base, read_login


def platform(t: TargetConfig) -> Platform:
    return Platform(*platform_of(t))


def entrypoint(view: Config, names: Sequence[str]) -> str:
    """The binary the image runs: the one named like the bundle, else the first."""
    return view.project.name if view.project.name in names else names[0]


class ContainerStage:
    name: ClassVar[str] = "container"

    def applies(self, run: Run) -> bool:
        return run.cfg.channels.container is not None

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return {}

    def _config(self, run: Run) -> ContainerConfig:
        return configured(run, run.cfg.channels.container, "channels.container",
                          'add [channels.container] with registry = "https://…" (docs/channels-container.md)')

    def _targets(self, run: Run, cc: ContainerConfig) -> list[TargetConfig]:
        """channels.container.targets, when this run chose them: all of them (an index missing a
        platform would replace the full one under the same tag), or none (the stage has nothing to do)."""
        mine = [t for t in run.cfg.targets if t.id in cc.targets]
        chosen = [t for t in mine if t.id in run.ids]
        if chosen and len(chosen) != len(mine):
            missing = [t.id for t in mine if t.id not in run.ids]
            raise WavryError(f"channels.container: the image needs {', '.join(missing)} too",
                             hint="choose every target of channels.container.targets (`--target` each, or none)")
        return chosen

    def steps(self, run: Run, todo: Sequence[str] | None) -> Sequence[Step]:
        cc = self._config(run)
        targets = self._targets(run, cc)
        if not targets:
            return [Step.note("container: no target of channels.container.targets chosen")]
        built = run.state.built_ids()
        plan = ", ".join(f"{platform(t)} ← {t.id} " + ("FROM scratch" if t.triple.is_musl else f"FROM {cc.base}")
                         for t in targets)
        rows: list[tuple[str, str, str, str]] = []
        steps: list[Step] = []
        for bundle in run.cfg.bundles:
            view = run.cfg.view(bundle)
            vc = view.channels.container
            assert vc is not None
            dest = layout_dir(run.state.dist, bundle.name)
            text = f"would write the OCI image {vc.reference(vc.tags[0])} ({plan}) into {dest}"
            if run.dry and not all(t.id in built for t in targets):
                steps.append(Step.write(text))
                continue

            def act(bundle: Bundle = bundle, vc: ContainerConfig = vc, dest: Path = dest) -> bool:
                top, changed = build(run, bundle, vc, targets, dest)
                rows.append((vc.reference(",".join(vc.tags)), top.digest, human_size(top.size),
                             "written" if changed else "up to date"))
                return changed

            steps.append(Step.write(text, act))

        def table() -> bool:
            run.ui.table("Container images", ["image", "index digest", "index size", ""], rows)
            return False

        return [*steps, Step.finish(table)]


def build(run: Run, bundle: Bundle, vc: ContainerConfig, targets: Sequence[TargetConfig],
          dest: Path) -> tuple[Blob, bool]:
    """The bundle's image index and its layout; (the index blob, whether the layout changed)."""
    view = run.cfg.view(bundle)
    manifests: list[tuple[Platform, Blob]] = []
    blobs: list[Blob] = []
    client: Client | None = None
    try:
        for t, names, paths in run.state.built(view, targets, "a container image", bundle):
            base: Base | None = None
            if not t.triple.is_musl:
                assert vc.base is not None  # config/container.py requires it for these targets
                client = client or Client("container base")
                base = fetch_base(client, vc.base, platform(t), vc.registry, read_login(view.project.config_path, vc))
            files = [(name, p.read_bytes()) for name, p in zip(names, paths, strict=True)]
            manifest, refs = image(platform(t), files, entrypoint(view, names), base)
            manifests.append((platform(t), manifest))
            blobs += [manifest, *refs]
    finally:
        if client is not None:
            client.close()
    top = index(manifests, {"org.opencontainers.image.version": view.project.version})
    changed = write_layout(dest, [top, *blobs], layout_index(top, vc.tags), tmp_dir(run.state.dist))
    return top, changed
