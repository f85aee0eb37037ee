"""targets.toml: parsed once into frozen, typed objects.

Every problem is a ConfigError naming the file, the key and what to do, raised before anything is
built or written.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from .errors import ConfigError, ToolMissing
from .triple import Triple, known_triples, suggest

BUILDERS = ("auto", "zigbuild", "cargo")
RUNNERS = ("auto", "native", "qemu", "none")
STD_SOURCES = ("auto", "installed", "build-std")


# --- value checkers: each returns the normalised value or raises ValueError(what is expected) ---

def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("a string")
    return v


def _opt_str(v: Any) -> str | None:
    return None if v in ("", "auto") else _str(v)


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError("true or false")
    return v


def _str_list(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError("a list of strings")
    return tuple(v)


def _args(v: Any) -> tuple[str, ...]:
    # A single string is accepted for convenience and split like a shell would not: on spaces only.
    if isinstance(v, str):
        return tuple(v.split())
    return _str_list(v)


def _str_map(v: Any) -> tuple[tuple[str, str], ...]:
    """An environment table: variable names as the shell writes them, values without NUL."""
    if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
        raise ValueError("a table of string values")
    for name, value in v.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"environment variable names (letters, digits, _), not {name!r}")
        if "\0" in value:
            raise ValueError(f"values without NUL characters ({name})")
    return tuple(sorted(v.items()))


def _choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if not isinstance(v, str) or v not in choices:
            near = suggest(v, list(choices)) if isinstance(v, str) else None
            extra = f" (did you mean {near!r}?)" if near else ""
            raise ValueError("one of " + ", ".join(repr(c) for c in choices) + extra)
        return v

    return check


def _archive(v: Any) -> str | None:
    return None if v in ("", "auto") else _choice(ARCHIVE_FORMATS)(v)


def _strip(v: Any) -> str | bool | None:
    if v is None or isinstance(v, bool) or v in ("none", "debuginfo", "symbols"):
        return cast(str | bool | None, v)
    raise ValueError('true, false, "none", "debuginfo" or "symbols"')


def _lto(v: Any) -> str | bool | None:
    if v is None or isinstance(v, bool) or v in ("off", "thin", "fat"):
        return cast(str | bool | None, v)
    raise ValueError('true, false, "off", "thin" or "fat"')


def _codegen_units(v: Any) -> int | None:
    if v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
        return v
    raise ValueError("a whole number >= 1")


def _opt_level(v: Any) -> int | str | None:
    # `true` is 1 to Python: a bool is not an opt-level.
    if v is None or (not isinstance(v, bool) and v in (0, 1, 2, 3, "s", "z")):
        return cast(int | str | None, v)
    raise ValueError('0, 1, 2, 3, "s" or "z"')


def _panic(v: Any) -> str | None:
    if v is None or v in ("unwind", "abort"):
        return cast(str | None, v)
    raise ValueError('"unwind" or "abort"')


def _glibc(v: Any) -> str | None:
    if v in (None, ""):
        return None
    if not isinstance(v, str) or not re.fullmatch(r"2\.\d{1,2}", v):
        raise ValueError('a glibc version string like "2.17"')
    return v


def _expect(v: Any) -> str | None:
    if v is False or v == "":
        return None
    return _str(v)


# Keys a target (or [defaults]) may set: key -> (checker, default).
TARGET_KEYS: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "builder": (_choice(BUILDERS), "auto"),
    "glibc": (_glibc, None),
    "features": (_str_list, ()),
    "no-default-features": (_bool, False),
    "all-features": (_bool, False),
    "profile": (_str, "release"),
    "rustflags": (_args, ()),
    "env": (_str_map, ()),
    "toolchain": (_opt_str, None),
    "std": (_choice(STD_SOURCES), "auto"),
    "runner": (_choice(RUNNERS), "auto"),
    "smoke-args": (_args, ("--version",)),
    "smoke-expect": (_expect, "{version}"),
    "archive": (_archive, None),
    # Profile settings for smaller binaries, passed as `--config profile.<profile>.<key>=…`.
    "strip": (_strip, None),
    "lto": (_lto, None),
    "codegen-units": (_codegen_units, None),
    "opt-level": (_opt_level, None),
    "panic": (_panic, None),
}
PROFILE_KEYS = ("strip", "lto", "codegen-units", "opt-level", "panic")
# Only per target: which triple a target id builds (defaults to the id itself).
TARGET_ONLY_KEYS = {"triple"}
PROJECT_KEYS = {"crate", "package", "binaries", "dist", "name"}
TOP_KEYS = {"project", "defaults", "targets", "package", "checksum", "sign", "publish", "channels", "bindings",
            "cache"}
ARCHIVE_FORMATS = ("tar.gz", "tar.xz", "tar.zst", "zip")
PACKAGE_KEYS = {"format", "windows-format", "include", "compression-level"}
CHECKSUM_KEYS = {"sidecars"}
TARGET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class TargetConfig:
    """One entry of the target matrix, with [defaults] already applied."""

    id: str
    triple: Triple
    builder: str = "auto"
    glibc: str | None = None
    features: tuple[str, ...] = ()
    no_default_features: bool = False
    all_features: bool = False
    profile: str = "release"
    rustflags: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    toolchain: str | None = None
    std: str = "auto"
    runner: str = "auto"
    smoke_args: tuple[str, ...] = ("--version",)
    smoke_expect: str | None = "{version}"
    archive: str | None = None  # archive format override
    # cargo profile overrides (None: the profile's own value); see PROFILE_KEYS
    profile_settings: tuple[tuple[str, Any], ...] = ()

    @property
    def rust_target(self) -> str:
        """What is passed to --target: zigbuild spells a glibc floor as a suffix."""
        return f"{self.triple}.{self.glibc}" if self.glibc else str(self.triple)

    def fingerprint(self) -> str:
        """A stable text of everything that changes this target's build output."""
        not_build = {"smoke_args", "smoke_expect", "runner", "archive"}
        return json.dumps({k: v for k, v in self.__dict__.items() if k not in not_build},
                          default=str, sort_keys=True)


