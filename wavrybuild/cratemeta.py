"""A crate as the package phase leaves it for the release job: its `.crate` file (what `cargo
package` wrote and verified) and the metadata the registry web API's publish request carries
(https://doc.rust-lang.org/cargo/reference/registry-web-api.html#publish), taken from `cargo
metadata` at package time. The release job publishes from these two artifacts with no cargo.

Both files travel in a CI part: the metadata is input there, parsed here (`parse_metadata`) into
exactly the documented fields, each checked, before a byte of it is sent anywhere. The publish body
is built from what was parsed, never from the raw file.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config.values import HttpUrl, Line
from .errors import ConfigError, suggest

KIND = "crate"  # the manifest's artifact kind of both files
CRATES_IO_INDEX = "https://github.com/rust-lang/crates.io-index"  # how the web API names crates.io
CRATES_IO_SPARSE = "https://index.crates.io/"
MAX_TEXT = 64 * 1024  # description, readme: crates.io's own limits are lower
MAX_ITEMS = 1000
_CRATE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
# semver: MAJOR.MINOR.PATCH, then -pre and +build of dot-separated identifiers.
_SEMVER = re.compile(r"(0|[1-9]\d{0,15})\.(0|[1-9]\d{0,15})\.(0|[1-9]\d{0,15})"
                     r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?")
DEP_KINDS = ("normal", "dev", "build")


class CrateMetaError(ValueError):
    """A field of the metadata is not what the web API documents; names the field."""


def crate_file(name: str, vers: str) -> str:
    """The .crate file's name in dist/: cargo's own `<name>-<version>.crate`."""
    return f"{name}-{vers}.crate"


def metadata_file(name: str, vers: str) -> str:
    return crate_file(name, vers) + ".json"


def is_crate_name(v: Any) -> bool:
    return isinstance(v, str) and _CRATE_NAME.fullmatch(v) is not None


def is_version(v: Any) -> bool:
    return isinstance(v, str) and len(v) <= 256 and _SEMVER.fullmatch(v) is not None


# --- the schema of the metadata (the publish request's JSON) ------------------------------------------

def _fail(where: str, expected: str, got: Any) -> CrateMetaError:
    shown = repr(got)[:80] if isinstance(got, (str, int, float, bool)) or got is None else f"a JSON {type(got).__name__}"
    return CrateMetaError(f"{where}: expected {expected}, got {shown}")


def _name(v: Any, where: str) -> str:
    if not is_crate_name(v):
        raise _fail(where, "a crate name (ASCII letters, digits, - and _, starting with a letter, at most 64)", v)
    return str(v)


def _line(v: Any, where: str) -> str:
    if not isinstance(v, str) or not Line.valid(v):
        raise _fail(where, "one line of text without control characters", v)
    return v


def _text(v: Any, where: str) -> str:
    if not isinstance(v, str) or len(v) > MAX_TEXT or not all(Line.valid(x.replace("\t", " ").rstrip("\r"))
                                                              for x in v.split("\n")):
        raise _fail(where, f"text without control characters (at most {MAX_TEXT} characters)", v)
    return v


def _opt(check: Any) -> Any:
    return lambda v, where: None if v is None else check(v, where)


def _bool(v: Any, where: str) -> bool:
    if type(v) is not bool:
        raise _fail(where, "true or false", v)
    return v


def _list(check: Any) -> Any:
    def run(v: Any, where: str) -> list[Any]:
        if not isinstance(v, list) or len(v) > MAX_ITEMS:
            raise _fail(where, f"a list (at most {MAX_ITEMS} items)", v)
        return [check(x, f"{where}[{i}]") for i, x in enumerate(v)]
    return run


def _registry(v: Any, where: str) -> str:
    # An index URL, as cargo names it ("sparse+https://…" for a sparse index).
    if not isinstance(v, str) or not HttpUrl.valid(v.removeprefix("sparse+").removeprefix("registry+")):
        raise _fail(where, "a registry's index URL (http or https)", v)
    return v


def _kind(v: Any, where: str) -> str:
    if v not in DEP_KINDS:
        raise _fail(where, "one of " + ", ".join(DEP_KINDS), v)
    return str(v)


def _features(v: Any, where: str) -> dict[str, list[str]]:
    if not isinstance(v, dict) or len(v) > MAX_ITEMS:
        raise _fail(where, f"an object (at most {MAX_ITEMS} features)", v)
    out = {}
    for k, x in v.items():
        if not isinstance(k, str) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_+.-]{0,63}", k):
            raise _fail(f"{where} key", "a feature name", k)
        out[k] = _list(_line)(x, f"{where}.{k}")
    return out


def _fields(v: Any, where: str, checks: Mapping[str, Any]) -> dict[str, Any]:
    """Exactly these fields (a missing one is null/empty as the web API allows; an unknown one is refused)."""
    if not isinstance(v, dict):
        raise _fail(where or "the metadata", "a JSON object", v)
    unknown = sorted(set(v) - set(checks))
    if unknown:
        raise CrateMetaError(f"{where}.{unknown[0][:40]!r}".lstrip(".") + ": no such field (unknown fields are refused)")
    out = {}
    for k, check in checks.items():
        if k not in v:
            raise CrateMetaError(f"{where}.{k}".lstrip(".") + ": missing")
        out[k] = check(v[k], f"{where}.{k}".lstrip("."))
    return out


_DEP = {"name": _name, "version_req": _line, "features": _list(_line), "optional": _bool,
        "default_features": _bool, "target": _opt(_line), "kind": _kind, "registry": _opt(_registry),
        "explicit_name_in_toml": _opt(_name)}
def _vers(v: Any, where: str) -> str:
    if not is_version(v):
        raise _fail(where, "a semver version (1.2.3, 1.2.3-rc.1)", v)
    return str(v)


def _badges(v: Any, where: str) -> dict[str, Any]:
    if v != {}:  # deprecated by the web API: always empty
        raise _fail(where, "{}", v)
    return {}


_META = {"name": _name, "vers": _vers,
         "deps": _list(lambda v, w: _fields(v, w, _DEP)), "features": _features, "authors": _list(_line),
         "description": _opt(_text), "documentation": _opt(_line), "homepage": _opt(_line), "readme": _opt(_text),
         "readme_file": _opt(_line), "keywords": _list(_line), "categories": _list(_line), "license": _opt(_line),
         "license_file": _opt(_line), "repository": _opt(_line),
         "badges": _badges,
         "links": _opt(_line), "rust_version": _opt(_line)}


@dataclass(frozen=True)
class CrateMeta:
    """The publish request's metadata, every field checked; `fields` is exactly what is sent."""

    name: str
    vers: str
    fields: Mapping[str, Any]

    def internal_deps(self, names: Sequence[str]) -> list[str]:
        """The crates among `names` this one needs published first (dev-dependencies are not resolved
        by a user of the crate; another registry's crate is not ours)."""
        return [d["name"] for d in self.fields["deps"]
                if d["kind"] != "dev" and d["registry"] is None and d["name"] in names and d["name"] != self.name]

    def json(self) -> bytes:
        return json.dumps(self.fields, sort_keys=True, separators=(",", ":")).encode()


