"""The universal2 join through LLVM's llvm-lipo (Debian's `llvm` package, installed by .ci/setup),
compared with wavrybuild's own join: the same fat header, the same slices, byte for byte, and an
arm64 slice whose ad-hoc code signature still checks. The thin slices are made here (a Mach-O
header, LC_CODE_SIGNATURE and a real SHA-256 code directory); tests/integration/test_lipo.py does
the same with the arm64 binary the session build links."""

from __future__ import annotations

import hashlib
import os
import stat
import struct
from pathlib import Path

import pytest

from wavrybuild.build import macho

ARM64, X86_64 = 0x0100000C, 0x01000007
PAGE = 4096


def thin(cputype: int, subtype: int, code: bytes) -> bytes:
    """An executable slice: header, one LC_CODE_SIGNATURE, `code` padded to whole pages, and an
    embedded signature whose code directory hashes every page (what ld's ad-hoc signature holds)."""
    limit = -(-(32 + 16 + len(code)) // PAGE) * PAGE
    pages = limit // PAGE
    cd_len = 40 + 32 * pages
    sig_len = 12 + 8 + cd_len
    head = struct.pack("<IiIIIIII", macho.MH_MAGIC_64, cputype, subtype, 2, 1, 16, 0, 0)
    lc = struct.pack("<IIII", macho.LC_CODE_SIGNATURE, 16, limit, sig_len)
    body = (head + lc + code).ljust(limit, b"\0")
    hashes = b"".join(hashlib.sha256(body[i * PAGE:(i + 1) * PAGE]).digest() for i in range(pages))
    cd = struct.pack(">IIIIIIIIIBBBB", macho.CSMAGIC_CODEDIRECTORY, cd_len, 0x20400, 2, 40, 0, 0, pages, limit,
                     32, 2, 0, 12) + hashes
    sig = struct.pack(">III", macho.CSMAGIC_EMBEDDED_SIGNATURE, sig_len, 1) + struct.pack(">II", 0, 20) + cd
    return body + sig


@pytest.fixture
def slices(tmp_path: Path) -> list[Path]:
    arm = tmp_path / "aarch64-apple-darwin" / "demo"
    x86 = tmp_path / "x86_64-apple-darwin" / "demo"
    for path, data in ((arm, thin(ARM64, 0, b"arm64 code " * 900)), (x86, thin(X86_64, 3, b"x86_64 code " * 500))):
        path.parent.mkdir()
        path.write_bytes(data)
    assert macho.signature_problems(macho.read_thin(arm.read_bytes())) == []
    return [arm, x86]


def lipo() -> str:
    found = macho.llvm_lipo()
    assert found, "llvm-lipo is missing: apt-get install llvm (.ci/setup does)"
    return found


def wrapper(tmp_path: Path, body: str, name: str = "llvm-lipo") -> Path:
    """A llvm-lipo on PATH that notes each call and runs the real one (`body`: the shell after the note)."""
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    script = d / name
    script.write_text(f'#!/bin/sh\necho "$@" >> "{tmp_path}/calls"\n{body}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_llvm_lipo_writes_the_fat_binary_our_join_writes(slices: list[Path]) -> None:
    ours = macho.join([p.read_bytes() for p in slices])
    theirs = macho.join_paths(slices, lipo())
    assert theirs[:8 + 20 * 2] == ours[:8 + 20 * 2]  # the fat header: x86_64 at 4 KiB, arm64 at 16 KiB alignment
    assert [(s.arch, s.data) for s in macho.slices(theirs)] == [(s.arch, s.data) for s in macho.slices(ours)]
    assert theirs == ours
    arm = next(s for s in macho.slices(theirs) if s.arch == "arm64")
    assert macho.signature_problems(arm) == []  # the signature check still passes on lipo's output


def test_the_join_uses_llvm_lipo_when_it_is_on_path(slices: list[Path], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    script = wrapper(tmp_path, f'exec "{lipo()}" "$@"')
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    assert macho.llvm_lipo() == str(script)
    data = macho.join_paths(slices)
    calls = (tmp_path / "calls").read_text().splitlines()
    assert len(calls) == 1 and calls[0].startswith(f"-create {slices[0]} {slices[1]} -output ")
    assert data == macho.join([p.read_bytes() for p in slices])
    assert not [p for p in slices[0].parent.iterdir() if p.name.startswith(".wavrybuild-lipo-")]  # its temp dir is gone


def test_without_llvm_lipo_the_own_join_serves(slices: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(macho, "llvm_lipo", lambda: None)
    assert macho.join_paths(slices) == macho.join([p.read_bytes() for p in slices])


def test_versioned_llvm_lipo_on_path_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = wrapper(tmp_path, "exit 1", "llvm-lipo-13")
    new = wrapper(tmp_path, "exit 1", "llvm-lipo-99")
    wrapper(tmp_path, "exit 1", "llvm-lipo-x")
    assert old.parent == new.parent
    monkeypatch.setenv("PATH", str(new.parent))
    assert macho.llvm_lipo() == str(new)


def test_a_lipo_result_without_every_slice_is_refused(slices: list[Path], tmp_path: Path) -> None:
    # The real llvm-lipo, given only the first slice: its output lacks the other.
    script = wrapper(tmp_path, f'exec "{lipo()}" -create "$2" -output "$5"')
    with pytest.raises(macho.MachOError, match="llvm-lipo wrote slices other than the ones it was given"):
        macho.join_paths(slices, str(script))


def test_a_slice_llvm_lipo_refuses_is_one_error_naming_it(slices: list[Path]) -> None:
    broken = slices[1].parent / "broken"
    broken.write_bytes(struct.pack("<IiIIIIII", macho.MH_MAGIC_64, X86_64, 3, 2, 5, 4096, 0, 0))  # 5 commands, none there
    with pytest.raises(macho.MachOError, match=r"^llvm-lipo(-\d+)? failed: command failed with exit code"):
        macho.join_paths([slices[0], broken], lipo())
    with pytest.raises(macho.MachOError, match="two slices of the same architecture"):
        macho.join_paths([slices[0], slices[0]], lipo())
