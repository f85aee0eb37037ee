"""Config: the whole of targets.toml, every section checked (see load.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..errors import ConfigError, suggest
from .artifacts import ExtraArtifact
from .channels import Channels
from .project import Bundle, Project
from .publish import PublishConfig
from .release import ReleaseConfig
from .sections import ChecksumConfig, PackageConfig
from .sign import SignConfig
from .targets import TargetConfig

if TYPE_CHECKING:  # optional sections: their modules load only when targets.toml has them (load.py)
    from .bindings import BindingsConfig
    from .ci import CiConfig
    from .desktop import DesktopConfig
    from .sbom import ProvenanceConfig, SbomConfig
    from .storage import StorageConfig


@dataclass(frozen=True)
class Config:
    """The whole of targets.toml (and the crate's Cargo.toml metadata), checked."""

    project: Project
    targets: tuple[TargetConfig, ...]
    package: PackageConfig
    checksum: ChecksumConfig
    sign: SignConfig
    channels: Channels
    publish: PublishConfig
    bindings: BindingsConfig | None
    # [channels] as each bundle's artifacts see it: (bundle name, its channels); see `view`.
    bundle_channels: tuple[tuple[str, Channels], ...] = ()
    release: ReleaseConfig = field(default_factory=ReleaseConfig)
    artifacts: tuple[ExtraArtifact, ...] = ()  # [[artifacts]]: files made by a command, not by cargo
    storage: StorageConfig | None = None  # [storage]: where CI matrix parts live, keyed by commit
    desktop: DesktopConfig | None = None  # [desktop]: .app/.dmg, Windows installers, desktop entries
    sbom: SbomConfig | None = None  # [sbom]: CycloneDX SBOMs per target
    provenance: ProvenanceConfig | None = None  # [provenance]: the SLSA statement of the release
    ci: CiConfig | None = None  # [ci]: how CI matrix parts are signed and checked

    @property
    def bundles(self) -> tuple[Bundle, ...]:
        """What each target's artifacts are grouped into ([package] group)."""
        return self.project.bundles(self.package.group)

    def view(self, bundle: Bundle) -> Config:
        """The config as one bundle's artifacts are made from it: its name, version, binaries,
        package metadata and channel names (the whole config when there is one bundle)."""
        channels = dict(self.bundle_channels).get(bundle.name, self.channels)
        project = self.project.view(bundle)
        if project is self.project and channels is self.channels:
            return self
        return replace(self, project=project, channels=channels)

    @property
    def publishes(self) -> bool:
        """Whether the publish stage has anywhere to go: a [publish] destination or npm publishing."""
        return (bool(self.publish.destinations) or bool(self.channels.npm and self.channels.npm.publish)
                or self.channels.container is not None)

    def select(self, names: Iterable[str] = (), *, all_targets: bool = False) -> tuple[TargetConfig, ...]:
        """Targets by id or triple, in config order. No names and not all: a clear error."""
        names = list(names)
        if all_targets or not names:
            if not all_targets:
                raise ConfigError(
                    "no target given",
                    hint="pass --target TRIPLE (repeatable) or --all; configured: "
                    + ", ".join(t.id for t in self.targets),
                )
            return self.targets
        chosen: list[TargetConfig] = []
        for name in names:
            matches = [t for t in self.targets if t.id == name] or [
                t for t in self.targets if t.rust_target == name or str(t.triple) == name
            ]
            if not matches:
                choices = [t.id for t in self.targets] + [t.rust_target for t in self.targets]
                near = suggest(name, choices)
                raise ConfigError(
                    f"{self.project.config_path}: target {name!r} is not configured"
                    + (f"; did you mean {near!r}?" if near else ""),
                    hint="configured targets: " + ", ".join(t.id for t in self.targets),
                )
            if len(matches) > 1:
                raise ConfigError(
                    f"{self.project.config_path}: {name!r} matches several targets: "
                    + ", ".join(t.id for t in matches),
                    hint="name the target by its id",
                )
            if matches[0] not in chosen:
                chosen.append(matches[0])
        order = {t.id: i for i, t in enumerate(self.targets)}
        return tuple(sorted(chosen, key=lambda t: order[t.id]))
