"""Mach-O: joining Apple slices into a universal ("fat") binary, and checking code signatures.

Apple Silicon refuses to run an arm64 binary whose code-signature page hashes do not match its
bytes. Joining slices never changes a slice's bytes (each is copied whole, page aligned), so the
ad-hoc signature the linker wrote stays valid; `signature_problems` checks that it did.

The join is LLVM's `llvm-lipo -create` when one is installed (Debian's `llvm` package: llvm-lipo-N
under /usr/lib/llvm-N/bin), `join` here otherwise; both lay a universal binary out alike, and what
llvm-lipo wrote is read back and must hold exactly the slices it was given.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import proc
from ..errors import CommandFailed

FAT_MAGIC = 0xCAFEBABE
MH_MAGIC_64 = 0xFEEDFACF
LC_CODE_SIGNATURE = 0x1D
CSMAGIC_EMBEDDED_SIGNATURE = 0xFADE0CC0
CSMAGIC_CODEDIRECTORY = 0xFADE0C02
CPU_TYPES = {0x01000007: "x86_64", 0x0100000C: "arm64"}
# lipo's alignment: arm64 pages are 16 KiB, x86_64 pages 4 KiB.
ALIGN = {"arm64": 14, "x86_64": 12}
HASHES = {1: "sha1", 2: "sha256"}


class MachOError(ValueError):
    pass


@dataclass(frozen=True)
class Slice:
    arch: str
    cputype: int
    cpusubtype: int
    data: bytes


def read_thin(data: bytes) -> Slice:
    if len(data) < 32 or struct.unpack_from("<I", data)[0] != MH_MAGIC_64:
        raise MachOError("not a 64-bit little-endian Mach-O file")
    cputype, cpusubtype = struct.unpack_from("<iI", data, 4)
    arch = CPU_TYPES.get(cputype & 0xFFFFFFFF)
    if arch is None:
        raise MachOError(f"unknown Mach-O cpu type {cputype:#x}")
    return Slice(arch, cputype & 0xFFFFFFFF, cpusubtype, data)


def slices(data: bytes) -> list[Slice]:
    """The slices of a universal binary, or the one of a thin one."""
    if len(data) >= 8 and struct.unpack_from(">I", data)[0] == FAT_MAGIC:
        (n,) = struct.unpack_from(">I", data, 4)
        out = []
        for i in range(n):
            _, _, offset, size, _ = struct.unpack_from(">iIIII", data, 8 + 20 * i)
            if offset + size > len(data):
                raise MachOError("a slice reaches past the end of the file")
            out.append(read_thin(data[offset:offset + size]))
        return out
    return [read_thin(data)]


def join(parts: list[bytes]) -> bytes:
    """A universal binary of thin slices, laid out as lipo does (x86_64 first, each page aligned)."""
    thin = sorted((read_thin(p) for p in parts), key=lambda s: ALIGN[s.arch])
    if len({s.arch for s in thin}) != len(thin):
        raise MachOError("two slices of the same architecture")
    header = struct.pack(">II", FAT_MAGIC, len(thin))
    offset = 8 + 20 * len(thin)
    body = b""
    entries = b""
    for s in thin:
        align = 1 << ALIGN[s.arch]
        start = -(-offset // align) * align
        body += b"\0" * (start - offset) + s.data
        entries += struct.pack(">iIIII", s.cputype, s.cpusubtype, start, len(s.data), ALIGN[s.arch])
        offset = start + len(s.data)
    return header + entries + body


def llvm_lipo() -> str | None:
    """LLVM's lipo: `llvm-lipo` on PATH, else the newest versioned one (llvm-lipo-N on PATH, or
    /usr/lib/llvm-N/bin/llvm-lipo, where Debian's `llvm` package puts it)."""
    found = proc.which("llvm-lipo")
    if found:
        return found
    candidates: list[tuple[int, str]] = []
    for d in proc.tool_path().split(os.pathsep):
        for p in Path(d or ".").glob("llvm-lipo-*"):
            m = re.fullmatch(r"llvm-lipo-([0-9]+)", p.name)
            if m and os.access(p, os.X_OK):
                candidates.append((int(m.group(1)), str(p)))
    for p in Path("/usr/lib").glob("llvm-*/bin/llvm-lipo"):
        m = re.fullmatch(r"llvm-([0-9]+)", p.parent.parent.name)
        if m and os.access(p, os.X_OK):
            candidates.append((int(m.group(1)), str(p)))
    return max(candidates)[1] if candidates else None


