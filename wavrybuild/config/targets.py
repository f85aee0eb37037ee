"""[defaults] and [targets.*]: the target matrix, each entry with the defaults applied."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, suggest
from ..triple import UNIVERSAL2, Triple, known_triples
from . import checks as c
from .values import MAX_COMPONENT, Component, Line

BUILDERS = ("auto", "zigbuild", "cargo")
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


# Keys a target (or [defaults]) may set: key -> (checker, default).
TARGET_KEYS: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "builder": (c.choice(BUILDERS), "auto"),
    "glibc": (c.glibc, None),
    "features": (c.line_list, ()),
    "no-default-features": (c.bool_value, False),
    "all-features": (c.bool_value, False),
    "profile": (c.component, c.component("release")),
    "rustflags": (c.args, ()),
    "env": (c.str_map, ()),
    "toolchain": (c.opt_line, None),
    "std": (c.choice(STD_SOURCES), "auto"),
    "runner": (c.choice(RUNNERS), "auto"),
    "smoke-args": (c.args, (c.line("--version"),)),
    "smoke-expect": (c.expect, "{version}"),
    "archive": (c.archive, None),
    # Profile settings for smaller binaries, passed as `--config profile.<profile>.<key>=…`.
    "strip": (c.strip, None),
    "lto": (c.lto, None),
    "codegen-units": (c.codegen_units, None),
    "opt-level": (c.opt_level, None),
    "panic": (c.panic, None),
    "public-env": (c.str_list, ()),
    # Where `invoke plan` runs this target's CI job: a GitHub runner label, GitLab runner tags and image.
    "runs-on": (c.opt_line, None),
    "tags": (c.line_list, ()),
    "image": (c.opt_line, None),
}
PROFILE_KEYS = ("strip", "lto", "codegen-units", "opt-level", "panic")
# Only per target: which triple a target id builds (defaults to the id itself).
TARGET_ONLY_KEYS = {"triple"}
TARGET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def target_values(path: Path, where: str, table: dict[str, Any], allowed_extra: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key in allowed_extra:
            continue
        if key not in TARGET_KEYS:
            raise c.unknown_key(path, where, key, set(TARGET_KEYS) | allowed_extra)
        checker, _ = TARGET_KEYS[key]
        try:
            out[key] = checker(value)
        except ValueError as exc:
            # env values may be credentials a build needs: never echoed.
            got = "" if key == "env" else f", got {value!r}"
            raise ConfigError(f"{path}: {where}{key}: expected {exc}{got}") from None
    return out


def _check_triple(path: Path, where: str, name: str) -> Triple:
    if name not in known_triples() and name != UNIVERSAL2:
        near = suggest(name, known_triples() | {UNIVERSAL2})
        raise ConfigError(
            f"{path}: {where}: {name!r} is not a target triple rustc knows"
            + (f"; did you mean {near!r}?" if near else ""),
            hint="`rustc --print target-list` lists them; a glibc floor goes in `glibc = \"2.17\"`",
        )
    return Triple(name)


def _triple_of(path: Path, tid: str, table: dict[str, Any], values: dict[str, Any]) -> Triple:
    """The triple a target builds; zigbuild's spelling "x86_64-unknown-linux-gnu.2.17" in the id
    means that triple with a glibc 2.17 floor (written into `values`)."""
    where = f"targets.{tid}."
    triple_name = table.get("triple", tid)
    suffixed = re.fullmatch(r"(.+-linux-gnu\w*)\.(2\.\d{1,2})", tid) if "triple" not in table else None
    if suffixed:
        triple_name = suffixed.group(1)
        if "glibc" in table and values["glibc"] != suffixed.group(2):
            raise ConfigError(
                f"{path}: {where}glibc: {values['glibc']!r} contradicts the floor {suffixed.group(2)!r} in the target name",
                hint="remove `glibc` or the suffix",
            )
        values["glibc"] = suffixed.group(2)
    if not isinstance(triple_name, str):
        raise ConfigError(f"{path}: {where}triple: expected a string, got {triple_name!r}")
    return _check_triple(path, f"{where}triple" if "triple" in table else f"targets.{tid}", triple_name)


def _check_combination(path: Path, tid: str, triple: Triple, values: dict[str, Any]) -> None:
    where = f"targets.{tid}."
    if values["glibc"] and not triple.is_linux_gnu:
        raise ConfigError(
            f"{path}: {where}glibc: a glibc floor only applies to *-linux-gnu targets, not {triple}",
            hint="remove `glibc` from this target",
        )
    if values["glibc"] and values["builder"] == "cargo":
        raise ConfigError(
            f"{path}: {where}builder: a glibc floor needs cargo-zigbuild; plain cargo cannot pin glibc",
            hint='set builder = "zigbuild" (or "auto"), or remove `glibc`',
        )
    if values["runner"] == "qemu" and triple.os != "linux":
        raise ConfigError(
            f"{path}: {where}runner: qemu-user only runs Linux binaries, not {triple}",
            hint='use runner = "none" (or "auto") for this target',
        )
    if triple.env == "msvc" and values["builder"] == "zigbuild":
        raise ConfigError(
            f"{path}: {where}builder: cargo-zigbuild cannot link MSVC targets",
            hint='use builder = "cargo" (on a Windows runner) or "auto"',
        )


def make_target(path: Path, tid: str, raw: Any, defaults: dict[str, Any]) -> TargetConfig:
    if not TARGET_ID.fullmatch(tid) or len(tid) > MAX_COMPONENT:
        raise ConfigError(
            f"{path}: targets.{tid!r}: a target id may hold only letters, digits, '.', '_' and '-' "
            f"(it names files in dist/; at most {MAX_COMPONENT} characters)",
        )
    table = c.check_table(path, f"targets.{tid}.", raw)
    values = {k: default for k, (_, default) in TARGET_KEYS.items()}
    values.update(defaults)
    values.update(target_values(path, f"targets.{tid}.", table, TARGET_ONLY_KEYS))
    triple = _triple_of(path, tid, table, values)
    _check_combination(path, tid, triple, values)
    unknown = [k for k in values["public-env"] if k not in dict(values["env"])]
    if unknown:
        # [defaults] public-env applies to every target: name the table the list came from.
        where = f"targets.{tid}." if "public-env" in table else "defaults."
        raise ConfigError(f"{path}: {where}public-env: {unknown[0]!r} is not a key of env (of targets.{tid})",
                          hint="list the env names whose values may be shown in logs")
    fields = {k.replace("-", "_"): v for k, v in values.items() if k not in PROFILE_KEYS}
    return TargetConfig(id=Component.parse(tid), triple=triple, **fields,
                        profile_settings=tuple((k, values[k]) for k in PROFILE_KEYS if values[k] is not None))


def parse_targets(path: Path, data: Any) -> tuple[TargetConfig, ...]:
    defaults = target_values(path, "defaults.", c.check_table(path, "defaults.", data.get("defaults", {})), set())
    tables = c.check_table(path, "targets.", data.get("targets", {}))
    if not tables:
        raise ConfigError(
            f"{path}: targets: no targets configured",
            hint="add a table per target, e.g. [targets.x86_64-unknown-linux-gnu]",
        )
    targets = tuple(make_target(path, tid, raw, defaults) for tid, raw in tables.items())
    seen: dict[str, str] = {}
    for t in targets:
        if t.rust_target in seen:
            raise ConfigError(
                f"{path}: targets.{t.id}: duplicate target: targets.{seen[t.rust_target]} already builds {t.rust_target}",
                hint="remove one of them, or give one a different triple or glibc floor",
            )
        seen[t.rust_target] = t.id
    return targets
