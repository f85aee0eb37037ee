"""The typed, frozen form of targets.toml: what every stage reads. Parsing lives next door
(`load.py` and one module per section); nothing here reads files or the environment."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from ..env import DEFAULT_POLICY, SecretPolicy
from ..triple import Triple
from .values import Component, Line

BUILDERS = ("auto", "zigbuild", "cargo")
GROUPS = ("package", "platform")
RUNNERS = ("auto", "native", "qemu", "none")
STD_SOURCES = ("auto", "installed", "build-std")


@dataclass(frozen=True)
class TargetConfig:
    """One entry of the target matrix, with [defaults] already applied."""

    id: str  # names files in dist/: checked as a values.Component at load (str: it keys many dicts)
    triple: Triple
    builder: str = "auto"
    glibc: str | None = None
    features: tuple[Line, ...] = ()
    no_default_features: bool = False
    all_features: bool = False
    profile: Component = Component("release")  # cargo's output directory target/<triple>/<profile>
    rustflags: tuple[Line, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    toolchain: Line | None = None
    std: str = "auto"
    runner: str = "auto"
    smoke_args: tuple[Line, ...] = (Line("--version"),)
    smoke_expect: str | None = "{version}"
    archive: str | None = None  # archive format override
    # cargo profile overrides (None: the profile's own value); see PROFILE_KEYS
    profile_settings: tuple[tuple[str, Any], ...] = ()
    # Names in `env` whose values may be shown in echoed commands; the others print as ***.
    public_env: tuple[str, ...] = ()
    runs_on: Line | None = None  # GitHub runner label for this target's CI job (None: by platform)
    tags: tuple[Line, ...] = ()  # GitLab runner tags
    image: Line | None = None  # GitLab job image

    @property
    def secret_env(self) -> frozenset[str]:
        """The `env` names whose values are masked (any may be a credential a build needs)."""
        return frozenset(k for k, _ in self.env if k not in self.public_env)

    @property
    def rust_target(self) -> str:
        """What is passed to --target: zigbuild spells a glibc floor as a suffix."""
        return f"{self.triple}.{self.glibc}" if self.glibc else str(self.triple)

    @property
    def rust_targets(self) -> tuple[str, ...]:
        """Every --target this target builds: universal2 is built as its two slices."""
        return self.triple.slices if self.triple.is_universal else (self.rust_target,)

    def fingerprint(self) -> str:
        """A stable text of everything that changes this target's build output."""
        not_build = {"smoke_args", "smoke_expect", "runner", "archive", "public_env", "runs_on", "tags", "image"}
        data = {k: v for k, v in self.__dict__.items() if k not in not_build}
        # env values may be credentials: the record in dist/ keeps only their digests.
        data["env"] = [(k, hashlib.sha256(v.encode()).hexdigest()) for k, v in self.env]
        return json.dumps(data, default=str, sort_keys=True)


@dataclass(frozen=True)
class CratePackage:
    """One cargo package being released, with its binaries and Cargo.toml metadata."""

    name: Component
    version: Component
    binaries: tuple[Component, ...]
    manifest_path: Path
    description: str = ""
    license: Line | None = None
    homepage: Line | None = None
    repository: Line | None = None
    authors: tuple[Line, ...] = ()
    readme: Path | None = None


@dataclass(frozen=True)
class Bundle:
    """What one artifact per target carries ([package] group): one package's binaries, or every
    binary of the release. `name` and `version` name its files (<name>-<version>-<target>…)."""

    name: Component
    version: Component
    binaries: tuple[Component, ...]
    packages: tuple[Component, ...]  # the cargo packages whose binaries it holds


