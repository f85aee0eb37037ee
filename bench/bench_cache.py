"""What the build workflow's cargo cache buys (issue 30 item 7): a cold CI build against a warm one
(docs/performance.md, "CI cache").

    flock /tmp/wavry-rust.lock python bench/bench_cache.py [--rounds N] [--targets T,T] [--write-doc]

Needs Debian's crates (apt-get install librust-clap-2-dev librust-cc-dev librust-libc-dev), as
bench_real.py, whose clap-2 crate (clapcli: clap and its dependencies) this builds.

Each round is what two CI runs of .github/workflows/build.yml do, one after the other, in one
checkout path (a runner's workspace path is fixed; it is in the remap flags every crate is compiled
with, so a restored target dir under another path compiles every dependency again):
  cold  a fresh clone (every file's mtime new, as actions/checkout leaves it), an empty target dir:
        `invoke build --all`; then its target dir is packed with tar, as actions/cache saves it;
  warm  a one-line change committed in the crate's own code, a fresh clone of that commit, the
        packed target dir unpacked into it (actions/cache restoring the key of the same Cargo.lock,
        toolchain and target): `invoke build --all`.
Both with WAVRYBUILD_SCCACHE=0 (no other cache in play) and the crate's dependencies from a
directory source (nothing is downloaded: the ~/.cargo/registry part of the cache saves download
time on a runner, which is not measured here). Reported: medians of wall and CPU time, warm/cold,
and that the warm build's binaries run (`invoke smoke`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from _common import Usage, measure
from bench_noop import machine
from bench_real import CRATES, QUICK_TARGETS, check_registry, make_crate

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- bench_cache:start -->", "<!-- bench_cache:end -->"


def git(root: Path, *argv: str) -> None:
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@x", *argv], cwd=root, check=True,
                   capture_output=True)


def clone(origin: Path, dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(origin), str(dest)], check=True, capture_output=True)
    return dest


def build(root: Path, env: dict[str, str], log: Path) -> Usage:
    return measure([sys.executable, "-m", "invoke", "build", "--all"], root, env, log)  # exits if it fails


def smoke(root: Path, env: dict[str, str], log: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "invoke", "smoke"], cwd=root, env=env, capture_output=True,
                          text=True, check=False)
    log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        sys.exit(f"bench_cache: `invoke smoke` failed after the warm build in {root}; see {log}")


def pack(target: Path, archive: Path) -> None:
    """The target dir as actions/cache saves it: a tar of the tree, mtimes kept."""
    with tarfile.open(archive, "w") as tar:
        tar.add(target, arcname="target")


def unpack(archive: Path, root: Path) -> None:
    with tarfile.open(archive) as tar:
        tar.extractall(root, filter="tar")


def round_(tmp: Path, origin: Path, i: int, env: dict[str, str], logs: Path) -> tuple[Usage, Usage]:
    # One checkout path for both runs, as a runner's workspace is (/home/runner/work/<repo>/<repo>):
    # the path is in the remap flags every crate is compiled with, so another path compiles all again.
    checkout = tmp / "checkout"
    clone(origin, checkout)
    cold = build(checkout, env, logs / f"cold-{i}.log")
    archive = tmp / f"target-{i}.tar"
    pack(checkout / "target", archive)
    shutil.rmtree(checkout)
    with (origin / "src/main.rs").open("a") as f:
        f.write(f"// a one-line change, round {i + 1}\n")
    git(origin, "commit", "-q", "-am", f"change {i + 1}")
    clone(origin, checkout)
    unpack(archive, checkout)
    warm = build(checkout, env, logs / f"warm-{i}.log")
    smoke(checkout, env, logs / f"smoke-{i}.log")
    shutil.rmtree(checkout)
    archive.unlink()
    print(f"  round {i + 1}: cold {cold.wall:.1f} s wall / {cold.cpu:.1f} s CPU, "
          f"warm {warm.wall:.1f} s wall / {warm.cpu:.1f} s CPU", flush=True)
    return cold, warm


def table(targets: tuple[str, ...], colds: list[Usage], warms: list[Usage]) -> str:
    def med(us: list[Usage], key: str) -> float:
        return statistics.median(getattr(u, key) for u in us)

    cw, ww, cc, wc = med(colds, "wall"), med(warms, "wall"), med(colds, "cpu"), med(warms, "cpu")
    return "\n".join([
        START,
        f"Machine: {machine()}; crate clapcli (clap 2 and its dependencies, from Debian's directory source); "
        f"targets {', '.join(targets)}; median of {len(colds)} rounds.",
        "",
        "| build (`invoke build --all`) | wall | CPU |",
        "| --- | --- | --- |",
        f"| cold: fresh clone, empty target dir | {cw:.1f} s | {cc:.1f} s |",
        f"| warm: fresh clone of a one-line change, target dir restored | {ww:.1f} s | {wc:.1f} s |",
        f"| warm / cold | {ww / cw:.2f} ({(1 - ww / cw) * 100:.0f} % faster) | {wc / cc:.2f} |",
        "",
        "Reproduce: `flock /tmp/wavry-rust.lock python bench/bench_cache.py --write-doc`.",
        END,
    ])


def write_doc(text: str) -> None:
    doc = REPO / "docs/performance.md"
    body = doc.read_text()
    if START in body and END in body:
        body = body[:body.index(START)] + text + body[body.index(END) + len(END):]
    else:
        body = body.rstrip("\n") + "\n\n## CI cache: a warm build against a cold one\n\n" + text + "\n"
    doc.write_text(body)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--targets", default=",".join(QUICK_TARGETS), help="comma-separated targets (default: %(default)s)")
    ap.add_argument("--write-doc", action="store_true", help="put the table into docs/performance.md")
    args = ap.parse_args()
    crate = CRATES["clapcli"]
    check_registry([crate])
    targets = tuple(t for t in args.targets.split(",") if t)
    env = {**os.environ, "WAVRYBUILD_SCCACHE": "0"}
    env.pop("CARGO_TARGET_DIR", None)
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as d:
        tmp = Path(d)
        origin = make_crate(tmp, crate, targets)
        logs = tmp / "logs"
        logs.mkdir()
        colds, warms = [], []
        for i in range(args.rounds):
            cold, warm = round_(tmp, origin, i, env, logs)
            colds.append(cold)
            warms.append(warm)
        text = table(targets, colds, warms)
    print(text)
    if args.write_doc:
        write_doc(text)


if __name__ == "__main__":
    main()
