"""A crate whose dependencies come from a directory source (`cargo vendor` output, as air-gapped
builds have) also builds the targets whose std is compiled from source (-Zbuild-std), which need a
crates.io replacement of their own for std's dependencies."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import invoke, write_files

# `cargo vendor` layout: one directory per crate with its .cargo-checksum.json (no package
# checksum, as for a crate that never came from a registry).
FILES = {
    "Cargo.toml": '[package]\nname = "vend-cli"\nversion = "0.4.0"\nedition = "2021"\n\n'
                  '[dependencies]\nwavry-tinydep = "0.1"\n',
    "src/main.rs": 'fn main() { println!("vend-cli {} {}", env!("CARGO_PKG_VERSION"), wavry_tinydep::answer()); }\n',
    "vendor/wavry-tinydep-0.1.3/Cargo.toml": '[package]\nname = "wavry-tinydep"\nversion = "0.1.3"\nedition = "2021"\n',
    "vendor/wavry-tinydep-0.1.3/src/lib.rs": 'pub fn answer() -> &\'static str { "the vendored dependency says 42" }\n',
    "vendor/wavry-tinydep-0.1.3/.cargo-checksum.json": '{"files":{},"package":null}',
    ".cargo/config.toml": '[source.crates-io]\nreplace-with = "vendored-sources"\n\n'
                          '[source.vendored-sources]\ndirectory = "vendor"\n',
    "targets.toml": '[project]\ncrate = "."\n\n[defaults]\nsmoke-expect = "vend-cli 0.4.0 the vendored dependency says 42"\n\n'
                    '[targets.x86_64-unknown-linux-gnu]\n'
                    '[targets.x86_64-unknown-linux-musl]\nstd = "build-std"\n',
    "tasks.py": "from wavrybuild import ns  # noqa: F401\n",
}


def test_vendored_dependencies_with_std_from_source(tmp_path: Path, cargo_target_dir: Path) -> None:
    write_files(tmp_path, FILES)
    env = {"CARGO_TARGET_DIR": str(cargo_target_dir)}
    done = invoke("build", "--all", "smoke", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no matching package" not in done.stderr
    assert done.stdout.count("passed") == 2
    record = json.loads((tmp_path / "dist/.wavrybuild/build.json").read_text())
    assert record["targets"]["x86_64-unknown-linux-musl"]["std"] == "build-std"
    musl = tmp_path / "dist/.wavrybuild/bin/x86_64-unknown-linux-musl/vend-cli"
    out = subprocess.run([str(musl)], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "vend-cli 0.4.0 the vendored dependency says 42"
    # The crate's own replacement still holds: nothing came from (or tried to reach) crates.io.
    assert "crates.io" not in done.stderr


def test_dry_build_shows_one_merged_source(tmp_path: Path) -> None:
    write_files(tmp_path, FILES)
    done = invoke("build", "--target", "x86_64-unknown-linux-musl", "--dry", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    line = next(x for x in (done.stdout + done.stderr).splitlines() if "-Zbuild-std" in x)
    directory = line.split("source.wavrybuild-std-vendor.directory=")[1].split('"')[1]
    merged = Path(directory)
    assert (merged / "wavry-tinydep-0.1.3").resolve() == (tmp_path / "vendor/wavry-tinydep-0.1.3").resolve()
    assert any((merged / n).is_dir() for n in ("libc", *(p.name for p in merged.iterdir() if p.name.startswith("libc-"))))
