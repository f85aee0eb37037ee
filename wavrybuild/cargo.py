"""What cargo says about a crate: `cargo metadata` (the authority), or Cargo.toml read directly
on a machine without cargo (for the tasks that report on or install the toolchain).

`cargo metadata --no-deps` is asked once and its answer kept (`cached`) until one of the files or
variables it depends on changes: every task loads the config, and a no-op build
should cost less than the cargo-zigbuild run it stands for.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import env, proc, rustc
from .errors import ConfigError, ToolMissing
from .fsutil import write_atomic


def metadata(manifest_path: Path, *, platform: str | None = None) -> dict[str, Any]:
    """`cargo metadata --no-deps`: the authority on packages, versions and binary names (served
    from the cache while every input of its answer is unchanged). With `platform`: the whole
    resolved graph, only the dependencies that apply to that target triple (`--filter-platform`),
    as the SBOM needs it (never cached: it depends on the registry's files too)."""
    cargo = proc.which("cargo")  # rustup's installer may have put it off PATH: proc looks there too
    if cargo is None or platform:
        return _ask(cargo, manifest_path, platform)
    return cached(cargo, manifest_path, lambda: _ask(cargo, manifest_path, None))


def _ask(cargo: str | None, manifest_path: Path, platform: str | None) -> dict[str, Any]:
    scope = ["--filter-platform", platform] if platform else ["--no-deps"]
    argv = [cargo or "cargo", "metadata", *scope, "--format-version", "1", "--offline", "--manifest-path",
            str(manifest_path)]
    done = proc.capture_all(argv, timeout=300) if cargo else None
    via = _release_toolchain(done.stderr.decode(errors="replace")) if done and done.returncode else None
    if done and via:
        # A version pin (channel = "1.96.0") that rustup has under another name (the distribution's
        # Rust linked as `system`): ask that toolchain's cargo, as the build will.
        done = proc.capture_all(argv, env={"RUSTUP_TOOLCHAIN": via}, timeout=300)
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


def _release_toolchain(stderr: str) -> str | None:
    """The installed toolchain that is the release rustup says the crate pins and it lacks."""
    pinned = re.search(r"toolchain '([^']+)'[^\n]* is not installed", stderr)
    release = rustc.pinned_release(pinned.group(1)) if pinned else None
    return rustc.toolchain_of_release(release) if release else None



# -- the crate's cargo config: which directory source replaces crates.io -----------------------


def config_files(start: Path) -> list[Path]:
    """Cargo config files in the order cargo reads them: nearest directory first, CARGO_HOME last."""
    found: list[Path] = []
    for d in (start, *start.parents):
        for name in ("config.toml", "config"):
            f = d / ".cargo" / name
            if f.is_file():
                found.append(f)
                break
    home = env.cargo_home()
    for name in ("config.toml", "config"):
        f = home / name
        if f.is_file() and f not in found:
            found.append(f)
            break
    return found


def crates_io_directory(start: Path) -> Path | None:
    """The directory source that replaces crates.io for a crate in `start`, if its cargo config says
    so (`cargo vendor` output, Debian's /usr/share/cargo/registry)."""
    replace_with: tuple[str, Path] | None = None
    directories: dict[str, Path] = {}
    for f in config_files(start):
        try:
            data = tomllib.loads(f.read_text())
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{f}: cargo cannot read this config either: {exc}") from None
        source = data.get("source")
        if not isinstance(source, dict):
            continue
        crates_io = source.get("crates-io")
        if replace_with is None and isinstance(crates_io, dict) and isinstance(crates_io.get("replace-with"), str):
            replace_with = (crates_io["replace-with"], f)
        for name, table in source.items():
            if isinstance(table, dict) and isinstance(table.get("directory"), str) and name not in directories:
                # Relative paths are relative to the directory holding `.cargo/` (cargo's rule).
                directories[name] = (f.parent.parent / table["directory"]).resolve()
    if replace_with is None:
        return None
    name, _ = replace_with
    if name not in directories:
        return None  # a registry mirror or local-registry: cargo's own replacement is kept out of reach
    return directories[name]


# -- the cache of `cargo metadata --no-deps` ----------------------------------------------------
#
# Its answer is a function of: the cargo that runs (the proxy and, under rustup, the toolchain it
# picks: RUSTUP_TOOLCHAIN, rust-toolchain files, settings.toml, the toolchains' own cargo), the
# variables cargo reads, the working directory and the manifest path, the cargo config files and
# Cargo.toml files in the ancestors (a parent may become the workspace root), and inside the
# workspace (and any member outside it) every Cargo.toml and Cargo.lock by content and every
# directory by its entries (workspace globs, auto-discovered bins, examples, tests, build.rs).
# An entry is kept only when it was written from a quiet tree (nothing touched in the seconds
# before cargo ran), so an edit during the run cannot pair a new tree with an old answer.

CACHE_FORMAT = 1
# Variables cargo and rustup read (CARGO_TARGET_DIR, CARGO_HOME, CARGO_BUILD_*, RUSTUP_TOOLCHAIN…);
# HOME decides where CARGO_HOME and RUSTUP_HOME default to.
CACHE_ENV = re.compile(r"^(__)?(CARGO|RUSTUP)|^HOME$")
CONTENT_FILES = {"Cargo.toml", "Cargo.lock", "rust-toolchain", "rust-toolchain.toml"}
ANCESTOR_FILES = ("Cargo.toml", "rust-toolchain", "rust-toolchain.toml", ".cargo/config", ".cargo/config.toml")
# Never part of a package: version control, wavrybuild's own state.
SKIP_DIRS = {".git", ".hg", ".svn", ".jj", ".pijul", ".wavrybuild"}
QUIET_NS = 2_000_000_000  # 2 s: more than any file system's timestamp granularity on Linux but FAT's


def cache_dir() -> Path:
    return env.cache_home() / "wavrybuild" / "metadata"


def cached(cargo: str, manifest_path: Path, ask: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`ask()`'s answer, or the one remembered for exactly these inputs."""
    manifest = Path(os.path.abspath(manifest_path))
    where = cache_dir() / (hashlib.sha256(f"{manifest}\0{os.getcwd()}".encode()).hexdigest()[:32] + ".json")
    started = time.time_ns()
    key = inputs_key(cargo, manifest)
    entry = _read(where)
    if entry is not None and entry.get("key") == key and isinstance(entry.get("answer"), dict):
        watch, _ = tree_digest(entry["answer"])
        if watch == entry.get("watch"):
            answer: dict[str, Any] = entry["answer"]
            return answer
    answer = ask()
    watch, newest = tree_digest(answer)
    if newest < started - QUIET_NS and newest_input(cargo, manifest) < started - QUIET_NS:
        with contextlib.suppress(OSError):  # a read-only home: asking cargo again next time is fine
            write_atomic(where, json.dumps({"format": CACHE_FORMAT, "key": key, "watch": watch, "answer": answer}))
            _prune(where.parent)
    return answer


KEEP = 64  # entries: one per crate and working directory; test suites make hundreds of short-lived ones


def _prune(directory: Path) -> None:
    """Drop the oldest entries beyond KEEP (a dropped one only costs one `cargo metadata`)."""
    entries = list(directory.glob("*.json"))
    if len(entries) > 2 * KEEP:
        for old in sorted(entries, key=lambda f: f.stat().st_mtime_ns)[:-KEEP]:
            old.unlink(missing_ok=True)


def _read(where: Path) -> dict[str, Any] | None:
    try:
        entry = json.loads(where.read_bytes())
    except (OSError, ValueError):
        return None
    return entry if isinstance(entry, dict) and entry.get("format") == CACHE_FORMAT else None


def _stamp(path: Path) -> tuple[str, int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (os.path.realpath(path), st.st_size, st.st_mtime_ns, st.st_ino)


def _content(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _ancestors(start: Path) -> Iterator[Path]:
    yield start
    yield from start.parents


def _outside_files(cargo: str, manifest: Path) -> list[Path]:
    """The files outside the workspace whose content decides the answer: the cargo config and
    toolchain files and Cargo.toml of every ancestor of the crate and of the working directory,
    CARGO_HOME's config, rustup's settings."""
    dirs = dict.fromkeys([*_ancestors(manifest.parent), *_ancestors(Path.cwd())])
    files = [d / name for d in dirs for name in ANCESTOR_FILES]
    files += [env.cargo_home() / "config", env.cargo_home() / "config.toml", env.rustup_home() / "settings.toml"]
    return files


def _toolchain_cargos() -> list[Path]:
    """Every rustup toolchain's cargo: the proxy runs one of them, and an update replaces it."""
    try:
        return sorted(d / "bin" / "cargo" for d in (env.rustup_home() / "toolchains").iterdir())
    except OSError:
        return []


def inputs_key(cargo: str, manifest: Path) -> str:
    """What the answer depends on outside the workspace, as one digest (variables by digest of
    their value; credentials, which cargo metadata never gets, left out)."""
    policy = env.secret_policy()
    variables = sorted((k, hashlib.sha256(v.encode()).hexdigest()) for k, v in env.matching(CACHE_ENV.match).items()
                       if not policy.is_secret(k))
    parts = {
        "argv": [cargo, str(manifest)], "cwd": os.getcwd(), "env": variables,
        "cargo": [_stamp(Path(cargo)), *(_stamp(c) for c in _toolchain_cargos())],
        "files": [(str(f), _content(f)) for f in _outside_files(cargo, manifest)],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def newest_input(cargo: str, manifest: Path) -> int:
    """The latest mtime among the inputs outside the workspace (0 if none exists)."""
    stamps = [_stamp(f) for f in [*_outside_files(cargo, manifest), Path(cargo), *_toolchain_cargos()]]
    return max((s[2] for s in stamps if s is not None), default=0)


def tree_digest(answer: dict[str, Any]) -> tuple[str, int]:
    """(digest, newest mtime) of the workspace as cargo discovers it: every directory's entries
    (symbolic links with their target) and the content of every Cargo.toml, Cargo.lock and
    toolchain file under the workspace root (cargo wants every member below it). The target
    directory and directories holding a CACHEDIR.TAG (cargo's target dirs) are left out."""
    skip = {os.path.realpath(str(answer.get("target_directory", "")))}
    h = hashlib.sha256()
    newest = 0
    for path, st, entries in _walk(Path(str(answer.get("workspace_root", ""))), skip):
        newest = max(newest, st.st_mtime_ns)
        h.update(f"{path}\0".encode() + "\0".join(entries).encode() + b"\n")
        for name in sorted(CONTENT_FILES & {e.split("\0")[0] for e in entries}):
            f = Path(path) / name
            h.update(f"{name}\0{_content(f)}\n".encode())
            s = _stamp(f)
            newest = max(newest, s[2] if s else 0)
    return h.hexdigest(), newest


def _walk(top: Path, skip: set[str]) -> Iterator[tuple[str, os.stat_result, list[str]]]:
    """(directory, its stat, its sorted entries) for `top` and every directory below it,
    following links to directories once."""
    seen: set[tuple[int, int]] = set()
    stack = [str(top)]
    while stack:
        d = stack.pop()
        try:
            st = os.stat(d)
            if (st.st_dev, st.st_ino) in seen or os.path.realpath(d) in skip:
                continue
            seen.add((st.st_dev, st.st_ino))
            with os.scandir(d) as it:
                found = list(it)
        except OSError:
            continue
        names = {e.name for e in found}
        if "CACHEDIR.TAG" in names:
            continue
        entries = []
        for e in sorted(found, key=lambda e: e.name):
            link = _readlink(e.path) if e.is_symlink() else ""
            entries.append(f"{e.name}\0{link}")
            if e.name not in SKIP_DIRS and e.is_dir():
                stack.append(e.path)
        yield d, st, entries


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


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
        "target_directory": env.var("CARGO_TARGET_DIR") or str(manifest_path.parent / "target"),
    }

