"""targets.toml, parsed once into frozen, typed objects.

Every problem is a ConfigError naming the file, the key and what to do, raised before anything is
built or written. Layout: one module per section, holding its frozen dataclasses and its parser
(`project` — with `Project`, `CratePackage`, `Bundle` —, `targets`, `sections` ([package],
[checksum]), `sign`, `channels`, `npm`, `desktop`, `publish`, `bindings`, `artifacts`, `sbom`,
`release`, `storage`), `checks` (the shared validators), `values` (the boundary's types), `whole`
(Config) and `load` (the file → Config, in one pass).
"""

from .load import load, parse
from .project import WELL_KNOWN_SECRETS, Bundle, CratePackage, Project
from .sections import ChecksumConfig, PackageConfig
from .sign import SIGN_METHODS, SignConfig
from .targets import BUILDERS, RUNNERS, STD_SOURCES, TargetConfig
from .whole import Config

__all__ = [
    "BUILDERS", "RUNNERS", "SIGN_METHODS", "STD_SOURCES", "WELL_KNOWN_SECRETS",
    "Bundle", "ChecksumConfig", "Config", "CratePackage", "PackageConfig", "Project", "SignConfig", "TargetConfig",
    "load", "parse",
]
