"""targets.toml, parsed once into frozen, typed objects.

Every problem is a ConfigError naming the file, the key and what to do, raised before anything is
built or written. Layout: `models` (the dataclasses every stage reads), `checks` (the shared
validators), one module per section (`targets`, `project`, `sections`, `channels`, `npm`,
`publish`, `bindings`, `sign`, …), and `whole` (Config) and `load` (the file → Config, in one pass).
"""

from .load import load, parse
from .models import (
    BUILDERS,
    RUNNERS,
    STD_SOURCES,
    ChecksumConfig,
    PackageConfig,
    Project,
    TargetConfig,
)
from .project import WELL_KNOWN_SECRETS
from .sign import SIGN_METHOD_KEYS, SIGN_METHODS, SignConfig
from .whole import Config

__all__ = [
    "BUILDERS", "RUNNERS", "SIGN_METHODS", "SIGN_METHOD_KEYS", "STD_SOURCES", "WELL_KNOWN_SECRETS",
    "ChecksumConfig", "Config", "PackageConfig", "Project", "SignConfig", "TargetConfig", "load", "parse",
]
