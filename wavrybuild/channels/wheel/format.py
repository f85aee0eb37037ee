"""Python wheels that carry a target's binaries as scripts (as ruff and uv ship).

The platform tag comes from the target: manylinux_X_Y from the glibc floor (or, without one, the
newest GLIBC_ symbol version the binary needs), musllinux_1_2, macosx_11_0_arm64 /
macosx_10_12_x86_64, win_amd64 / win32 / win_arm64. Tags and names are built and checked with the
`packaging` library. The wheel is deterministic: sorted entries, fixed dates.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
import zipfile
from pathlib import Path
from typing import BinaryIO

from packaging.tags import Tag
from packaging.utils import canonicalize_name, parse_wheel_filename

from ... import proc
from ...config import Config, TargetConfig
from ...config.channels import WheelConfig, pep440
from ...cratedocs import crate_docs
from ...errors import WavryError

ZIP_DATE = time.gmtime(315532800)[:6]  # 1980-01-01, the earliest zip can say
LEGACY_MANYLINUX = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
LINUX_ARCH = {"x86_64": "x86_64", "aarch64": "aarch64", "i686": "i686", "armv7": "armv7l",
              "powerpc64le": "ppc64le", "s390x": "s390x", "riscv64gc": "riscv64"}


def _glibc_needed(binary: Path) -> str | None:
    done = proc.capture_all(["readelf", "--version-info", "--wide", str(binary)])
    if not done.ok:
        return None
    out = done.stdout.decode(errors="replace")
    versions = [tuple(int(x) for x in v.split(".")) for v in re.findall(r"GLIBC_(\d+\.\d+(?:\.\d+)?)", out)]
    return ".".join(map(str, max(versions)[:2])) if versions else None


def platform_tag(t: TargetConfig, binary: Path) -> str:
    triple = t.triple
    arch = triple.arch
    if triple.os == "linux":
        warch = LINUX_ARCH.get(arch) or LINUX_ARCH.get(arch.split("v")[0] if arch.startswith("armv7") else arch)
        if not warch:
            raise WavryError(f"{t.id}: no Python platform tag for architecture {arch}")
        if triple.is_musl:
            return f"musllinux_1_2_{warch}"
        floor = t.glibc or _glibc_needed(binary)
        if not floor:
            raise WavryError(f"{t.id}: cannot tell which glibc the binary needs",
                             hint='set `glibc = "2.17"` for this target (or install binutils for readelf)')
        major, minor = floor.split(".")[:2]
        return f"manylinux_{major}_{minor}_{warch}"
    if triple.os == "macos":
        # universal2: the x86_64 slice's floor (pip on Apple Silicon takes 10.x universal2 tags too).
        return {"aarch64": "macosx_11_0_arm64", "x86_64": "macosx_10_12_x86_64",
                "universal2": "macosx_10_12_universal2"}[arch]
    if triple.is_windows:
        return {"x86_64": "win_amd64", "i686": "win32", "aarch64": "win_arm64"}[arch]
    raise WavryError(f"{t.id}: no Python platform tag for {triple}")


def legacy_alias(platform: str) -> str | None:
    """manylinux_2_17_x86_64 → manylinux2014_x86_64 (PEP 599/571/513 names of the same platforms)."""
    m = re.fullmatch(r"manylinux_(\d+)_(\d+)_(.+)", platform)
    if not m:
        return None
    legacy = LEGACY_MANYLINUX.get((int(m.group(1)), int(m.group(2))))
    return f"{legacy}_{m.group(3)}" if legacy else None


def metadata(cfg: Config, wc: WheelConfig, version: str) -> str:
    """Core metadata 2.1 from Cargo.toml: summary, license, author, URLs and the README as description."""
    p = cfg.project
    lines = ["Metadata-Version: 2.1", f"Name: {wc.name}", f"Version: {version}", f"Summary: {wc.summary}"]
    if p.homepage:
        lines.append(f"Home-page: {p.homepage}")
    for author in p.authors:
        lines.append(f"Author-email: {author}" if "<" in author else f"Author: {author}")
    if wc.license:
        lines.append(f"License: {wc.license}")
    if p.homepage:
        lines.append(f"Project-URL: Homepage, {p.homepage}")
    if p.repository:
        lines.append(f"Project-URL: Source Code, {p.repository}")
    body = ""
    if p.readme and p.readme.is_file():
        kind = "text/markdown" if p.readme.suffix.lower() in (".md", ".markdown") else "text/plain"
        lines.append(f"Description-Content-Type: {kind}; charset=UTF-8")
        body = "\n" + p.readme.read_text(encoding="utf-8")
    return "\n".join(lines) + "\n" + body


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def wheel_files(cfg: Config, wc: WheelConfig, t: TargetConfig, binaries: list[Path],
                sboms: dict[str, bytes] | None = None) -> tuple[str, dict[str, tuple[bytes, int]]]:
    """(file name, {archive path: (bytes, mode)}) for one target's wheel; `sboms` go into
    .dist-info/sboms/ (PEP 770)."""
    version = pep440(cfg.project.version)
    dist_name = canonicalize_name(wc.name).replace("-", "_")
    platform = platform_tag(t, binaries[0])
    # The PEP 600 tag, plus its legacy alias (manylinux2014 …) for pips older than 20.3, as maturin does.
    tags = [Tag("py3", "none", p) for p in (legacy_alias(platform), platform) if p]
    filename = f"{dist_name}-{version}-py3-none-{'.'.join(t.platform for t in tags)}.whl"
    parse_wheel_filename(filename)  # packaging's own check of the name and tag
    info = f"{dist_name}-{version}.dist-info"
    data = f"{dist_name}-{version}.data"
    files: dict[str, tuple[bytes, int]] = {}
    for b in binaries:
        files[f"{data}/scripts/{b.name}"] = (b.read_bytes(), 0o755)
    files[f"{info}/METADATA"] = (metadata(cfg, wc, version).encode(), 0o644)
    wheel = "Wheel-Version: 1.0\nGenerator: wavrybuild\nRoot-Is-Purelib: false\n" + "".join(f"Tag: {t}\n" for t in tags)
    files[f"{info}/WHEEL"] = (wheel.encode(), 0o644)
    for name, text in sorted((sboms or {}).items()):
        files[f"{info}/sboms/{name}"] = (text, 0o644)
    if cfg.package.crate_docs:  # the crate's license files where PEP 639 puts them
        for d in crate_docs(cfg.project.metadata, cfg.project.workspace_root):
            if d.kind == "license":
                files[f"{info}/licenses/{d.name}"] = (d.path.read_bytes(), 0o644)
    record = "".join(f"{p},{_record_hash(d)},{len(d)}\n" for p, (d, _) in sorted(files.items()))
    record += f"{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = (record.encode(), 0o644)
    return filename, files


def write_wheel(out: BinaryIO, files: dict[str, tuple[bytes, int]]) -> None:
    # RECORD last, as installers expect; everything else sorted.
    order = sorted(p for p in files if not p.endswith("/RECORD")) + [p for p in files if p.endswith("/RECORD")]
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in order:
            data, mode = files[path]
            zi = zipfile.ZipInfo(path, date_time=ZIP_DATE)
            zi.create_system = 3
            zi.external_attr = (0o100000 | mode) << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zi, data)
