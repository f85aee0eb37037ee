"""dist/manifest.json: every artifact and the release context. Schema: docs/manifest.md."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import __version__, proc
from .config import Config
from .errors import ConfigError
from .fsutil import unsafe_name, write_atomic
from .record import tmp_dir

SCHEMA = 1
MANIFEST_NAME = "manifest.json"


@dataclass
class Artifact:
    target: str  # target id from targets.toml
    triple: str
    kind: str  # "archive"
    format: str  # tar.gz | tar.xz | tar.zst | zip
    path: str  # relative to dist/
    size: int
    sha256: str
    binaries: list[str] = field(default_factory=list)
    authenticode: bool = False  # the Windows binaries inside are Authenticode-signed
    packages: list[str] = field(default_factory=list)  # the cargo packages whose binaries it holds


@dataclass
class Manifest:
    crate: str
    name: str
    version: str
    git: dict[str, object]
    source_date_epoch: int
    source_date_epoch_from: str
    tools: dict[str, object]
    artifacts: list[Artifact] = field(default_factory=list)
    checksums: dict[str, object] | None = None
    signatures: list[dict[str, str]] = field(default_factory=list)  # {method, file, signs, signer}
    # The released cargo packages: {name: {"version": …, "binaries": [...]}}.
    packages: dict[str, dict[str, object]] = field(default_factory=dict)

    @staticmethod
    def path(dist: Path) -> Path:
        return dist / MANIFEST_NAME

    @classmethod
    def load(cls, dist: Path) -> Manifest | None:
        path = cls.path(dist)
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
        except ValueError as exc:
            raise ConfigError(f"{path}: unreadable manifest ({exc})", hint="run `invoke package` again") from None
        return cls.load_data(data, path)

    @classmethod
    def load_data(cls, data: dict[str, Any], path: Path) -> Manifest:
        data = dict(data)
        try:
            if data.get("schema") != SCHEMA:
                raise ValueError(f"schema {data.get('schema')!r}, expected {SCHEMA}")
            data.pop("schema")
            data.pop("wavrybuild", None)
            data["artifacts"] = [Artifact(**a) for a in data["artifacts"]]
            for a in data["artifacts"]:
                why = unsafe_name(a.path)
                if why:
                    raise ValueError(f"artifact path {a.path!r} {why}")
            for key in ("name", "version"):
                # Publishers put these in paths and URLs ({name}/{version}/…).
                why = unsafe_name(data.get(key)) or ("contains '/'" if "/" in str(data.get(key)) else None)
                if why:
                    raise ValueError(f"{key} {data.get(key)!r} {why}")
            return cls(**data)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{path}: unreadable manifest ({exc})", hint="run `invoke package` again") from None

    def save(self, dist: Path) -> None:
        data = {"schema": SCHEMA, "wavrybuild": __version__, **asdict(self)}
        data["artifacts"] = sorted(data["artifacts"], key=lambda a: a["path"])
        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
        path = self.path(dist)
        if path.exists() and path.read_text() == text:
            return  # unchanged: keep the file (and its mtime) as it is
        write_atomic(path, text, tmp_dir=tmp_dir(dist))


def release_packages(cfg: Config) -> dict[str, dict[str, object]]:
    return {p.name: {"version": p.version, "binaries": list(p.binaries)} for p in cfg.project.packages}


def git_state(repo: Path) -> dict[str, object]:
    """Commit and dirty flag of the checkout holding the crate (None where it is not one)."""
    commit = proc.capture(["git", "-C", str(repo), "rev-parse", "HEAD"])
    if commit is None:
        return {"commit": None, "dirty": None}
    status = proc.capture(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"])
    return {"commit": commit.strip(), "dirty": bool(status and status.strip())}
