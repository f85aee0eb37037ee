"""The pure parts of the build benchmarks (bench/_common.py): the loop contender's commands taken
from `invoke build --dry` output, the ratios and the limit, and the measurement of a process tree."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from bench._common import Usage, descendants, dry_commands, loop_commands, measure, per_target, ratios, split_dry_line
from wavrybuild.proc import _quote

REMAP = "--remap-path-prefix=/root/.cargo=/cargo\n--remap-path-prefix=/p/crate=/build/crate"
GROUPED = (
    f"RUSTC_BOOTSTRAP=1 WAVRYBUILD_REMAP={_quote(REMAP)} cargo-zigbuild zigbuild "
    "--target x86_64-unknown-linux-musl --config 'target.\"x86_64-unknown-linux-musl\".rustflags=[\"-C\", \"link-self-contained=no\"]' "
    "--target aarch64-apple-darwin --config 'target.\"aarch64-apple-darwin\".rustflags=[\"-C\", \"x\"]' "
    "--manifest-path /p/crate/Cargo.toml --profile release --target-dir /t/wavrybuild/zigbuild-build-std-system --locked "
    "-Zbuild-std=std,panic_abort --config 'source.crates-io.replace-with=\"v\"' --keep-going"
)
DRY = ("(dry) warning: these targets are built by 2 different rustc versions\n"
       f"(dry) $ RUSTUP_TOOLCHAIN=stable cargo build --target x86_64-unknown-linux-gnu --profile release --target-dir /t/x --locked\n"
       f"(dry) $ {GROUPED}\n")


def test_an_echoed_value_with_newlines_reads_back_as_bash_reads_it() -> None:
    assert _quote(REMAP).startswith("$'")
    argv = split_dry_line(f"A={_quote(REMAP)} B={_quote(chr(39) + 'q' + chr(92))} cargo build")
    assert argv == [f"A={REMAP}", "B='q\\", "cargo", "build"]


def test_a_grouped_invocation_is_split_per_target_with_its_own_flags() -> None:
    musl, darwin = per_target(GROUPED)
    for argv, triple in ((musl, "x86_64-unknown-linux-musl"), (darwin, "aarch64-apple-darwin")):
        assert argv[:5] == ["env", "RUSTC_BOOTSTRAP=1", f"WAVRYBUILD_REMAP={REMAP}", "cargo-zigbuild", "zigbuild"]
        assert argv[5:7] == ["--target", triple]
        assert argv.count("--target") == 1
        configs = [argv[i + 1] for i, a in enumerate(argv) if a == "--config"]
        assert [c for c in configs if c.startswith("target.")] == [c for c in configs if triple in c and c.startswith("target.")]
        assert len([c for c in configs if c.startswith("target.")]) == 1
        assert "source.crates-io.replace-with=\"v\"" in configs  # the shared flags stay
        assert "--target-dir" not in argv and "--keep-going" not in argv  # one target dir; one target
        assert "-Zbuild-std=std,panic_abort" in argv and "--locked" in argv


def test_loop_commands_are_every_target_in_order_as_shell_lines() -> None:
    assert dry_commands(DRY)[0].startswith("RUSTUP_TOOLCHAIN=stable cargo build")
    lines = loop_commands(DRY)
    assert [shlex.split(ln)[shlex.split(ln).index("--target") + 1] for ln in lines] == [
        "x86_64-unknown-linux-gnu", "x86_64-unknown-linux-musl", "aarch64-apple-darwin"]
    assert shlex.split(lines[1])[2] == f"WAVRYBUILD_REMAP={REMAP}"  # the newline survives the shell's quoting
    with pytest.raises(ValueError, match="no commands"):
        loop_commands("(dry) warning: nothing\n")


def test_the_limit_is_the_loops_cpu_over_the_cores_and_ratios_take_medians() -> None:
    ours = [Usage(10.0, 15.0, 0, 0), Usage(30.0, 15.0, 0, 0), Usage(12.0, 15.0, 0, 0)]
    loop = [Usage(20.0, 30.0, 0, 0), Usage(16.0, 26.0, 0, 0), Usage(18.0, 28.0, 0, 0)]
    r = ratios(ours, loop, cores=2)
    assert (r.ours_wall, r.loop_wall, r.loop_cpu) == (12.0, 18.0, 28.0)
    assert r.limit == 14.0
    assert r.ours_over_loop == pytest.approx(12 / 18)
    assert r.ours_over_limit == pytest.approx(12 / 14)
    with pytest.raises(ValueError):
        ratios([], loop, cores=2)
    with pytest.raises(ValueError):
        ratios(ours, loop, cores=0)


def test_descendants_walks_the_whole_tree_and_nothing_else() -> None:
    parents = {1: 0, 10: 1, 11: 10, 12: 10, 13: 12, 20: 1, 21: 20}
    assert descendants(parents, 10) == {10, 11, 12, 13}
    assert descendants(parents, 99) == {99}


def test_measure_counts_the_cpu_and_memory_of_grandchildren(tmp_path: Path) -> None:
    # A shell whose child burns CPU and holds 64 MiB: both belong to the tree, not to the shell.
    child = "import time; b = bytearray(64 << 20); b[::4096] = b'x' * len(b[::4096]); t = time.process_time()\n" \
            "while time.process_time() - t < 0.6: pass\ntime.sleep(0.6)"
    u = measure(["sh", "-c", f"{shlex.quote(sys.executable)} -c {shlex.quote(child)}; true"], tmp_path, {}, tmp_path / "log")
    assert u.cpu >= 0.5
    assert u.wall >= 1.1
    assert u.max_rss >= 64 << 20
    assert u.tree_rss >= 64 << 20
    with pytest.raises(SystemExit, match="benchmark command failed"):
        measure(["sh", "-c", "echo broken; exit 3"], tmp_path, {}, tmp_path / "log2")
