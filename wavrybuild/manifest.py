"""dist/manifest.json: every artifact and the release context. Schema: docs/manifest.md."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from . import __version__, proc
from .config import Config, CratePackage
from .config.release import CHOOSABLE, published
from .config.values import ArtifactPath, Checked, CommitId, Component, Line
from .errors import ConfigError
from .fsutil import tmp_dir, write_atomic

SCHEMA = 1
MANIFEST_NAME = "manifest.json"
MAX_MANIFEST_BYTES = 8 << 20  # a manifest lists files, it is never this big
MAX_SIZE = 1 << 40  # 1 TiB: no artifact is larger; a bigger number is not a size
MAX_EPOCH = 253402300799  # 9999-12-31T23:59:59Z: still a date (publishers format it)
MAX_ITEMS = 10000
# Every kind a stage writes (docs/manifest.md); a new kind of artifact is added here.
KINDS = frozenset({"archive", "wheel", "npm", "deb", "rpm", "sbom", "extra", "notes", "provenance", "installer",
                   "dmg", "msi", "setup", "crate", "homebrew", "scoop", "winget"})


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
    # The kinds [release] publish chose when SHA256SUMS was written; None: every kind. `artifacts`
    # lists all that was made, `released()` what SHA256SUMS, the notes and the destinations take.
    published: list[str] | None = None

    def released(self, kinds: Sequence[str] | None) -> list[Artifact]:
        """The artifacts published when `kinds` are chosen (`self.published`, or the config's)."""
        return [a for a in self.artifacts if published(a.kind, kinds)]

    @staticmethod
    def path(dist: Path) -> Path:
        return dist / MANIFEST_NAME

    @classmethod
    def load(cls, dist: Path) -> Manifest | None:
        path = cls.path(dist)
        if not path.exists():
            return None
        try:
            data = strict_json(path.read_bytes())
        except ValueError as exc:
            raise ConfigError(f"{path}: unreadable manifest ({exc})", hint="run `invoke package` again") from None
        return cls.load_data(data, path)

    @classmethod
    def load_data(cls, data: Any, path: Path) -> Manifest:
        """dist/manifest.json's data, checked against the one schema every manifest passes."""
        try:
            return parse_manifest(data)
        except SchemaError as exc:
            raise ConfigError(f"{path}: unreadable manifest ({exc})", hint="run `invoke package` again") from None

    def save(self, dist: Path) -> None:
        data = {"schema": SCHEMA, "wavrybuild": __version__, **asdict(self)}
        if data["published"] is None:
            del data["published"]  # every kind: the manifest reads as before [release] publish existed
        data["artifacts"] = sorted(data["artifacts"], key=lambda a: a["path"])
        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
        path = self.path(dist)
        if path.exists() and path.read_text() == text:
            return  # unchanged: keep the file (and its mtime) as it is
        write_atomic(path, text, tmp_dir=tmp_dir(dist))


def release_packages(cfg: Config) -> dict[str, dict[str, object]]:
    """Each released package as cargo described it: the release job (merge, checksum, sign, notes,
    publish) reads the crate from here, never from cargo (ci/recorded.py)."""
    return {p.name: {"version": p.version, "binaries": list(p.binaries), **_cargo_fields(cfg.project.root, p)}
            for p in cfg.project.packages}


def _cargo_fields(root: Path, p: CratePackage) -> dict[str, object]:
    """Cargo.toml's fields the channels read, and its path relative to targets.toml's directory
    (another machine's checkout of the same commit has another absolute path)."""
    readme = Path(os.path.relpath(p.readme, p.manifest_path.parent)).as_posix() if p.readme else None
    return {"manifest": Path(os.path.relpath(p.manifest_path, root.resolve())).as_posix(),
            "description": p.description, "authors": list(p.authors), "license": p.license,
            "homepage": p.homepage, "repository": p.repository,
            # An absolute readme elsewhere on this machine means nothing on another.
            "readme": readme if readme and _RelativePath.valid(readme) else None}


def git_state(repo: Path) -> dict[str, object]:
    """Commit and dirty flag of the checkout holding the crate (None where it is not one)."""
    commit = proc.capture(["git", "-C", str(repo), "rev-parse", "HEAD"])
    if commit is None:
        return {"commit": None, "dirty": None}
    status = proc.capture(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"])
    return {"commit": commit.strip(), "dirty": bool(status and status.strip())}


# --- the schema: every manifest (dist/manifest.json and a CI part's) is read through it -----------------
# A manifest from a part comes from another machine: each field is parsed into the type it may be
# (values.py), unknown fields are refused at every level, and an error names the field.

T = TypeVar("T")
Check = Callable[[Any, str], T]
_SHA256 = re.compile(r"[0-9a-f]{64}")


class SchemaError(ValueError):
    def __init__(self, where: str, expected: str, got: Any = ...) -> None:
        super().__init__(f"{where}: expected {expected}" + ("" if got is ... else f", got {_shown(got)}"))
        self.where = where


def _shown(v: Any) -> str:
    """A rejected value in a message: repr (control characters escaped), cut short; containers by type."""
    if isinstance(v, (str, int, float, bool)) or v is None:
        text = repr(v) if not isinstance(v, int) or isinstance(v, bool) or abs(v) < 10**30 else "a huge number"
        return text if len(text) <= 80 else text[:77] + "..."
    return f"a JSON {'list' if isinstance(v, list) else 'object' if isinstance(v, dict) else type(v).__name__}"


def strict_json(raw: bytes) -> Any:
    """JSON as the standard has it: UTF-8, no NaN/Infinity, no key given twice, no endless nesting."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ValueError(f"larger than {MAX_MANIFEST_BYTES} bytes")

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                raise ValueError(f"key {k[:40]!r} appears twice")
            out[k] = v
        return out

    try:
        return json.loads(raw.decode("utf-8"), parse_constant=constant, object_pairs_hook=pairs)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _key(k: Any) -> str:
    """A key from the input as part of a message: plain names as they are, anything else by repr."""
    k = str(k)
    return k if re.fullmatch(r"[A-Za-z0-9_.+-]{1,40}", k) else repr(k[:40])


def _typed(cls: type[Checked]) -> Check[Any]:
    def check(v: Any, where: str) -> Any:
        try:
            return cls.parse(v)
        except ValueError:
            raise SchemaError(where, cls.expected, v) from None
    return check


def _int(lo: int, hi: int) -> Check[int]:
    def check(v: Any, where: str) -> int:
        if type(v) is not int or not lo <= v <= hi:  # not bool, not float: exactly an integer
            raise SchemaError(where, f"an integer from {lo} to {hi}", v)
        return v
    return check


def _bool(v: Any, where: str) -> bool:
    if type(v) is not bool:
        raise SchemaError(where, "true or false", v)
    return v


def _sha256(v: Any, where: str) -> str:
    if not isinstance(v, str) or not _SHA256.fullmatch(v):
        raise SchemaError(where, "a sha256 digest (64 lower-case hexadecimal digits)", v)
    return v


def _opt(check: Check[T]) -> Check[T | None]:
    return lambda v, where: None if v is None else check(v, where)


def _empty_or(check: Check[T]) -> Check[T | str]:
    return lambda v, where: "" if v == "" else check(v, where)


def _one_of(allowed: frozenset[str]) -> Check[str]:
    def check(v: Any, where: str) -> str:
        if not isinstance(v, str) or v not in allowed:
            raise SchemaError(where, "one of " + ", ".join(sorted(allowed)), v)
        return v
    return check


def _list(check: Check[T]) -> Check[list[T]]:
    def run(v: Any, where: str) -> list[T]:
        if not isinstance(v, list) or len(v) > MAX_ITEMS:
            raise SchemaError(where, f"a list (at most {MAX_ITEMS} items)", v)
        out = [check(x, f"{where}[{i}]") for i, x in enumerate(v)]
        if len({repr(x) for x in out}) != len(out):
            raise SchemaError(where, "no item listed twice")
        return out
    return run


def _map(key: Check[str], value: Check[T]) -> Check[dict[str, T]]:
    def run(v: Any, where: str) -> dict[str, T]:
        if not isinstance(v, dict) or len(v) > MAX_ITEMS:
            raise SchemaError(where, f"an object (at most {MAX_ITEMS} keys)", v)
        return {key(k, f"{where} key {_key(k)}"): value(x, f"{where}.{_key(k)}") for k, x in v.items()}
    return run


def _fields(v: Any, where: str, required: dict[str, Check[Any]],
            optional: dict[str, tuple[Check[Any], Callable[[], Any]]]) -> dict[str, Any]:
    """An object with exactly these fields (the optional ones get their default)."""
    if not isinstance(v, dict):
        raise SchemaError(where or "the manifest", "an object", v)
    unknown = sorted(set(v) - set(required) - set(optional))
    if unknown:
        raise SchemaError(f"{where}.{_key(unknown[0])}".lstrip("."), "no such field (unknown fields are refused)")
    missing = sorted(set(required) - set(v))
    if missing:
        raise SchemaError(f"{where}.{missing[0]}".lstrip("."), "this field (missing)")
    out = {k: check(v[k], f"{where}.{k}".lstrip(".")) for k, check in required.items()}
    out |= {k: check(v[k], f"{where}.{k}".lstrip(".")) if k in v else default() for k, (check, default) in optional.items()}
    return out


_name = _typed(Component)
_line = _typed(Line)


def _artifact(v: Any, where: str) -> Artifact:
    f = _fields(v, where, {
        "target": _empty_or(_name), "triple": _empty_or(_name), "kind": _one_of(KINDS), "format": _name,
        "path": _typed(ArtifactPath), "size": _int(0, MAX_SIZE), "sha256": _sha256,
    }, {"binaries": (_list(_name), list), "authenticode": (_bool, lambda: False), "packages": (_list(_name), list)})
    return Artifact(**f)


def _git(v: Any, where: str) -> dict[str, object]:
    return _fields(v, where, {}, {"commit": (_opt(_typed(CommitId)), lambda: None), "dirty": (_opt(_bool), lambda: None)})


def _tools(v: Any, where: str) -> dict[str, object]:
    # Tool versions, and under "rustc" the version of each toolchain: text for people, never a path.
    plain = _map(_line, _opt(_line))
    rest = plain({k: x for k, x in v.items() if k != "rustc"} if isinstance(v, dict) else v, where)
    return rest | ({"rustc": plain(v["rustc"], f"{where}.rustc")} if "rustc" in v else {})


def _checksums(v: Any, where: str) -> dict[str, object]:
    return _fields(v, where, {"file": _one_of(frozenset({"SHA256SUMS"})), "sha256": _sha256, "sidecars": _bool}, {})


def _signature(v: Any, where: str) -> dict[str, str]:
    return _fields(v, where, {k: _line for k in ("method", "file", "signs", "signer")}, {})


class _RelativePath(Checked):
    expected = "a relative path ('/'-separated file names or '..', at most 4096 characters)"

    @classmethod
    def check(cls, value: str) -> str:
        if not value or len(value) > 4096 or not all(p == ".." or Component.valid(p) for p in value.split("/")):
            raise ValueError(cls.expected)
        return value


def _text(v: Any, where: str) -> str:
    """Cargo.toml's description: lines of text (config/project.py checks it again as it loads)."""
    if not isinstance(v, str) or len(v) > 64 * 1024 or not all(Line.valid(x.replace("\t", " ")) for x in v.split("\n")):
        raise SchemaError(where, "text whose lines hold no control characters (at most 64 KiB)", v)
    return v


def _package(v: Any, where: str) -> dict[str, object]:
    # `manifest` and the Cargo.toml fields: what the release job needs of cargo (since schema 1's
    # first writers left them out, they are optional: without them the crate is read from Cargo.toml).
    # An absent one stays absent, so a manifest reads back as it was written.
    out = _fields(v, where, {"version": _name, "binaries": _list(_name)}, {
        "manifest": (_opt(_typed(_RelativePath)), lambda: None), "description": (_text, lambda: ""),
        "authors": (_list(_line), list), "license": (_opt(_line), lambda: None),
        "homepage": (_opt(_line), lambda: None), "repository": (_opt(_line), lambda: None),
        "readme": (_opt(_typed(_RelativePath)), lambda: None),
    })
    return {k: x for k, x in out.items() if k in v}


def parse_manifest(data: Any) -> Manifest:
    """The one schema of a manifest (docs/manifest.md): SchemaError names the first field that is wrong."""
    f = _fields(data, "", {
        "schema": _int(SCHEMA, SCHEMA), "crate": _name, "name": _name, "version": _name, "git": _git,
        "source_date_epoch": _int(0, MAX_EPOCH), "source_date_epoch_from": _line, "tools": _tools,
        "artifacts": _list(_artifact),
    }, {
        "wavrybuild": (_line, lambda: ""), "checksums": (_opt(_checksums), lambda: None),
        "signatures": (_list(_signature), list), "packages": (_map(_name, _package), dict),
        "published": (_opt(_list(_one_of(frozenset(CHOOSABLE)))), lambda: None),
    })
    del f["schema"], f["wavrybuild"]
    paths = [a.path for a in f["artifacts"]]
    dup = next((p for p in paths if paths.count(p) > 1), None)
    if dup is not None:
        raise SchemaError("artifacts", f"each path once ({dup!r} is listed twice)")
    return Manifest(**f)
