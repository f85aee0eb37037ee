"""The crate's own documents every package ships: its LICENSE* / LICENCE* / COPYING* / README* files.

Which files: those next to the package's Cargo.toml (for a kind with none there, those at the
workspace root), and the files Cargo.toml names as `license-file` and `readme` (already confined
to the crate directory or the workspace root where the config is loaded: config/project.py). Only
regular files, followed links included as long as they stay inside those two directories. Each
goes into a package under its own file name; two with the same name: the crate's own wins.
The archives take them as extra entries (package/plan.py), the .deb and .rpm under
/usr/share/doc and /usr/share/licenses (channels/linux/), the .deb's copyright file quotes the
license texts (channels/linux/copyright.py). `[package] crate-docs = false` turns it off.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .config.project import CratePackage
from .config.values import Component
from .errors import ConfigError
from .fsutil import Refused, read_regular

KINDS = {"license": ("license", "licence", "copying", "unlicense"), "readme": ("readme",)}
TEXT_LIMIT = 1 << 20  # bytes of one license text quoted in a .deb's copyright file


@dataclass(frozen=True)
class CrateDoc:
    """One document: its name in a package, where it is (resolved), and its kind."""

    name: Component
    path: Path
    kind: str  # "license" or "readme"


def kind_of(name: str) -> str | None:
    """"license" for LICENSE, LICENSE-MIT, COPYING.txt…, "readme" for README.md, else None."""
    lower = name.lower()
    for kind, prefixes in KINDS.items():
        if any(lower == p or lower.startswith((p + ".", p + "-", p + "_")) for p in prefixes):
            return kind
    return None


def _found(directory: Path, roots: tuple[Path, ...]) -> Iterator[CrateDoc]:
    try:
        names = sorted(p.name for p in directory.iterdir())
    except OSError:
        return
    for name in names:
        kind = kind_of(name)
        if kind is None:
            continue
        doc = _doc(directory / name, kind, roots)
        if doc is not None:
            yield doc


def _doc(path: Path, kind: str, roots: tuple[Path, ...], named_by: str = "") -> CrateDoc | None:
    """The file as a CrateDoc; None for a directory or a missing file found by its name (a
    `licenses/` directory is not a license); a ConfigError for one that leaves the roots."""
    real = path.resolve()
    if not any(real.is_relative_to(r) for r in roots):
        raise ConfigError(f"{path}: resolves to {real}, outside the crate directory",
                          hint="copy the file into the crate instead of linking to it")
    if not real.is_file():
        if named_by and not real.exists():
            raise ConfigError(f"{named_by}: {path} does not exist", hint="fix Cargo.toml or add the file")
        return None
    try:
        name = Component.parse(path.name)
    except ValueError:
        raise ConfigError(f"{path}: not a usable file name in a package",
                          hint="rename it (letters, digits, . _ -), or set [package] crate-docs = false") from None
    return CrateDoc(name, real, kind)


def crate_docs(pkg: CratePackage, workspace_root: Path) -> tuple[CrateDoc, ...]:
    """The package's documents, sorted by name (so every archive lists them in one order)."""
    crate_dir = pkg.manifest_path.parent.resolve()
    roots = (crate_dir, workspace_root.resolve())
    docs: dict[str, CrateDoc] = {}
    named = [(pkg.license_file, "license", "license-file"), (pkg.readme, "readme", "readme")]
    for path, kind, key in named:
        if path is not None:
            doc = _doc(path, kind, roots, f"{pkg.manifest_path}: package.{key}")
            if doc is not None:
                docs.setdefault(doc.name, doc)
    own = list(_found(crate_dir, roots))
    for doc in own:
        docs.setdefault(doc.name, doc)
    if roots[1] != crate_dir:
        kinds = {d.kind for d in docs.values()}
        for doc in _found(roots[1], roots):
            if doc.kind not in kinds:
                docs.setdefault(doc.name, doc)
    return tuple(sorted(docs.values(), key=lambda d: d.name))


def license_text(doc: CrateDoc) -> str:
    """A license file's text (UTF-8, undecodable bytes replaced), at most TEXT_LIMIT bytes."""
    try:
        return read_regular(doc.path, TEXT_LIMIT).decode("utf-8", errors="replace")
    except Refused as exc:
        raise ConfigError(f"{doc.path}: {exc.why}", hint="a license file is a text file of at most 1 MiB") from None