@dataclass(frozen=True)
class Project:
    config_path: Path
    root: Path
    manifest_path: Path
    workspace_root: Path
    target_directory: Path
    package: str
    name: str
    version: str
    binaries: tuple[str, ...]
    dist_dir: Path
    # Cargo.toml's [package] metadata, for the package formats of the channels (npm, PyPI, deb, rpm).
    description: str = ""
    license: str | None = None
    homepage: str | None = None
    repository: str | None = None
    authors: tuple[str, ...] = ()
    readme: Path | None = None  # Cargo.toml's `readme`, absolute
    # [cache] sccache: None (off), "local" (sccache's own local cache) or a redis:// endpoint.
    sccache: str | None = None
    # Variables holding credentials (named by *-env keys, and the well-known CI tokens): cargo,
    # build scripts, proc-macros and smoke-run binaries never see them.
    secret_env: frozenset[str] = frozenset()
    # Builds running at the same time need their own target dirs (cargo locks one for a whole
    # build): lane 0 is cargo's target dir, lane N a directory inside it (see build_dir).
    build_lane: int = 0

    @property
    def build_dir(self) -> Path:
        """The target dir cargo is given for this lane."""
        return self.target_directory / f"wavrybuild-lane-{self.build_lane}" if self.build_lane else self.target_directory


@dataclass(frozen=True)
class PackageConfig:
    """[package]: how archives are made."""

    format: str = "tar.gz"
    windows_format: str = "zip"
    include: tuple[str, ...] = ()  # globs relative to the crate directory
    compression_level: int | None = None  # None: the format's usual default

    def format_for(self, target: TargetConfig) -> str:
        if target.archive:
            return target.archive
        return self.windows_format if target.triple.is_windows else self.format


@dataclass(frozen=True)
class ChecksumConfig:
    sidecars: bool = False