@dataclass(frozen=True)
class Project:
    """The release. With several packages, `name`, `version` and the metadata are the first
    listed package's (the release's own name and version: tags, manifest, platform archives),
    `binaries` is every package's, and `manifest_path` is the Cargo.toml project.crate names."""

    config_path: Path
    root: Path
    manifest_path: Path
    workspace_root: Path
    target_directory: Path
    name: Component  # [project] name, else the first package's: names the release's files
    binaries: tuple[Component, ...]
    dist_dir: Path
    # The package whose name, version and Cargo.toml metadata the channels' package formats read
    # (npm, PyPI, deb, rpm): the first listed one, or in a bundle's `view`, that bundle's.
    metadata: CratePackage
    # [cache] sccache: None (off), "local" (sccache's own local cache) or a redis:// endpoint.
    sccache: Line | None = None
    # Which variables hold credentials (every *-env name, the defaults, CI tokens, secret-looking
    # names) and which of them [project] pass-env lets children inherit. config.load makes it the
    # process's policy (env.guard): no child (cargo, build scripts, smoke runs, [[artifacts]]) sees them.
    secrets: SecretPolicy = DEFAULT_POLICY
    # Builds running at the same time need their own target dirs (cargo locks one for a whole
    # build): lane 0 is cargo's target dir, lane N a directory inside it (see build_dir).
    build_lane: int = 0
    # Every released package (one for a single crate); see `bundles` for how artifacts group them.
    packages: tuple[CratePackage, ...] = ()
    # The workspace has several binary packages and targets.toml chose none: all are released.
    all_packages_by_default: bool = False

    # Read through `metadata`: each of these lives once, in its CratePackage.
    @property
    def package(self) -> Component:
        return self.metadata.name

    @property
    def version(self) -> Component:
        return self.metadata.version

    @property
    def description(self) -> str:
        return self.metadata.description

    @property
    def license(self) -> Line | None:
        return self.metadata.license

    @property
    def homepage(self) -> Line | None:
        return self.metadata.homepage

    @property
    def repository(self) -> Line | None:
        return self.metadata.repository

    @property
    def authors(self) -> tuple[Line, ...]:
        return self.metadata.authors

    @property
    def readme(self) -> Path | None:
        """Cargo.toml's `readme`, absolute."""
        return self.metadata.readme

    @property
    def title(self) -> str:
        """What a summary calls the release: "demo 1.2.3", or "cli 0.3.0, mcp 0.4.1"."""
        if len(self.packages) > 1:
            return ", ".join(f"{p.name} {p.version}" for p in self.packages)
        return f"{self.name} {self.version}"

    def package_of(self, binary: str) -> CratePackage:
        for p in self.packages:
            if binary in p.binaries:
                return p
        raise KeyError(binary)

    def bundles(self, group: str) -> tuple[Bundle, ...]:
        """The artifact sets per target: one per package (group "package"), or one holding every
        binary (group "platform", and always with one package: then both are the same)."""
        if group == "platform" or len(self.packages) <= 1:
            return (Bundle(self.name, self.version, self.binaries, tuple(p.name for p in self.packages)),)
        return tuple(Bundle(p.name, p.version, p.binaries, (p.name,)) for p in self.packages)

    def view(self, bundle: Bundle) -> Project:
        """This project as one bundle's channels see it: its name, version, binaries and (for one
        package) that package's metadata."""
        if bundle.binaries == self.binaries and bundle.name == self.name:
            return self
        pkg = next(p for p in self.packages if p.name == bundle.packages[0])
        # A bundle of one package is named and versioned as that package (Project.bundles).
        return replace(self, name=bundle.name, binaries=bundle.binaries, metadata=pkg)

    @property
    def build_dir(self) -> Path:
        """The target dir cargo is given for this lane."""
        return self.target_directory / f"wavrybuild-lane-{self.build_lane}" if self.build_lane else self.target_directory


@dataclass(frozen=True)
class PackageConfig:
    """[package]: how archives are made."""

    format: str = "tar.gz"
    windows_format: str = "zip"
    # Globs relative to the crate directory, checked as Lines that stay inside it; kept plain str
    # because pathlib's glob() interns its pattern, which a str subclass cannot be.
    include: tuple[str, ...] = ()
    compression_level: int | None = None  # None: the format's usual default
    group: str = "package"  # "package": an archive per package and target; "platform": one per target

    def format_for(self, target: TargetConfig) -> str:
        if target.archive:
            return target.archive
        return self.windows_format if target.triple.is_windows else self.format


@dataclass(frozen=True)
class ChecksumConfig:
    sidecars: bool = False


class Core(Protocol):
    """What the section parsers need of the config being loaded: the project and the targets."""

    @property
    def project(self) -> Project: ...

    @property
    def targets(self) -> tuple[TargetConfig, ...]: ...