def join_paths(inputs: list[Path], lipo: str | None = None) -> bytes:
    """The universal binary of these thin Mach-O files: llvm-lipo's (`lipo`, default: `llvm_lipo()`)
    when there is one, else `join`'s. Either way each input is there, byte for byte, once."""
    parts = [p.read_bytes() for p in inputs]
    thin = [read_thin(d) for d in parts]  # what lipo would say in its words, said in ours first
    if len({s.arch for s in thin}) != len(thin):
        raise MachOError("two slices of the same architecture")
    lipo = lipo or llvm_lipo()
    if lipo is None:
        return join(parts)
    with tempfile.TemporaryDirectory(prefix=".wavrybuild-lipo-", dir=inputs[0].parent) as tmp:
        out = Path(tmp) / "universal"
        try:
            proc.run(proc.Command((lipo, "-create", *(str(p) for p in inputs), "-output", str(out))), tail_lines=5)
        except CommandFailed as exc:
            raise MachOError(f"{Path(lipo).name} failed: {exc.message}") from None
        data = out.read_bytes()
    if sorted(s.data for s in slices(data)) != sorted(parts):
        raise MachOError(f"{Path(lipo).name} wrote slices other than the ones it was given")
    return data


def _code_signature(s: Slice) -> tuple[int, int] | None:
    (ncmds,) = struct.unpack_from("<I", s.data, 16)
    pos = 32
    for _ in range(ncmds):
        cmd, size = struct.unpack_from("<II", s.data, pos)
        if cmd == LC_CODE_SIGNATURE:
            off, length = struct.unpack_from("<II", s.data, pos + 8)
            return off, length
        pos += size
    return None


def signature_problems(s: Slice) -> list[str]:
    """What is wrong with a slice's embedded code signature ([] when every page hash matches;
    ["unsigned"] when it has none)."""
    try:
        return _signature_problems(s)
    except struct.error:
        return ["the load commands or the signature are truncated"]


def _signature_problems(s: Slice) -> list[str]:
    sig = _code_signature(s)
    if sig is None:
        return ["unsigned"]
    off, _ = sig
    data = s.data
    magic, _, count = struct.unpack_from(">III", data, off)
    if magic != CSMAGIC_EMBEDDED_SIGNATURE:
        return [f"bad signature blob magic {magic:#x}"]
    problems: list[str] = []
    directories = 0
    for i in range(count):
        _, blob = struct.unpack_from(">II", data, off + 12 + 8 * i)
        base = off + blob
        if struct.unpack_from(">I", data, base)[0] != CSMAGIC_CODEDIRECTORY:
            continue
        directories += 1
        (_, _, _, _, hash_off, _, _, n_code, code_limit, hash_size, hash_type, _,
         page_log) = struct.unpack_from(">IIIIIIIIIBBBB", data, base)
        algo = HASHES.get(hash_type)
        if algo is None:
            problems.append(f"unknown hash type {hash_type}")
            continue
        page = 1 << page_log if page_log else code_limit
        for slot in range(n_code):
            chunk = data[slot * page:min((slot + 1) * page, code_limit)]
            want = data[base + hash_off + slot * hash_size:base + hash_off + (slot + 1) * hash_size]
            if hashlib.new(algo, chunk).digest()[:hash_size] != want:
                problems.append(f"page {slot} does not match its {algo} hash")
                break
    if directories == 0:
        problems.append("no code directory")
    return problems
