"""windows-gnu and winapi's import libraries.

winapi 0.3 links `-lwinapi_<dll>` on x86_64/i686-pc-windows-gnu: import libraries bundled in the
`lib/` of its helper crates winapi-x86_64-pc-windows-gnu and winapi-i686-pc-windows-gnu. Debian's
packages of those crates (librust-winapi-*-pc-windows-gnu-dev, in /usr/share/cargo/registry) leave
`lib/` out, so a crate using them compiles for minutes and then fails to link (`cannot find
-lwinapi_advapi32`). With WINAPI_NO_BUNDLED_LIBRARIES set, winapi's build script links the plain
names (`-ladvapi32`), which mingw's own import libraries (mingw-w64-*-dev, a dependency of the
mingw gcc) provide.

Decided before the build from the crate's Cargo.lock and the directory source that replaces
crates.io; a crates.io download or `cargo vendor` output keeps `lib/` and needs nothing.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from .. import cargo, proc
from ..config import TargetConfig

NO_BUNDLED = "WINAPI_NO_BUNDLED_LIBRARIES"


@dataclass(frozen=True)
class GnuImports:
    """Per triple: winapi's helper crate with the bundled libraries, the mingw package with the
    toolchain's own, and a library the check asks the linker for (winapi links it for any use of
    its registry or security APIs; mingw's -dev package has all of them or none)."""

    crate: str
    package: str
    probe: str = "libadvapi32.a"


# Only these two: winapi's build script uses the `winapi_` prefix for exactly them.
GNU_IMPORTS = {
    "x86_64-pc-windows-gnu": GnuImports("winapi-x86_64-pc-windows-gnu", "mingw-w64-x86-64-dev"),
    "i686-pc-windows-gnu": GnuImports("winapi-i686-pc-windows-gnu", "mingw-w64-i686-dev"),
}
# Cargo.lock's spellings of crates.io (git index, sparse index): what a crates.io replacement serves.
CRATES_IO = ("registry+https://github.com/rust-lang/crates.io-index", "sparse+https://index.crates.io/")


@dataclass(frozen=True)
class Unbundled:
    """A winapi helper crate the build would take from a directory source without its `lib/`."""

    crate: str
    version: str
    directory: Path
    locked: bool  # Cargo.lock names it; False: no Cargo.lock, so cargo may resolve it at build time


@dataclass(frozen=True)
class ImportLibraries:
    """How one windows-gnu target gets winapi's import libraries: the variables its build needs,
    a note for the build output, or the problem that stops it."""

    unbundled: Unbundled
    env: tuple[tuple[str, str], ...] = ()
    note: str | None = None
    problem: str | None = None
    package: str | None = None  # the Debian package that fixes `problem`


def locked_versions(lock: Path, crate: str) -> tuple[str, ...] | None:
    """The versions of `crate` from crates.io that Cargo.lock pins; None without a readable lock
    (cargo, which reads it next, says what is wrong with it)."""
    try:
        data = tomllib.loads(lock.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    packages = data.get("package")
    if not isinstance(packages, list):
        return ()
    return tuple(sorted({p["version"] for p in packages
                         if isinstance(p, dict) and p.get("name") == crate and isinstance(p.get("version"), str)
                         and isinstance(p.get("source"), str) and p["source"].startswith(CRATES_IO)}))


def _package_id(manifest: Path) -> tuple[str, str] | None:
    try:
        pkg = tomllib.loads(manifest.read_text()).get("package")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    if isinstance(pkg, dict) and isinstance(pkg.get("name"), str) and isinstance(pkg.get("version"), str):
        return pkg["name"], pkg["version"]
    return None


def crate_directories(source: Path, crate: str) -> dict[str, Path]:
    """version -> the crate's directory in a directory source. Cargo goes by each directory's
    Cargo.toml, not its name; the name only narrows the search (`<name>-<version>` in Debian's
    registry and in `cargo vendor --versioned-dirs`, `<name>` in plain `cargo vendor`)."""
    try:
        candidates = sorted(d for d in source.iterdir() if d.name == crate or d.name.startswith(crate + "-"))
    except OSError:
        return {}
    found: dict[str, Path] = {}
    for d in candidates:
        ident = _package_id(d / "Cargo.toml")
        if ident is not None and ident[0] == crate:
            found.setdefault(ident[1], d)
    return found


def has_bundled_libraries(directory: Path) -> bool:
    return any((directory / "lib").glob("libwinapi_*.a"))


def find_unbundled(triple: str, crate_dir: Path, workspace_root: Path) -> Unbundled | None:
    """The winapi helper crate of `triple` the build would take without its import libraries, if
    any: the crate depends on it (Cargo.lock; without one, it may) and the directory source that
    replaces crates.io holds it without `lib/libwinapi_*.a`. Cheap: file reads, no process."""
    imports = GNU_IMPORTS.get(triple)
    if imports is None:
        return None
    source = cargo.crates_io_directory(crate_dir)
    if source is None:
        return None  # crates.io's own .crate files carry lib/
    lock = workspace_root / "Cargo.lock"
    versions = locked_versions(lock, imports.crate) if lock.exists() else None
    if versions == ():
        return None  # not in the dependency set
    directories = crate_directories(source, imports.crate)
    for version in versions if versions is not None else tuple(sorted(directories)):
        directory = directories.get(version)
        if directory is not None and not has_bundled_libraries(directory):
            return Unbundled(imports.crate, version, directory, locked=versions is not None)
    return None


def build_env(target: TargetConfig, crate_dir: Path, workspace_root: Path) -> dict[str, str]:
    """What the build of `target` needs set for winapi (nothing, mostly)."""
    found = find_unbundled(str(target.triple), crate_dir, workspace_root)
    return {NO_BUNDLED: "1"} if found is not None else {}


def mingw_library(linker: str, library: str) -> Path | None:
    """Where the mingw gcc finds an import library (`-print-file-name` answers the bare name when
    it finds none)."""
    out = proc.capture([linker, f"-print-file-name={library}"])
    path = Path(out.strip()) if out and out.strip() else None
    return path if path is not None and path.is_absolute() and path.is_file() else None


def import_libraries(target: TargetConfig, crate_dir: Path, workspace_root: Path,
                     linker: str | None) -> ImportLibraries | None:
    """None when winapi needs nothing here; else the variable to set and whether mingw has the
    libraries it then links. `linker`: the mingw gcc, None when it is missing (a problem of its own,
    and installing it brings the libraries)."""
    triple = str(target.triple)
    found = find_unbundled(triple, crate_dir, workspace_root)
    if found is None:
        return None
    imports = GNU_IMPORTS[triple]
    where = f"{found.crate} {found.version} in {found.directory.parent}"
    if linker is not None and mingw_library(linker, imports.probe) is None:
        problem = (f"{where} has no bundled import libraries (lib/libwinapi_*.a), and mingw's own for {triple} "
                   f"are missing too ({linker} finds no {imports.probe}): `apt-get install {imports.package}`")
        if found.locked:
            return ImportLibraries(found, problem=problem, package=imports.package)
    why = "" if found.locked else " (no Cargo.lock: in case the crate uses it)"
    return ImportLibraries(found, env=((NO_BUNDLED, "1"),), package=imports.package,
                           note=f"{where} has no bundled import libraries: building with {NO_BUNDLED}=1, "
                                f"so winapi links mingw's own{why}")
