"""A no-op build against the tool it wraps, side by side (docs/performance.md, "No-op build").

    python bench/bench_noop.py [--pairs N] [--write-doc]

In a fresh clone of the demo crate with the repository's targets.toml, `invoke build --target
aarch64-unknown-linux-gnu` is run once to build; then, alternating (ours first in even pairs, the
other first in odd ones), the same no-op `invoke build --target aarch64-unknown-linux-gnu` and the
exact cargo-zigbuild command `invoke build --target aarch64-unknown-linux-gnu --dry --force` prints
(its variables, argv and target dir: cargo finds everything fresh and does nothing either). Each
side is one process started from here, timed to its end; one warm-up run each is not counted.
Python keeps its bytecode cache, as an installed wavrybuild does. Goal: median ours/theirs <= 0.9.

On a machine shared with other builds, hold a lock around it so that both sides see the same
quiet machine (this repository's helpers use `flock /tmp/wavry-rust.lock python bench/...`).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_release import make_clone

REPO = Path(__file__).resolve().parents[1]
TARGET = "aarch64-unknown-linux-gnu"
GOAL = 0.9


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"benchmark command failed: {shlex.join(argv)}\n{done.stdout[-1500:]}\n{done.stderr[-2000:]}")
    return elapsed, done.stdout + done.stderr


def wrapped_command(root: Path, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The cargo-zigbuild argv and variables `invoke build --dry --force` shows for the target."""
    _, out = run([sys.executable, "-m", "invoke", "build", "--target", TARGET, "--dry", "--force"], root, env)
    lines = [ln.split("$ ", 1)[1] for ln in out.splitlines() if ln.startswith("(dry) $ ")]
    if len(lines) != 1 or "cargo-zigbuild" not in lines[0]:
        sys.exit(f"expected one cargo-zigbuild command from `invoke build --dry --force`:\n{out}")
    argv = shlex.split(lines[0])
    assigned = [a for a in argv if re.match(r"^[A-Z_][A-Z0-9_]*=", a)]
    return argv[len(assigned):], {**env, **dict(a.split("=", 1) for a in assigned)}


def measure(pairs: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="wavry-bench-noop-") as t:
        tmp = Path(t)
        root = make_clone(tmp, "clone", quick=False)  # the demo crate, the repository's targets.toml
        env = {**os.environ, "CARGO_TARGET_DIR": str(tmp / "target")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # installed packages keep their compiled modules
        ours = [sys.executable, "-m", "invoke", "build", "--target", TARGET]
        run(ours, root, env)  # the build itself
        theirs, theirs_env = wrapped_command(root, env)
        # Warm-ups, and the proof that both sides are no-ops: ours skipped, cargo compiled nothing.
        _, out = run(ours, root, env)
        if "up to date" not in out:
            sys.exit(f"the second `invoke build` was not a no-op:\n{out}")
        _, out = run(theirs, root, theirs_env)
        if "Compiling" in out or '"fresh":false' in out:
            sys.exit(f"the wrapped cargo-zigbuild command rebuilt something:\n{out[-2000:]}")
        a: list[float] = []
        b: list[float] = []
        for i in range(pairs):
            for side in ("ours", "theirs") if i % 2 == 0 else ("theirs", "ours"):
                if side == "ours":
                    a.append(run(ours, root, env)[0])
                else:
                    b.append(run(theirs, root, theirs_env)[0])
        return {"ours": a, "theirs": b, "command": shlex.join(theirs),
                "variables": {k: v for k, v in theirs_env.items() if env.get(k) != v}}


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def table(result: dict[str, object]) -> str:
    a, b = result["ours"], result["theirs"]
    assert isinstance(a, list) and isinstance(b, list)
    ratios = sorted(x / y for x, y in zip(a, b, strict=True))
    ma, mb = statistics.median(a), statistics.median(b)
    rows = [
        ("no-op `invoke build --target aarch64-unknown-linux-gnu`", f"{ma:.3f} s", f"{min(a):.3f}–{max(a):.3f} s"),
        ("the cargo-zigbuild command it runs, no-op", f"{mb:.3f} s", f"{min(b):.3f}–{max(b):.3f} s"),
        ("ratio of the medians", f"{ma / mb:.2f}", f"goal ≤ {GOAL}: {'PASS' if ma / mb <= GOAL else 'FAIL'}"),
        ("median of the pairwise ratios", f"{statistics.median(ratios):.2f}", f"{ratios[0]:.2f}–{ratios[-1]:.2f}"),
    ]
    out = [f"{len(a)} pairs, alternating; wall time of each whole process", "",
           "| measurement | median | range |", "|---|---:|---|"]
    return "\n".join(out + [f"| {r[0]} | {r[1]} | {r[2]} |" for r in rows])


def write_doc(result: dict[str, object]) -> None:
    doc = REPO / "docs/performance.md"
    text = doc.read_text()
    start, end = "<!-- bench_noop:start -->", "<!-- bench_noop:end -->"
    block = (f"{start}\nMeasured {time.strftime('%Y-%m-%d')} on {machine()} with "
             f"`python bench/bench_noop.py --write-doc`, "
             + table(result) + f"\n{end}")
    if start not in text:
        sys.exit(f"docs/performance.md has no {start} … {end} block to fill")
    text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    doc.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=21, help="alternating pairs counted (at least 15)")
    ap.add_argument("--write-doc", action="store_true", help="fill the No-op build block of docs/performance.md")
    args = ap.parse_args()
    if args.pairs < 15:
        ap.error("--pairs: at least 15")
    result = measure(args.pairs)
    print(f"machine: {machine()}")
    print(f"theirs: {result['command']}  (with {result['variables']})")
    print(table(result))
    if args.write_doc:
        write_doc(result)


if __name__ == "__main__":
    main()
