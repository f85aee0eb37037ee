"""The build record: what `build` produced, for the later stages (smoke, package, release).

Stored as dist/.wavrybuild/build.json, written atomically. Schema documented in docs/build-record.md.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .fsutil import state_dir, write_atomic

SCHEMA = 1


@dataclass
class BinaryRecord:
    name: str
    path: str  # relative to dist/
    size: int
    package: str = ""  # the cargo package it belongs to
    # Relative to dist/: its Authenticode-signed copy (the codesign stage), the bytes every artifact of
    # a Windows target carries. A new build writes a new record, so this never outlives its input.
    signed: str = ""


@dataclass
class TargetRecord:
    id: str
    triple: str
    rust_target: str
    builder: str
    toolchain: str | None
    std: str | None
    ok: bool
    seconds: float
    binaries: list[BinaryRecord] = field(default_factory=list)
    error: str | None = None
    fingerprint: str = ""
    rustc: str | None = None  # `rustc -V` of the toolchain that built it
    rustc_commit: str | None = None  # the commit its `rustc -vV` names (with the release: which compiler)
    key: str = ""  # digest of everything the build depended on (see build.cache_key)
    watch: dict[str, Any] = field(default_factory=dict)  # inputs outside the key (see freshness)
    # Crates cargo compiled for it in the build that wrote this entry (its std's and its invocation's
    # build scripts and proc-macros included; build/plan.py compiled_units): 0 when cargo found
    # everything fresh (an up-to-date target keeps the entry of the build that made its binaries);
    # None when not counted (a failed start, an older wavrybuild).
    compiled: int | None = None
    # CPU seconds (user + system) of the cargo invocation that built it, its rustc processes
    # included (shared by the targets of one invocation, like `seconds`); None when not measured.
    cpu_seconds: float | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TargetRecord:
        data = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        data["binaries"] = [BinaryRecord(**b) for b in data.get("binaries", [])]
        return cls(**data)


@dataclass
class BuildRecord:
    crate: str = ""
    name: str = ""
    version: str = ""
    host: str = ""
    tools: dict[str, str | None] = field(default_factory=dict)  # zig, cargo-zigbuild, cargo versions
    targets: dict[str, TargetRecord] = field(default_factory=dict)
    # Every rustc the built targets were compiled by (`rustc -V` lines): more than one when the
    # toolchains of a release differ (toolchain/versions.py warns before building).
    rustc: list[str] = field(default_factory=list)

    @staticmethod
    def path(dist: Path) -> Path:
        return state_dir(dist) / "build.json"

    @classmethod
    def load(cls, dist: Path) -> BuildRecord:
        path = cls.path(dist)
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text())
            if data.get("schema") != SCHEMA:
                raise ValueError(f"schema {data.get('schema')!r}, expected {SCHEMA}")
            return cls(
                crate=data["crate"],
                name=data["name"],
                version=data["version"],
                host=data["host"],
                tools=data.get("tools", {}),
                targets={k: TargetRecord.from_json(v) for k, v in data["targets"].items()},
                rustc=[x for x in data.get("rustc") or () if isinstance(x, str)],
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{path}: unreadable build record ({exc})",
                hint="delete it and run `invoke build` again",
            ) from None

    def save(self, dist: Path) -> None:
        data = {"schema": SCHEMA, **asdict(self)}
        data["targets"] = dict(sorted(data["targets"].items()))
        write_atomic(self.path(dist), json.dumps(data, indent=2, sort_keys=True) + "\n")