SIGN_METHODS = ("gpg", "minisign", "ssh", "authenticode")
# Per method: key -> default. Paths are relative to targets.toml. Secrets are never keys here:
# only the *names* of the env vars that hold them (`*-env`).
SIGN_METHOD_KEYS: dict[str, dict[str, str | None]] = {
    "gpg": {"key": None, "homedir": None, "public-key": None, "passphrase-env": "WAVRYBUILD_GPG_PASSPHRASE"},
    "minisign": {"key": None, "public-key": None, "passphrase-env": "WAVRYBUILD_MINISIGN_PASSPHRASE"},
    "ssh": {"key": None, "allowed-signers": None, "identity": None, "namespace": "file"},
    "authenticode": {"pkcs12": None, "password-env": "WAVRYBUILD_AUTHENTICODE_PASSWORD", "ca": None,
                     "description": None, "timestamp-url": None},
}
SECRET_WORDS = ("passphrase", "password", "token", "secret")


@dataclass(frozen=True)
class SignConfig:
    """[sign]: which methods sign, and where their keys are. Values may be overridden by env vars
    WAVRYBUILD_SIGN_METHODS and WAVRYBUILD_<METHOD>_<KEY> (e.g. WAVRYBUILD_GPG_KEY)."""

    methods: tuple[str, ...] = ()
    artifacts: bool = False  # also sign every artifact, not only SHA256SUMS
    options: tuple[tuple[str, tuple[tuple[str, str | None], ...]], ...] = ()

    def get(self, method: str, key: str) -> str | None:
        env = os.environ.get(f"WAVRYBUILD_{method.upper()}_{key.upper().replace('-', '_')}")
        if env:
            return env
        return dict(dict(self.options).get(method, ())).get(key, SIGN_METHOD_KEYS[method][key])

    def path(self, method: str, key: str, base: Path) -> Path | None:
        value = self.get(method, key)
        return None if value is None else (base / value if not os.path.isabs(value) else Path(value))


@dataclass(frozen=True)
class Config:
    project: Project
    targets: tuple[TargetConfig, ...]
    package: PackageConfig = PackageConfig()
    checksum: ChecksumConfig = ChecksumConfig()
    sign: SignConfig = SignConfig()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

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


def _unknown_key(path: Path, where: str, key: str, allowed: Iterable[str]) -> ConfigError:
    near = suggest(key, list(allowed))
    return ConfigError(
        f"{path}: {where}{key}: unknown key" + (f"; did you mean {near!r}?" if near else ""),
        hint="allowed here: " + ", ".join(sorted(allowed)),
    )


