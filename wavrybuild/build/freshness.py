"""What a build depended on beyond the workspace's own files, recorded after it and checked
before the next one is skipped (the skip must never serve a stale binary):

- every file in the binaries' dep-info (`<bin>.d` next to the executable: path dependencies
  anywhere on disk, `include_bytes!`/`include_str!` files, build scripts' rerun-if-changed files);
- the environment variables build scripts declare (`rerun-if-env-changed`) and `env!` /
  `option_env!` read (rustc's `# env-dep:` lines), with their values;
- cargo config files outside the workspace (parent directories, CARGO_HOME) and the variable
  families cargo, rustc and C compilers read, as part of the build key.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from .. import env as env_
from ..cargo import config_files

# Variables that change what cargo, rustc or a C toolchain produce, whoever reads them.
ENV_FAMILIES = re.compile(r"^(CARGO_|RUSTFLAGS$|RUSTDOCFLAGS$|RUSTC|CC|CXX|CFLAGS|CXXFLAGS|CPPFLAGS|LDFLAGS|AR$|AR_"
                          r"|PKG_CONFIG|SOURCE_DATE_EPOCH$|MACOSX_DEPLOYMENT_TARGET$)")
# Ours, or set per run for bookkeeping: not inputs.
NOT_INPUTS = {"CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR", "CARGO_HOME", "CARGO_MAKEFLAGS", "CARGO_TERM_COLOR"}


def environment_digest(secrets: env_.SecretPolicy) -> str:
    """The current values of the variable families. Credentials are left out, even those pass-env
    lets into builds: a rotated token is no reason to rebuild, and no digest of one is kept."""
    chosen = sorted((k, v) for k, v in env_.matching(ENV_FAMILIES.match).items()
                    if k not in NOT_INPUTS and not secrets.is_secret(k))
    return hashlib.sha256(json.dumps(chosen).encode()).hexdigest()


def cargo_config_digest(crate_dir: Path, workspace_root: Path) -> str:
    """Content of the cargo config files that apply and lie outside the workspace (those inside
    are in the workspace digest)."""

    h = hashlib.sha256()
    for f in config_files(crate_dir):
        if not f.resolve().is_relative_to(workspace_root.resolve()):
            h.update(str(f).encode() + b"\0")
            try:
                h.update(f.read_bytes())
            except OSError:
                h.update(b"unreadable")
    return h.hexdigest()


def _dep_info_files(path: Path) -> list[str]:
    """Paths in a Makefile-style dep-info file (`target: dep dep`, spaces escaped as `\\ `)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    files: list[str] = []
    for line in text.splitlines():
        if not line or line.startswith("#") or ":" not in line:
            continue
        _, _, deps = line.partition(": ")
        files += [p.replace("\\ ", " ") for p in re.split(r"(?<!\\) ", deps) if p]
    return files


def _env_deps(exe: Path) -> set[str]:
    """`env!`/`option_env!` names from rustc's dep-info of the binary's crate (deps/<crate>-*.d)."""
    crate = exe.stem.replace("-", "_")
    found: set[str] = set()
    infos = sorted((exe.parent / "deps").glob(f"{crate}-*.d"), key=lambda p: p.stat().st_mtime, reverse=True)
    for info in infos[:1]:
        for line in info.read_text(errors="replace").splitlines():
            if line.startswith("# env-dep:"):
                found.add(line[len("# env-dep:"):].split("=", 1)[0])
    return found


def _build_script_envs(stdout: str, triple: str | None) -> set[str]:
    """rerun-if-env-changed of the build scripts that ran for this target (their `output` files)."""
    names: set[str] = set()
    for line in stdout.splitlines():
        if '"build-script-executed"' not in line:
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        out_dir = msg.get("out_dir") or ""
        if triple and f"/{triple}/" not in out_dir.replace("\\", "/"):
            continue
        try:
            text = (Path(out_dir).parent / "output").read_text(errors="replace")
        except OSError:
            continue
        names |= set(re.findall(r"^cargo::?rerun-if-env-changed=(.+)$", text, re.M))
    return names


def _stamp(path: str) -> list[Any]:
    """[path, size, mtime, sha256 of the content] (None for a file that is not there)."""
    try:
        st = os.stat(path)
    except OSError:
        return [path, None, None, None]
    return [path, st.st_size, st.st_mtime_ns, _content_digest(path)]


def _content_digest(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return None


def _unchanged(entry: list[Any]) -> bool:
    """The file as recorded: the same size and mtime, or, when only its mtime moved, the same
    content. A build script's OUT_DIR lives in the target dir, which other checkouts of the crate
    may share (cargo gives their build-script units the same dir): one that writes the same
    generated file again moves its mtime, not what our binary was built from."""
    if len(entry) != 4:
        return False  # recorded by an older wavrybuild: do not trust the skip
    path, size, mtime, digest = entry
    try:
        st = os.stat(path)
    except OSError:
        return size is None
    if size is None or st.st_size != size:
        return False
    return bool(st.st_mtime_ns == mtime or _content_digest(path) == digest)


def _value_digest(value: str | None) -> str | None:
    # Digests, not values: build.json is no place for whatever a variable holds.
    return None if value is None else hashlib.sha256(value.encode()).hexdigest()


def watched(executables: list[Path], stdout: str, triple: str | None, secrets: env_.SecretPolicy) -> dict[str, Any]:
    """Recorded after a successful build: the files and variables to check before skipping the next."""
    files: set[str] = set()
    names = _build_script_envs(stdout, triple)
    for exe in executables:
        files.update(_dep_info_files(exe.parent / (exe.stem + ".d")))
        names |= _env_deps(exe)
    # Credentials are not inputs (and build.json keeps no digest of one, even of a pass-env one).
    names = {n for n in names - NOT_INPUTS if not secrets.is_secret(n)}
    return {"files": [_stamp(f) for f in sorted(files)],
            "env": {n: _value_digest(env_.var(n)) for n in sorted(names)}}


def still_fresh(watch: dict[str, Any]) -> bool:
    """Every watched file unchanged (_unchanged), every watched variable the same value."""
    if not isinstance(watch, dict) or "files" not in watch:
        return False  # recorded by an older wavrybuild: do not trust the skip
    for entry in watch["files"]:
        if not isinstance(entry, list) or not _unchanged(entry):
            return False
    return all(_value_digest(env_.var(n)) == v for n, v in watch.get("env", {}).items())
