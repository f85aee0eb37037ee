"""[sbom]: a CycloneDX SBOM per target (and package), listed in the release and put into wheels;
[provenance]: a SLSA v1 provenance statement for the whole release."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from . import checks as c
from .project import Core
from .values import Line

SPEC_VERSIONS = ("1.5", "1.6")


@dataclass(frozen=True)
class SbomConfig:
    spec_version: str = "1.6"
    wheels: bool = True  # embed into each wheel's .dist-info/sboms/ (PEP 770)


SBOM_KEYS: c.Spec = {"spec-version": (c.choice(SPEC_VERSIONS), "1.6"), "wheels": (c.bool_value, True)}


def parse_sbom(cfg: Core, raw: Any) -> SbomConfig | None:
    if raw is None:
        return None
    where = cfg.project.config_path
    v = c.values(where, "sbom.", raw, SBOM_KEYS)
    if not isinstance(v["spec-version"], str):
        raise ConfigError(f"{where}: sbom.spec-version: expected one of {', '.join(SPEC_VERSIONS)}")
    from ..spdx import OWN_HINT, own_license_problem  # packaging.licenses: only with [sbom]

    # Before anything is built: the released crates' licenses go into every SBOM as expressions.
    for pkg in cfg.project.packages or (cfg.project.metadata,):
        problem = own_license_problem(pkg.license)
        if problem:
            raise ConfigError(f"{pkg.manifest_path}: {problem}", hint=OWN_HINT)
    return SbomConfig(spec_version=v["spec-version"], wheels=v["wheels"])


@dataclass(frozen=True)
class ProvenanceConfig:
    builder_id: Line | None = None  # overrides the builder id taken from the CI's variables


PROVENANCE_KEYS: c.Spec = {"builder-id": (c.opt_line, None)}


def parse_provenance(cfg: Core, raw: Any) -> ProvenanceConfig | None:
    if raw is None:
        return None
    v = c.values(cfg.project.config_path, "provenance.", raw, PROVENANCE_KEYS)
    return ProvenanceConfig(builder_id=v["builder-id"])