def reject_unknown(path: Path, where: str, table: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """The first key of `table` not in `allowed`, as a ConfigError with a did-you-mean."""
    allowed = list(allowed)
    for key in table:
        if key not in allowed:
            raise _unknown_key(path, where, key, allowed)


def target_ids(cfg: Config, key: str, value: Any) -> tuple[str, ...]:
    """A non-empty list of configured target ids (for `targets = [...]` of a channel or bindings)."""
    path = cfg.project.config_path
    ids = [t.id for t in cfg.targets]
    if not isinstance(value, list) or not value or not all(isinstance(x, str) for x in value):
        raise ConfigError(f"{path}: {key}: expected a non-empty list of target ids, got {value!r}")
    for x in value:
        if x not in ids:
            near = suggest(x, ids)
            raise ConfigError(f"{path}: {key}: {x!r} is not a configured target" + (f"; did you mean {near!r}?" if near else ""),
                              hint="targets: " + ", ".join(ids))
    return tuple(value)


def _check_table(path: Path, where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: {where.rstrip('.')}: expected a table")
    return value


def _target_values(path: Path, where: str, table: dict[str, Any], allowed_extra: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key in allowed_extra:
            continue
        if key not in TARGET_KEYS:
            raise _unknown_key(path, where, key, set(TARGET_KEYS) | allowed_extra)
        checker, _ = TARGET_KEYS[key]
        try:
            out[key] = checker(value)
        except ValueError as exc:
            # env values may be credentials a build needs: never echoed.
            got = "" if key == "env" else f", got {value!r}"
            raise ConfigError(f"{path}: {where}{key}: expected {exc}{got}") from None
    return out


def _check_triple(path: Path, where: str, name: str) -> Triple:
    if name not in known_triples():
        near = suggest(name, known_triples())
        raise ConfigError(
            f"{path}: {where}: {name!r} is not a target triple rustc knows"
            + (f"; did you mean {near!r}?" if near else ""),
            hint="`rustc --print target-list` lists them; a glibc floor goes in `glibc = \"2.17\"`",
        )
    return Triple(name)


def _make_target(path: Path, tid: str, raw: Any, defaults: dict[str, Any]) -> TargetConfig:
    where = f"targets.{tid}."
    if not TARGET_ID.fullmatch(tid):
        raise ConfigError(
            f"{path}: targets.{tid!r}: a target id may hold only letters, digits, '.', '_' and '-' "
            "(it names files in dist/)",
        )
    table = _check_table(path, where, raw)
    values = {k: default for k, (_, default) in TARGET_KEYS.items()}
    values.update(defaults)
    values.update(_target_values(path, where, table, TARGET_ONLY_KEYS))
    triple_name = table.get("triple", tid)
    suffixed = re.fullmatch(r"(.+-linux-gnu\w*)\.(2\.\d{1,2})", tid) if "triple" not in table else None
    if suffixed:
        # zigbuild's spelling: "x86_64-unknown-linux-gnu.2.17" is that triple with a glibc 2.17 floor.
        triple_name = suffixed.group(1)
        if "glibc" in table and values["glibc"] != suffixed.group(2):
            raise ConfigError(
                f"{path}: {where}glibc: {values['glibc']!r} contradicts the floor {suffixed.group(2)!r} in the target name",
                hint="remove `glibc` or the suffix",
            )
        values["glibc"] = suffixed.group(2)
    if not isinstance(triple_name, str):
        raise ConfigError(f"{path}: {where}triple: expected a string, got {triple_name!r}")
    triple = _check_triple(path, f"{where}triple" if "triple" in table else f"targets.{tid}", triple_name)
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
    if triple.env == "msvc":
        raise ConfigError(
            f"{path}: targets.{tid}: {triple} needs the Windows SDK (MSVC), which cannot be used here",
            hint=f"build {triple} on a Windows runner, or use {str(triple).replace('msvc', 'gnu')}",
        )
    return TargetConfig(
        id=tid,
        triple=triple,
        builder=values["builder"],
        glibc=values["glibc"],
        features=values["features"],
        no_default_features=values["no-default-features"],
        all_features=values["all-features"],
        profile=values["profile"],
        rustflags=values["rustflags"],
        env=values["env"],
        toolchain=values["toolchain"],
        std=values["std"],
        runner=values["runner"],
        smoke_args=values["smoke-args"],
        smoke_expect=values["smoke-expect"],
        archive=values["archive"],
        profile_settings=tuple((k, values[k]) for k in PROFILE_KEYS if values[k] is not None),
    )


def cargo_metadata(manifest_path: Path) -> dict[str, Any]:
    """`cargo metadata --no-deps`: the authority on packages, versions and binary names."""
    from . import proc as proc_

    cargo = proc_.which("cargo")  # rustup's installer may have put it off PATH: proc looks there too
    done = proc_.capture_all([cargo or "cargo", "metadata", "--no-deps", "--format-version", "1", "--offline",
                              "--manifest-path", str(manifest_path)], timeout=300) if cargo else None
    if done is None or done.returncode is None:
        raise ToolMissing("cargo is not on PATH" if done is None else f"cargo: {done.error}",
                          hint="run `invoke toolchain --install` (rustup where its server answers, else the "
                          "distribution's Rust)")
    stderr = done.stderr.decode(errors="replace")
    if done.returncode != 0:
        pinned = re.search(r"toolchain '([^']+)'[^\n]* is not installed", stderr)
        if pinned:
            # rustup's cargo proxy: the crate pins a toolchain (rust-toolchain.toml) that is not here.
            raise ToolMissing(f"{manifest_path}: the crate pins Rust toolchain {pinned.group(1)!r}, which is not installed",
                              hint=f"`rustup toolchain install {pinned.group(1)}`, or `invoke toolchain --install`")
        tail = "\n".join(stderr.strip().split("\nStack backtrace:")[0].splitlines()[-8:])
        raise ConfigError(f"{manifest_path}: cargo cannot read this manifest:\n{tail}")
    meta: dict[str, Any] = json.loads(done.stdout)
    return meta


def manifest_metadata(manifest_path: Path) -> dict[str, Any]:
    """What `cargo metadata --no-deps` would say of a single package, read from Cargo.toml itself.

    Only for reporting on a machine without cargo (`invoke doctor`, `invoke toolchain --install`
    before Rust is installed): binaries declared as [[bin]] or implied by src/main.rs and src/bin/.
    Builds always ask cargo."""
    try:
        with manifest_path.open("rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{manifest_path}: cannot read this manifest: {exc}") from None
    pkg = data.get("package")
    if not isinstance(pkg, dict) or not isinstance(pkg.get("name"), str):
        # A workspace root: without cargo the members' bins are not worth guessing.
        raise ToolMissing("cargo is not on PATH (needed to read the workspace " + str(manifest_path) + ")",
                          hint="run `invoke toolchain --install` (or install Rust with rustup)")
    version = pkg.get("version")
    src = manifest_path.parent / "src"
    bins = [b["name"] for b in data.get("bin", []) if isinstance(b, dict) and isinstance(b.get("name"), str)]
    if (src / "main.rs").is_file() and pkg["name"] not in bins:
        bins.append(pkg["name"])
    bins += sorted(p.stem for p in (src / "bin").glob("*.rs") if p.stem not in bins)
    targets = [{"name": b, "kind": ["bin"]} for b in bins]
    return {
        "packages": [{**{k: v for k, v in pkg.items() if isinstance(v, str | list)}, "name": pkg["name"],
                      "version": version if isinstance(version, str) else "0.0.0",
                      "manifest_path": str(manifest_path), "targets": targets}],
        "workspace_root": str(manifest_path.parent),
        "target_directory": os.environ.get("CARGO_TARGET_DIR") or str(manifest_path.parent / "target"),
    }


def _crate_manifest(path: Path, table: dict[str, Any]) -> Path:
    crate_rel = table.get("crate", ".")
    if not isinstance(crate_rel, str):
        raise ConfigError(f"{path}: project.crate: expected a path string, got {crate_rel!r}")
    crate_dir = (path.parent / crate_rel).resolve()
    manifest = crate_dir / "Cargo.toml" if crate_dir.is_dir() else crate_dir
    if not manifest.is_file():
        raise ConfigError(
            f"{path}: project.crate: no Cargo.toml at {crate_dir}",
            hint="set project.crate to the directory holding the crate's Cargo.toml (relative to targets.toml)",
        )
    return manifest


def _package_of(path: Path, manifest: Path, packages: list[dict[str, Any]], want: Any) -> dict[str, Any]:
    """project.package, or the one package the manifest names or the workspace has with binaries."""
    if want is not None and not isinstance(want, str):
        raise ConfigError(f"{path}: project.package: expected a string, got {want!r}")
    if want:
        found = [p for p in packages if p["name"] == want]
        if not found:
            near = suggest(want, [p["name"] for p in packages])
            raise ConfigError(
                f"{path}: project.package: no package {want!r} in {manifest}"
                + (f"; did you mean {near!r}?" if near else ""),
                hint="packages: " + ", ".join(p["name"] for p in packages),
            )
        return found[0]
    own = [p for p in packages if Path(p["manifest_path"]).resolve() == manifest.resolve()]
    with_bins = [p for p in packages if any("bin" in t["kind"] for t in p["targets"])]
    if own:
        return own[0]
    if len(with_bins) == 1:
        return with_bins[0]
    raise ConfigError(
        f"{path}: project.package: {manifest} is a workspace; say which package to release",
        hint="packages with binaries: " + ", ".join(p["name"] for p in with_bins),
    )


def _binaries_of(path: Path, pkg: dict[str, Any], wanted_bins: Any) -> tuple[str, ...]:
    bins = [t["name"] for t in pkg["targets"] if "bin" in t["kind"]]
    if not bins:
        raise ConfigError(f"{path}: project: package {pkg['name']!r} has no binary targets")
    for b in bins:
        # Binary names become file names in dist/ and in every package format.
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", b) or ".." in b:
            raise ConfigError(f"{pkg['manifest_path']}: binary name {b!r} is not a safe file name",
                              hint="rename the [[bin]] (letters, digits, . _ + -)")
    if wanted_bins is None:
        return tuple(bins)
    try:
        binaries = _str_list(wanted_bins)
    except ValueError as exc:
        raise ConfigError(f"{path}: project.binaries: expected {exc}, got {wanted_bins!r}") from None
    for b in binaries:
        if b not in bins:
            near = suggest(b, bins)
            raise ConfigError(
                f"{path}: project.binaries: package {pkg['name']!r} has no binary {b!r}"
                + (f"; did you mean {near!r}?" if near else ""),
                hint="its binaries: " + ", ".join(bins),
            )
    if not binaries:
        raise ConfigError(f"{path}: project.binaries: the list is empty", hint="name at least one binary, or remove the key")
    return binaries


def _project(path: Path, raw: Any, cargo_optional: bool = False) -> Project:
    table = _check_table(path, "project.", raw if raw is not None else {})
    for key in table:
        if key not in PROJECT_KEYS:
            raise _unknown_key(path, "project.", key, PROJECT_KEYS)
    root = path.parent
    manifest = _crate_manifest(path, table)
    try:
        meta = cargo_metadata(manifest)
    except ToolMissing:
        if not cargo_optional:
            raise
        meta = manifest_metadata(manifest)
    pkg = _package_of(path, manifest, meta["packages"], table.get("package"))
    binaries = _binaries_of(path, pkg, table.get("binaries"))
    dist = table.get("dist", "dist")
    if not isinstance(dist, str) or not dist:
        raise ConfigError(f"{path}: project.dist: expected a directory path string, got {dist!r}")
    name = table.get("name", pkg["name"])
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ConfigError(f"{path}: project.name: {name!r} is not a usable artifact name (letters, digits, . _ -)")
    return Project(
        config_path=path,
        root=root,
        manifest_path=Path(pkg["manifest_path"]),
        workspace_root=Path(meta["workspace_root"]),
        target_directory=Path(meta["target_directory"]),
        package=pkg["name"],
        name=name,
        version=pkg["version"],
        binaries=binaries,
        dist_dir=(root / dist).resolve() if not os.path.isabs(dist) else Path(dist),
        description=(pkg.get("description") or "").strip(),
        license=pkg.get("license"),
        homepage=pkg.get("homepage"),
        repository=pkg.get("repository"),
        authors=tuple(pkg.get("authors") or ()),
        readme=(Path(pkg["manifest_path"]).parent / pkg["readme"]) if pkg.get("readme") else None,
    )


# Tokens CI systems and package tools put in the environment of every step.
WELL_KNOWN_SECRETS = frozenset({
    "GITHUB_TOKEN", "GH_TOKEN", "GITLAB_TOKEN", "CI_JOB_TOKEN", "NPM_TOKEN", "NODE_AUTH_TOKEN",
    "CARGO_REGISTRY_TOKEN", "TWINE_PASSWORD", "PYPI_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_RUNTIME_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
})


def _named_env(data: Any) -> frozenset[str]:
    """Every variable a `*-env` key of targets.toml names (passphrases, tokens, passwords)."""
    names: set[str] = set()
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(k, str) and k.endswith("-env") and isinstance(v, str):
                    names.add(v)
                elif isinstance(v, dict | list):
                    stack.append(v)
        elif isinstance(node, list):
            stack.extend(x for x in node if isinstance(x, dict | list))
    return frozenset(names)


def parse(path: Path, data: Mapping[str, Any], cargo_optional: bool = False) -> Config:
    """Turn the TOML document into a Config, or raise the first ConfigError."""
    for key in data:
        if key not in TOP_KEYS:
            raise _unknown_key(path, "", key, TOP_KEYS)
    defaults = _target_values(path, "defaults.", _check_table(path, "defaults.", data.get("defaults", {})), set())
    targets_raw = _check_table(path, "targets.", data.get("targets", {}))
    if not targets_raw:
        raise ConfigError(
            f"{path}: targets: no targets configured",
            hint="add a table per target, e.g. [targets.x86_64-unknown-linux-gnu]",
        )
    targets = tuple(_make_target(path, tid, raw, defaults) for tid, raw in targets_raw.items())
    seen: dict[str, str] = {}
    for t in targets:
        if t.rust_target in seen:
            raise ConfigError(
                f"{path}: targets.{t.id}: duplicate target: targets.{seen[t.rust_target]} already builds {t.rust_target}",
                hint="remove one of them, or give one a different triple or glibc floor",
            )
        seen[t.rust_target] = t.id
    project = _project(path, data.get("project"), cargo_optional)
    import dataclasses

    project = dataclasses.replace(project, sccache=_cache(path, data.get("cache", {})),
                                  secret_env=WELL_KNOWN_SECRETS | _named_env(data))
    cfg = Config(
        project=project,
        targets=targets,
        package=_package(path, data.get("package", {})),
        checksum=_checksum(path, data.get("checksum", {})),
        sign=_sign(path, data.get("sign", {})),
        raw=data,
    )
    from .channels import parse_channels

    parse_channels(cfg)  # bad channel names and versions are refused here, before anything is written
    from .publish import parse_publish

    parse_publish(cfg)  # and a typo in [publish.*], before anything is built
    if "bindings" in data:
        from .bindings import parse_bindings

        parse_bindings(cfg)
    return cfg


def _cache(path: Path, raw: Any) -> str | None:
    """[cache] sccache = true | "redis://host:port" (env WAVRYBUILD_SCCACHE overrides: 0, 1 or a URL)."""
    table = _check_table(path, "cache.", raw)
    reject_unknown(path, "cache.", table, ("sccache",))
    value: Any = table.get("sccache", False)
    where = f"{path}: cache.sccache"
    env = os.environ.get("WAVRYBUILD_SCCACHE")
    if env is not None:
        value, where = {"0": False, "1": True, "": False}.get(env, env), "WAVRYBUILD_SCCACHE"
    if value is False:
        return None
    if value is True:
        return os.environ.get("SCCACHE_REDIS_ENDPOINT") or "local"
    if isinstance(value, str) and re.fullmatch(r"rediss?://\S+", value):
        return value
    raise ConfigError(f"{where}: expected true, false or a redis:// URL, got {value!r}",
                      hint='e.g. sccache = "redis://127.0.0.1:6379" for a cache shared between machines')


def _compression_level(level: Any) -> int:
    if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 22:
        raise ValueError("a whole number from 0 to 22 (gzip/xz use 0-9, zstd 1-22)")
    return level


_PACKAGE_CHECKS: dict[str, Callable[[Any], Any]] = {
    "format": _choice(ARCHIVE_FORMATS), "windows-format": _choice(ARCHIVE_FORMATS),
    "include": _str_list, "compression-level": _compression_level,
}


def _package(path: Path, raw: Any) -> PackageConfig:
    table = _check_table(path, "package.", raw)
    for key in table:
        if key not in PACKAGE_KEYS:
            raise _unknown_key(path, "package.", key, PACKAGE_KEYS)
    values: dict[str, Any] = {}
    for key, value in table.items():
        try:
            values[key.replace("-", "_")] = _PACKAGE_CHECKS[key](value)
        except ValueError as exc:
            raise ConfigError(f"{path}: package.{key}: expected {exc}, got {value!r}") from None
    for pattern in values.get("include", ()):
        parts = Path(pattern).parts
        if pattern.strip() and not parts:
            raise ConfigError(f"{path}: package.include: {pattern!r} is the crate directory itself",
                              hint="name the files to ship, e.g. \"LICENSE*\" or \"completions/*\"")
        if Path(pattern).is_absolute() or ".." in parts or not pattern.strip():
            raise ConfigError(
                f"{path}: package.include: {pattern!r} would reach outside the crate directory",
                hint="use a relative pattern inside the crate directory, e.g. \"LICENSE*\" or \"completions/*\"",
            )
    return PackageConfig(**values)


def _secret_refused(path: Path, where: str, key: str) -> ConfigError:
    return ConfigError(
        f"{path}: {where}{key}: secrets never go in targets.toml",
        hint=f"put it in an environment variable and name that variable with `{key.split('-')[0]}-env`, "
        "or keep it in a file outside the repository",
    )


def _sign(path: Path, raw: Any) -> SignConfig:
    table = _check_table(path, "sign.", raw)
    allowed = {"methods", "artifacts", *SIGN_METHODS}
    options: dict[str, tuple[tuple[str, str | None], ...]] = {}
    for key, value in table.items():
        if key not in allowed:
            if any(w in key.lower() for w in SECRET_WORDS):
                raise _secret_refused(path, "sign.", key)
            raise _unknown_key(path, "sign.", key, allowed)
        if key in SIGN_METHODS:
            sub = _check_table(path, f"sign.{key}.", value)
            for k, v in sub.items():
                if k not in SIGN_METHOD_KEYS[key]:
                    if any(w in k.lower() for w in SECRET_WORDS) and not k.endswith("-env"):
                        raise _secret_refused(path, f"sign.{key}.", k)
                    raise _unknown_key(path, f"sign.{key}.", k, SIGN_METHOD_KEYS[key])
                if not isinstance(v, str) or not v:
                    # A *-env value is not echoed: it may be the passphrase pasted in place of its name.
                    got = "" if k.endswith("-env") else f", got {v!r}"
                    raise ConfigError(f"{path}: sign.{key}.{k}: expected a non-empty string{got}")
            options[key] = tuple(sorted(sub.items()))
    methods_raw = os.environ.get("WAVRYBUILD_SIGN_METHODS")
    where = "WAVRYBUILD_SIGN_METHODS" if methods_raw is not None else f"{path}: sign.methods"
    try:
        methods = (tuple(m for m in methods_raw.replace(",", " ").split()) if methods_raw is not None
                   else _str_list(table.get("methods", [])))
        artifacts = _bool(table.get("artifacts", False))
    except ValueError as exc:
        raise ConfigError(f"{path}: sign: expected {exc}") from None
    for m in methods:
        if m not in SIGN_METHODS:
            near = suggest(m, list(SIGN_METHODS))
            raise ConfigError(f"{where}: unknown signing method {m!r}" + (f"; did you mean {near!r}?" if near else ""),
                              hint="methods: " + ", ".join(SIGN_METHODS))
    return SignConfig(methods=methods, artifacts=artifacts, options=tuple(sorted(options.items())))


def _checksum(path: Path, raw: Any) -> ChecksumConfig:
    table = _check_table(path, "checksum.", raw)
    for key in table:
        if key not in CHECKSUM_KEYS:
            raise _unknown_key(path, "checksum.", key, CHECKSUM_KEYS)
    try:
        return ChecksumConfig(sidecars=_bool(table.get("sidecars", False)))
    except ValueError as exc:
        raise ConfigError(f"{path}: checksum.sidecars: expected {exc}, got {table['sidecars']!r}") from None


def load(path: str | os.PathLike[str], cargo_optional: bool = False) -> Config:
    """Parse targets.toml. cargo_optional: a machine without cargo still gets a Config (read from
    Cargo.toml directly), for the tasks that report on or install the toolchain."""
    path = Path(path).absolute()
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: file not found",
            hint="create targets.toml (see docs/targets-toml.md), or point at one with --config, "
            "WAVRYBUILD_CONFIG or the invoke setting wavrybuild.config",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid TOML for wavrybuild: nested too deeply") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a targets.toml",
                          hint="point --config (or WAVRYBUILD_CONFIG) at the file itself") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None
    return parse(path, data, cargo_optional)
