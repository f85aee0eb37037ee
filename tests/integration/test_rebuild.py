"""What a change rebuilds, counted in cargo's own terms (its compiler-artifact messages that are not
`fresh`, in the build record's `compiled` and the "cargo compiled N crates" lines): a change cargo
would not rebuild for compiles nothing, a change to the crate's own code compiles that crate once
per target, and `build --target X` builds in the same dir as a build of every target (a target's
build dir is its own, whatever else a run builds), so the next `build --all` / `release` reuses it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import invoke, write_files

TARGETS = ("x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu", "x86_64-unknown-linux-musl")

# A crate with two dependencies from a directory source (`cargo vendor` layout), one of them with a
# build script that generates code.
FILES = {
    "Cargo.toml": '[package]\nname = "vend-cli"\nversion = "0.4.0"\nedition = "2021"\n\n'
                  '[dependencies]\nwavry-tinydep = "0.1"\nwavry-gendep = "0.2"\n',
    "README.md": "# vend-cli\n",
    "src/main.rs": 'fn main() {\n    println!("vend-cli {} {} {}", env!("CARGO_PKG_VERSION"), wavry_tinydep::answer(), '
                   'wavry_gendep::GENERATED);\n}\n',
    "vendor/wavry-tinydep-0.1.3/Cargo.toml": '[package]\nname = "wavry-tinydep"\nversion = "0.1.3"\nedition = "2021"\n',
    "vendor/wavry-tinydep-0.1.3/src/lib.rs": 'pub fn answer() -> &\'static str { "the vendored dependency says 42" }\n',
    "vendor/wavry-tinydep-0.1.3/.cargo-checksum.json": '{"files":{},"package":null}',
    "vendor/wavry-gendep-0.2.0/Cargo.toml": '[package]\nname = "wavry-gendep"\nversion = "0.2.0"\nedition = "2021"\n'
                                            'build = "build.rs"\n',
    "vendor/wavry-gendep-0.2.0/build.rs":
        'use std::{env, fs, path::Path};\nfn main() {\n'
        '    let out = Path::new(&env::var("OUT_DIR").unwrap()).join("generated.rs");\n'
        '    let target = env::var("TARGET").unwrap();\n'
        '    fs::write(out, format!("pub const GENERATED: &str = \\"generated for {target}\\";")).unwrap();\n'
        '    println!("cargo:rerun-if-changed=build.rs");\n}\n',
    "vendor/wavry-gendep-0.2.0/src/lib.rs": 'include!(concat!(env!("OUT_DIR"), "/generated.rs"));\n',
    "vendor/wavry-gendep-0.2.0/.cargo-checksum.json": '{"files":{},"package":null}',
    ".cargo/config.toml": '[source.crates-io]\nreplace-with = "vendored-sources"\n\n'
                          '[source.vendored-sources]\ndirectory = "vendor"\n',
    "targets.toml": '[project]\ncrate = "."\n\n'
                    '[targets.x86_64-unknown-linux-gnu]\n'
                    '[targets.aarch64-unknown-linux-gnu]\n'
                    '[targets.x86_64-unknown-linux-musl]\nstd = "build-std"\n',
    "tasks.py": "from wavrybuild import ns  # noqa: F401\n",
}


def _build(root: Path, env: dict[str, str], *args: str) -> tuple[dict[str, int | None], str]:
    """(target -> crates cargo compiled for it in this build, as the build record says; stderr)."""
    done = invoke("build", *args, cwd=root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    record = json.loads((root / "dist/.wavrybuild/build.json").read_text())
    return {t: record["targets"][t].get("compiled") for t in TARGETS}, done.stderr


def _cargo_ran(stderr: str, target: str) -> int | None:
    """The count of the "cargo compiled N crates" line of this target (None: cargo did not run for it)."""
    prefix = f"{target}: cargo compiled "
    lines = [ln for ln in stderr.splitlines() if ln.startswith(prefix)]
    assert len(lines) <= 1, lines
    return int(lines[0][len(prefix):].split()[0]) if lines else None


def test_a_change_rebuilds_what_cargo_would_and_build_target_shares_the_dirs(tmp_path: Path, cargo_target_dir: Path) -> None:
    root = write_files(tmp_path / "cli", FILES)
    env = {"CARGO_TARGET_DIR": str(cargo_target_dir)}
    first, err = _build(root, env, "--all")
    # Both dependencies and the crate, at least, for every target (std's crates too for musl when this
    # session's target dir has not built them yet).
    assert all(n is not None and n >= 3 for n in first.values()), (first, err[-3000:])
    for t in TARGETS:
        assert _cargo_ran(err, t) == first[t]

    # Docs: our layer sees a changed file and runs cargo, which finds every crate fresh.
    (root / "README.md").write_text("# vend-cli\n\nNow with a usage section.\n")
    counts, err = _build(root, env, "--all")
    assert counts == dict.fromkeys(TARGETS, 0), (counts, err[-3000:])
    assert all(_cargo_ran(err, t) == 0 for t in TARGETS), err[-3000:]

    # A targets.toml section that does not touch the build (how archives are made): nothing compiled.
    with (root / "targets.toml").open("a") as f:
        f.write('\n[package]\nformat = "tar.xz"\n')
    counts, err = _build(root, env, "--all")
    assert counts == dict.fromkeys(TARGETS, 0), (counts, err[-3000:])

    # The crate's own code: that crate alone, once per target.
    (root / "src/main.rs").write_text(FILES["src/main.rs"].replace('"vend-cli {}', '"vend-cli: {}'))
    counts, err = _build(root, env, "--all")
    assert counts == dict.fromkeys(TARGETS, 1), (counts, err[-3000:])
    musl = root / "dist/.wavrybuild/bin/x86_64-unknown-linux-musl/vend-cli"
    out = subprocess.run([str(musl)], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ("vend-cli: 0.4.0 the vendored dependency says 42 "
                           "generated for x86_64-unknown-linux-musl")

    # One target alone, then all of them: the lone build was made where the full build looks.
    (root / "src/main.rs").write_text(FILES["src/main.rs"].replace('"vend-cli {}', '"vend-cli; {}'))
    alone, err = _build(root, env, "--target", "aarch64-unknown-linux-gnu")
    assert alone["aarch64-unknown-linux-gnu"] == 1, (alone, err[-3000:])
    counts, err = _build(root, env, "--all")
    # Our layer skips it outright (the same command as the lone build's; its record entry stays the
    # lone build's); the others compile the crate.
    assert _cargo_ran(err, "aarch64-unknown-linux-gnu") is None, err[-3000:]
    assert counts == dict.fromkeys(TARGETS, 1), counts
    # And cargo itself agrees: run for every target, it compiles nothing.
    counts, err = _build(root, env, "--all", "--force")
    assert all(_cargo_ran(err, t) == 0 for t in TARGETS), err[-3000:]
    assert counts == dict.fromkeys(TARGETS, 0), counts
    aarch64 = root / "dist/.wavrybuild/bin/aarch64-unknown-linux-gnu/vend-cli"
    out = subprocess.run(["qemu-aarch64", str(aarch64)], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "vend-cli; 0.4.0 the vendored dependency says 42 generated for aarch64-unknown-linux-gnu"
