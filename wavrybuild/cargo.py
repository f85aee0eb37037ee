"""What cargo says about a crate: `cargo metadata` (the authority), or Cargo.toml read directly
on a machine without cargo (for the tasks that report on or install the toolchain)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from . import env, proc
from .errors import ConfigError, ToolMissing


def metadata(manifest_path: Path, *, platform: str | None = None) -> dict[str, Any]:
    """`cargo metadata --no-deps`: the authority on packages, versions and binary names. With
    `platform`: the whole resolved graph, only the dependencies that apply to that target triple
    (`--filter-platform`), as the SBOM needs it."""
    cargo = proc.which("cargo")  # rustup's installer may have put it off PATH: proc looks there too
    scope = ["--filter-platform", platform] if platform else ["--no-deps"]
    done = proc.capture_all([cargo or "cargo", "metadata", *scope, "--format-version", "1", "--offline",
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
        "target_directory": env.var("CARGO_TARGET_DIR") or str(manifest_path.parent / "target"),
    }

