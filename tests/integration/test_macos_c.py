"""A crate with C code, built for macOS by cargo-zigbuild, is reproducible: the C is compiled the way
the cc crate compiles it (cargo-zigbuild's `zig cc` wrapper adds `-g`), so its object files carry
debug info, and a Mach-O link would write a debug map naming them — their paths under this build's
OUT_DIR, and the directory the C was compiled in — that rustc's strip leaves in place. Two clones
at different paths (std from the shared target dir, the crate compiled for each) must give the same
bytes, with no path of either in them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import git_commit, invoke, write_files
from wavrybuild.build import macho

TARGET = "aarch64-apple-darwin"
# The build script does what the cc crate does (compile, archive, link the archive), without the
# crate (no registry here): CC_<target> and AR_<target> are cargo-zigbuild's wrappers.
BUILD_RS = r"""use std::{env, path::PathBuf, process::Command};

fn main() {
    let target = env::var("TARGET").unwrap().replace('-', "_");
    let cc = env::var(format!("CC_{target}")).expect("cargo-zigbuild sets CC_<target>");
    let ar = env::var(format!("AR_{target}")).expect("cargo-zigbuild sets AR_<target>");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let (obj, lib) = (out.join("twice.o"), out.join("libtwice.a"));
    assert!(Command::new(&cc).args(["-O2", "-c", "src/twice.c", "-o"]).arg(&obj).status().unwrap().success());
    let _ = std::fs::remove_file(&lib);
    assert!(Command::new(&ar).arg("crs").arg(&lib).arg(&obj).status().unwrap().success());
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static=twice");
    println!("cargo:rerun-if-changed=src/twice.c");
}
"""


def _crate(root: Path) -> Path:
    write_files(root, {
        "Cargo.toml": '[package]\nname = "twice"\nversion = "0.2.0"\nedition = "2021"\n',
        "build.rs": BUILD_RS,
        "src/twice.c": "int twice(int x) { return 2 * x; }\n",
        "src/main.rs": 'extern "C" { fn twice(x: i32) -> i32; }\n\n'
                       'fn main() {\n    println!("twice 0.2.0 says {}", unsafe { twice(21) });\n}\n',
        "targets.toml": f'[project]\ncrate = "."\n\n[targets.{TARGET}]\n',
        "tasks.py": "from wavrybuild import ns  # noqa: F401\n",
    })
    git_commit(root)
    return root


def test_c_code_leaves_no_debug_map_and_two_clones_agree(tmp_path: Path, cargo_target_dir: Path) -> None:
    env = {"CARGO_TARGET_DIR": str(cargo_target_dir)}
    origin = _crate(tmp_path / "origin")
    clone = tmp_path / "elsewhere" / "deeper" / "clone"
    subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
    built = {}
    for root in (origin, clone):
        done = invoke("build", "--all", cwd=root, env=env)
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        built[root] = (root / "dist/.wavrybuild/bin" / TARGET / "twice").read_bytes()
    ours = built[origin]
    # The C did carry debug info (else there would be nothing to drop): its object has DWARF sections.
    objs = list(cargo_target_dir.glob(f"wavrybuild/*/{TARGET}/release/build/twice-*/out/twice.o"))
    assert objs and all(b"__debug_info" in o.read_bytes() for o in objs)
    assert ours == built[clone], "two clones of a crate with C code gave different macOS binaries"
    for where in (str(tmp_path), str(cargo_target_dir)):
        assert where.encode() not in ours, f"{where} is in the binary"
    [arm] = macho.slices(ours)
    assert arm.arch == "arm64" and macho.signature_problems(arm) == []
