"""Benchmarks of the orchestration overhead, each a ratio measured side by side in one run.

    python bench/bench_release.py [--quick] [--write-doc]

1. no-op `invoke release` vs the same release cold, in a fresh clone (goal <= 3 s and >= 95 % faster);
2. peak memory (max RSS) of the orchestrator over the cold release;
3. binary sizes per target with the size-oriented settings targets.toml can turn on (strip, lto,
   codegen-units, opt-level, panic) against cargo's plain release profile.

The no-op build against the cargo-zigbuild command it wraps is bench/bench_noop.py.

The contenders alternate and each figure is a median, because the machine is noisy. --quick uses
two fast targets and fewer repetitions (about a minute); the full run uses the repository's
targets.toml (cold includes building std from source for musl, macOS and Windows: minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUICK_TARGETS = """
[project]
crate = "demo"
[targets.x86_64-unknown-linux-gnu]
builder = "cargo"
[targets.aarch64-unknown-linux-gnu]
[package]
include = ["LICENSE"]
"""


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"benchmark command failed: {' '.join(argv)}\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


# Runs invoke in-process and reports that process's own peak RSS at exit (cargo and rustc excluded).
MAXRSS = ("import atexit, resource, sys\n"
          "atexit.register(lambda: print('WAVRY_MAXRSS_KIB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,"
          " file=sys.stderr))\n"
          "from invoke.main import program\n"
          "sys.argv = ['invoke', *sys.argv[1:]]\n"
          "program.run()\n")


def orchestrator_peak_mib(argv_tail: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak RSS of the invoke process itself in MiB)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", MAXRSS, *argv_tail], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"benchmark command failed: invoke {' '.join(argv_tail)}\n{done.stderr[-2000:]}")
    kib = next(int(ln.split()[1]) for ln in done.stderr.splitlines() if ln.startswith("WAVRY_MAXRSS_KIB"))
    return elapsed, kib / 1024


SIZE_SETTINGS = """
[defaults]
strip = "symbols"
lto = "fat"
codegen-units = 1
opt-level = "z"
panic = "abort"
"""


def make_clone(tmp: Path, name: str, quick: bool, extra: str = "") -> Path:
    clone = tmp / name
    shutil.copytree(REPO / "demo", clone / "demo", ignore=shutil.ignore_patterns("target"))
    targets = QUICK_TARGETS if quick else (REPO / "targets.toml").read_text()
    if extra:
        # Size settings go into the [defaults] table the file may already have.
        if "[defaults]" in targets:
            targets = targets.replace("[defaults]", extra.strip())
        else:
            targets = targets.replace("[targets.", extra + "\n[targets.", 1)
    (clone / "targets.toml").write_text(targets)
    (clone / "tasks.py").write_text("from wavrybuild import ns  # noqa: F401\n")
    (clone / ".gitignore").write_text("dist/\ntarget/\n")
    git = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.invalid",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.invalid"}
    for argv in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "bench"]):
        subprocess.run(argv, cwd=clone, env=git, check=True)
    return clone


def bench(quick: bool) -> list[tuple[str, str, str, str, str]]:
    reps = 3 if quick else 7
    rows = []
    invoke = [sys.executable, "-m", "invoke"]
    with tempfile.TemporaryDirectory(prefix="wavry-bench-") as t:
        tmp = Path(t)
        clone = make_clone(tmp, "clone", quick)
        env = {**os.environ, "CARGO_TARGET_DIR": str(tmp / "target")}
        # As installed for a user, Python keeps compiled modules (this sandbox sets PYTHONDONTWRITEBYTECODE,
        # which would make every run compile wavrybuild, invoke and rich afresh).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        cold, peak = orchestrator_peak_mib(["release"], clone, env)
        # 1. no-op release vs cold
        noop = statistics.median(run([*invoke, "release"], clone, env) for _ in range(reps))
        saving = 1 - noop / cold
        ok = noop <= 3.0 and saving >= 0.95
        rows.append((f"no-op release ({'2' if quick else 'all'} targets)", f"{noop:.2f} s", f"cold release: {cold:.1f} s",
                     f"{noop / cold:.3f} ({saving:.1%} faster)", "PASS" if ok else "FAIL (goal <= 3 s, >= 95 % faster)"))
        rows.append(("peak RSS of the orchestrator (the invoke process), cold release", f"{peak:.0f} MiB",
                     "-", "-", "-"))
        # 2. binary sizes: size-oriented profile settings from targets.toml vs cargo's plain release
        small = make_clone(tmp, "small", quick, SIZE_SETTINGS)
        run([*invoke, "build", "--all"], small, env)
        plain_rec = json.loads((clone / "dist/.wavrybuild/build.json").read_text())["targets"]
        small_rec = json.loads((small / "dist/.wavrybuild/build.json").read_text())["targets"]
        for tid in plain_rec:
            p = next(b["size"] for b in plain_rec[tid]["binaries"] if b["name"] == "wavry-demo")
            q = next(b["size"] for b in small_rec[tid]["binaries"] if b["name"] == "wavry-demo")
            rows.append((f"wavry-demo size, {tid}", f"{q / 1024:.0f} KiB", f"plain release: {p / 1024:.0f} KiB",
                         f"{q / p:.2f}", "-"))
    return rows


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def table(rows) -> str:
    out = ["| measurement | ours | theirs | ratio ours/theirs | goal |", "|---|---:|---|---:|---|"]
    out += [f"| {' | '.join(r)} |" for r in rows]
    return "\n".join(out)


def write_doc(rows, quick: bool) -> None:
    doc = REPO / "docs/performance.md"
    text = doc.read_text() if doc.exists() else "# Performance\n"
    head = "## Orchestration overhead"
    section = (f"{head}\n\nMeasured {time.strftime('%Y-%m-%d')} on {machine()} with "
               f"`python bench/bench_release.py{' --quick' if quick else ''} --write-doc` "
               "(medians of alternating runs).\n\n" + table(rows) + "\n\n"
               "A no-op release starts no cargo: see \"No-op build\" for why, and for the no-op build "
               "against the cargo-zigbuild command it wraps (bench/bench_noop.py).\n")
    if head in text:
        start = text.index(head)
        nxt = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[nxt + 1:] if nxt != -1 else "")
    else:
        text = text.rstrip() + "\n\n" + section
    doc.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--write-doc", action="store_true")
    args = ap.parse_args()
    rows = bench(args.quick)
    print(f"machine: {machine()}")
    print(table(rows))
    if args.write_doc:
        write_doc(rows, args.quick)


if __name__ == "__main__":
    main()