def parse_metadata(raw: bytes) -> CrateMeta:
    """The metadata file's bytes: strict JSON, exactly the web API's fields. CrateMetaError names the field."""
    from .manifest import strict_json

    try:
        data = strict_json(raw)
    except ValueError as exc:
        raise CrateMetaError(f"not valid JSON ({exc})") from None
    fields = _fields(data, "", _META)
    return CrateMeta(fields["name"], fields["vers"], fields)


def publish_body(meta: CrateMeta, crate: bytes) -> bytes:
    """The body of PUT /api/v1/crates/new: u32 LE length + JSON metadata, u32 LE length + .crate."""
    js = meta.json()
    return struct.pack("<I", len(js)) + js + struct.pack("<I", len(crate)) + crate


# --- at package time: cargo's answer turned into the metadata ---------------------------------------------

def _same_index(a: str, b: str) -> bool:
    def norm(u: str) -> str:
        u = u.removeprefix("sparse+").removeprefix("registry+").rstrip("/")
        return CRATES_IO_INDEX if u == CRATES_IO_SPARSE.rstrip("/") else u
    return norm(a) == norm(b)


def from_cargo(pkg: Mapping[str, Any], index: str) -> CrateMeta:
    """The metadata for publishing `pkg` (a package of `cargo metadata`) to the registry whose index is
    `index`, as cargo publish would send it: dependencies of that same registry have registry null,
    others name their index (crates.io's as the web API names it)."""
    deps = []
    for d in pkg.get("dependencies", []):
        kind = d.get("kind") or "normal"
        if kind == "dev" and d.get("path") and d.get("req") in (None, "*"):
            continue  # a path dev-dependency without a version: cargo package leaves it out
        registry = d.get("registry") or CRATES_IO_INDEX
        deps.append({"name": d["name"], "version_req": d.get("req") or "*", "features": list(d.get("features") or []),
                     "optional": bool(d.get("optional")), "default_features": bool(d.get("uses_default_features", True)),
                     "target": d.get("target"), "kind": kind,
                     "registry": None if _same_index(registry, index) else registry,
                     "explicit_name_in_toml": d.get("rename")})
    manifest_dir = Path(pkg["manifest_path"]).parent
    readme_file, readme = pkg.get("readme"), None
    if readme_file:
        path = (manifest_dir / readme_file).resolve()
        if path.is_relative_to(manifest_dir.resolve()) and path.is_file() and path.stat().st_size <= MAX_TEXT:
            readme = path.read_text(encoding="utf-8", errors="replace")
            readme_file = path.relative_to(manifest_dir.resolve()).as_posix()
    fields = {"name": pkg["name"], "vers": pkg["version"], "deps": deps, "features": dict(pkg.get("features") or {}),
              "authors": list(pkg.get("authors") or []), "description": pkg.get("description"),
              "documentation": pkg.get("documentation"), "homepage": pkg.get("homepage"), "readme": readme,
              "readme_file": readme_file, "keywords": list(pkg.get("keywords") or []),
              "categories": list(pkg.get("categories") or []), "license": pkg.get("license"),
              "license_file": pkg.get("license_file"), "repository": pkg.get("repository"), "badges": {},
              "links": pkg.get("links"), "rust_version": pkg.get("rust_version")}
    # Through the same parser as the release job: a value the release job would refuse fails here, early.
    return parse_metadata(json.dumps(fields).encode())


def publish_order(packages: list[dict[str, Any]], wanted: Sequence[str], where: Path) -> list[dict[str, Any]]:
    """The wanted workspace packages, each after the wanted ones it depends on (dev-dependencies
    are left out of a published crate and do not count)."""
    by_name = {p["name"]: p for p in packages}
    for name in wanted:
        if name not in by_name:
            near = suggest(name, list(by_name))
            raise ConfigError(f"{where}: publish.crates.packages: no package {name!r} in the workspace"
                              + (f"; did you mean {near!r}?" if near else ""), hint="packages: " + ", ".join(by_name))
        if by_name[name].get("publish") == []:
            raise ConfigError(f"{where}: publish.crates.packages: {name!r} says `publish = false` in its Cargo.toml")
    out: list[dict[str, Any]] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if any(p["name"] == name for p in out):
            return
        if name in visiting:
            raise ConfigError(f"{where}: publish.crates.packages: {name!r} is part of a dependency cycle")
        visiting.add(name)
        for dep in by_name[name].get("dependencies", []):
            if dep.get("kind") != "dev" and dep.get("path") and dep["name"] in wanted:
                visit(dep["name"])
        visiting.discard(name)
        out.append(by_name[name])

    for name in wanted:
        visit(name)
    return out
