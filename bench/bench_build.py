"""Benchmarks of cold builds, each a ratio measured side by side in one run.

    python bench/bench_build.py [--quick] [--write-doc]

3. multi-target build from clean: `invoke build --all` against a shell loop running, one target
   after the other, the same cargo / cargo-zigbuild command per target (what a hand-written CI
   script does); goal <= 0.9;
4. shared compile cache: sccache on a Redis server started here; a second, separate clone (own
   target dir, own sccache server) building the same commit, against the first; goal <= 0.3.

--quick: two targets with std built from source (x86_64 musl with cargo-zigbuild, x86_64 Windows
with cargo and mingw), which run in two lanes at once; one round.
The full run uses the repository's targets.toml and alternates the contenders twice.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import loop_script

REPO = Path(__file__).resolve().parents[1]
QUICK = """
[project]
crate = "demo"
[targets.x86_64-unknown-linux-musl]
[targets.x86_64-pc-windows-gnu]
"""


def timed(argv: list[str], cwd: Path, env: dict[str, str], shell: bool = False) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv if not shell else argv[0], cwd=cwd, env=env, capture_output=True, text=True,
                          check=False, shell=shell)
    if done.returncode != 0:
        sys.exit(f"benchmark command failed: {argv}\n{done.stdout[-1500:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def project(tmp: Path, name: str, toml: str) -> Path:
    root = tmp / name
    root.mkdir()
    shutil.copytree(REPO / "demo", root / "demo", ignore=shutil.ignore_patterns("target"))
    (root / "targets.toml").write_text(toml)
    (root / "tasks.py").write_text("from wavrybuild import ns  # noqa: F401\n")
    for argv in (["git", "init", "-q"], ["git", "add", "-A"],
                 ["git", "-c", "user.name=b", "-c", "user.email=b@x", "commit", "-q", "-m", "b"]):
        subprocess.run(argv, cwd=root, check=True, capture_output=True)
    return root


def multi_target(tmp: Path, toml: str, rounds: int) -> tuple[float, float, int]:
    root = project(tmp, "multi", toml)
    env = {**os.environ, "WAVRYBUILD_SCCACHE": "0"}
    script = loop_script(root, {**env, "CARGO_TARGET_DIR": str(tmp / "t-dry")})
    ours, loop = [], []
    for i in range(rounds):
        for who in (("ours", "loop") if i % 2 == 0 else ("loop", "ours")):
            target_dir = tmp / f"t-{who}-{i}"
            shutil.rmtree(root / "dist", ignore_errors=True)
            run_env = {**env, "CARGO_TARGET_DIR": str(target_dir)}
            if who == "ours":
                ours.append(timed([sys.executable, "-m", "invoke", "build", "--all"], root, run_env))
            else:
                loop.append(timed([script.replace(str(tmp / "t-dry"), str(target_dir))], root, run_env, shell=True))
            shutil.rmtree(target_dir, ignore_errors=True)
    return statistics.median(ours), statistics.median(loop), script.count(" && ") + 1


def shared_cache(tmp: Path, toml: str) -> tuple[float, float]:
    if not shutil.which("redis-server") or not shutil.which("sccache"):
        sys.exit("the shared-cache benchmark needs redis-server and sccache (bash .ci/setup)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no"], stdout=subprocess.DEVNULL)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        sc_port = s.getsockname()[1]
    env = {**os.environ, "WAVRYBUILD_SCCACHE": f"redis://127.0.0.1:{port}", "SCCACHE_SERVER_PORT": str(sc_port)}
    try:
        time.sleep(0.5)
        times = []
        for name in ("clone1", "clone2"):
            root = project(tmp, name, toml)
            subprocess.run(["sccache", "--stop-server"], env=env, capture_output=True, check=False)
            times.append(timed([sys.executable, "-m", "invoke", "build", "--all"], root,
                               {**env, "CARGO_TARGET_DIR": str(tmp / f"{name}-target")}))
        subprocess.run(["sccache", "--stop-server"], env=env, capture_output=True, check=False)
        return times[0], times[1]
    finally:
        redis.terminate()
        redis.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--write-doc", action="store_true")
    args = ap.parse_args()
    toml = QUICK if args.quick else (REPO / "targets.toml").read_text()
    with tempfile.TemporaryDirectory(prefix="wavry-bench-build-") as d:
        tmp = Path(d)
        ours, loop, n = multi_target(tmp, toml, 1 if args.quick else 2)
        first, second = shared_cache(tmp, toml)
    rows = [
        ("multi-target build from clean", f"`invoke build --all` ({n} targets)", f"{ours:.1f} s",
         f"shell loop of the same per-target commands: {loop:.1f} s", f"{ours / loop:.2f}×", "≤ 0.9"),
        ("shared compile cache (sccache + Redis)", "second clone, clean build", f"{second:.1f} s",
         f"first clone, clean build: {first:.1f} s", f"{second / first:.2f}×", "≤ 0.3"),
    ]
    print("| benchmark | ours | time | against | ratio | goal |\n| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if args.write_doc:
        doc = REPO / "docs/performance.md"
        text = doc.read_text()
        start, end = "<!-- bench_build:start -->", "<!-- bench_build:end -->"
        block = (f"{start}\nMeasured by `python bench/bench_build.py{' --quick' if args.quick else ''}`:\n\n"
                 "| benchmark | ours | time | against | ratio | goal |\n| --- | --- | --- | --- | --- | --- |\n"
                 + "\n".join("| " + " | ".join(r) + " |" for r in rows) + f"\n{end}")
        if start in text:
            text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
        else:
            text = text.rstrip() + "\n\n## Cold builds\n\n" + block + "\n"
        doc.write_text(text)


if __name__ == "__main__":
    main()
