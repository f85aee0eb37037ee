"""llvm-lipo on a real Apple binary: the session build's aarch64-apple-darwin executable (linked by
rustc with ld's ad-hoc code signature; no other Apple build is made for this test) joined with an
x86_64 slice through llvm-lipo and through wavrybuild's own join — the same fat binary, and the
arm64 slice's signature still valid."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.integration.conftest import Release
from tests.unit.test_lipo import X86_64, thin
from wavrybuild.build import macho


def test_llvm_lipo_joins_the_built_arm64_binary_as_our_join_does(release: Release, tmp_path: Path) -> None:
    lipo = macho.llvm_lipo()
    assert lipo, "llvm-lipo is missing: apt-get install llvm (.ci/setup does)"
    arm = tmp_path / "arm64" / "wavry-demo"
    arm.parent.mkdir()
    shutil.copyfile(release.binary("aarch64-apple-darwin"), arm)
    assert macho.signature_problems(macho.read_thin(arm.read_bytes())) == []
    x86 = tmp_path / "x86_64" / "wavry-demo"
    x86.parent.mkdir()
    x86.write_bytes(thin(X86_64, 3, b"x86_64 code " * 4000))

    theirs = macho.join_paths([arm, x86], lipo)
    ours = macho.join([arm.read_bytes(), x86.read_bytes()])
    assert theirs[:48] == ours[:48]  # fat header and both slice entries
    assert theirs == ours
    joined = {s.arch: s for s in macho.slices(theirs)}
    assert joined["arm64"].data == arm.read_bytes()
    assert macho.signature_problems(joined["arm64"]) == []
