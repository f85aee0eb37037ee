"""A benchmark on real crates (issue 28, item 1): `invoke build --all` against the loop of the exact
per-target commands, cold and warm (docs/performance.md, "Real crates").

    flock /tmp/wavry-rust.lock python bench/bench_real.py [--quick] [--rounds N] [--write-doc]

Needs Debian's crates in the directory source /usr/share/cargo/registry:

    apt-get install librust-clap-2-dev librust-cc-dev librust-libc-dev

and the toolchain of the repository's targets.toml (`invoke toolchain --install`).

Two crates are written into a temporary directory, each a project of its own (targets.toml,
tasks.py, git commit, Cargo.lock made offline) whose .cargo/config.toml replaces crates.io with
Debian's registry:
  clapcli  a small CLI on clap 2 (and its dependencies) with three subcommands;
  ccrc     a build script compiling C through `cc`, called from main, plus `libc`.
Targets: x86_64-unknown-linux-gnu, x86_64-unknown-linux-gnu.2.17, aarch64-unknown-linux-gnu,
x86_64-unknown-linux-musl (std from source) and aarch64-apple-darwin (std from source).

Per crate and round, each from an empty target dir (and an empty dist/): `invoke build --all`
(ours) and the loop, the order alternating between rounds; the loop runs, one after the other in one
target dir, the commands of `invoke build --all --dry --force --parallel 1` split per target. Then
`invoke build --all --parallel 1` from an empty target dir: its binaries must be byte-identical
to ours (the run fails otherwise). Then a comment line is appended to src/main.rs and ours and the
loop run again in their own target dirs (warm rebuild), in the same order. After the first build
`invoke smoke` runs every binary that runs here (qemu for aarch64) and the Mach-O header of the
macOS binary is checked.

Measured per run: wall; CPU (user + system of the whole process tree: os.wait4's rusage of the
root process, which holds every descendant it waited for); peak memory as the largest sum of the
RSS of the tree's live processes, sampled every 0.25 s (processes shorter than that can be
missed), and the largest single process (wait4's ru_maxrss, a lower bound). Reported: medians over
the rounds, ours/loop, and ours/limit where the limit is the loop's CPU divided by the cores (no
schedule of the same work can be faster). Goals (issue 28): cold ours/loop <= 0.8, ours/limit <=
1.15, warm ours/loop <= 1.0.

--quick: the ccrc crate, x86_64-unknown-linux-gnu and aarch64-unknown-linux-gnu, one round: to try
the harness, not to measure.

Smaller experiments (not for --write-doc): --crate NAME (one crate), --targets A,B (a subset),
--cold-only (no warm rebuild), --ours-env NAME=VALUE (an environment variable for ours and the
--parallel 1 run only, e.g. WAVRYBUILD_PARALLEL=1), --keep-logs DIR (every
run's output, with the build table and its `cores busy` per invocation).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from _common import Ratios, Usage, fill_doc_block, loop_script, measure, ratios
from bench_noop import machine

from wavrybuild.proc import tool_path

REPO = Path(__file__).resolve().parents[1]
REGISTRY = Path("/usr/share/cargo/registry")
PACKAGES = "librust-clap-2-dev librust-cc-dev librust-libc-dev"
TARGETS = ("x86_64-unknown-linux-gnu", "x86_64-unknown-linux-gnu.2.17", "aarch64-unknown-linux-gnu",
           "x86_64-unknown-linux-musl", "aarch64-apple-darwin")
QUICK_TARGETS = ("x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu")
BUILD_STD = ("x86_64-unknown-linux-musl", "aarch64-apple-darwin")
GOALS = {"cold": 0.8, "limit": 1.15, "warm": 1.0}
START, END = "<!-- bench_real:start -->", "<!-- bench_real:end -->"

CLAPCLI = {
    "Cargo.toml": '[package]\nname = "wavry-clapcli"\nversion = "0.3.1"\nedition = "2021"\n\n'
                  '[dependencies]\nclap = "2.34"\n',
    "src/main.rs": """use clap::{App, AppSettings, Arg, SubCommand};

fn main() {
    let matches = App::new("wavry-clapcli")
        .version(env!("CARGO_PKG_VERSION"))
        .about("A small CLI on clap 2, built by bench/bench_real.py")
        .setting(AppSettings::SubcommandRequiredElseHelp)
        .subcommand(SubCommand::with_name("greet").about("Greets someone")
            .arg(Arg::with_name("name").required(true))
            .arg(Arg::with_name("shout").long("shout").short("s").help("in capitals")))
        .subcommand(SubCommand::with_name("sum").about("Adds integers")
            .arg(Arg::with_name("numbers").required(true).multiple(true)))
        .subcommand(SubCommand::with_name("count").about("Counts the words of a text")
            .arg(Arg::with_name("text").required(true).multiple(true)))
        .get_matches();
    match matches.subcommand() {
        ("greet", Some(m)) => {
            let line = format!("hello, {}", m.value_of("name").unwrap_or_default());
            println!("{}", if m.is_present("shout") { line.to_uppercase() } else { line });
        }
        ("sum", Some(m)) => {
            let total: i64 = m.values_of("numbers").into_iter().flatten()
                .map(|n| n.parse::<i64>().unwrap_or_else(|_| { eprintln!("not a number: {n}"); std::process::exit(2) }))
                .sum();
            println!("{total}");
        }
        ("count", Some(m)) => {
            println!("{}", m.values_of("text").into_iter().flatten().flat_map(str::split_whitespace).count());
        }
        _ => unreachable!("clap requires a subcommand"),
    }
}
""",
}

CCRC = {
    "Cargo.toml": '[package]\nname = "wavry-ccrc"\nversion = "0.2.0"\nedition = "2021"\nbuild = "build.rs"\n\n'
                  '[dependencies]\nlibc = "0.2"\n\n[build-dependencies]\ncc = "1"\n',
    "build.rs": 'fn main() {\n    cc::Build::new().file("src/crc32.c").compile("wavrycrc");\n'
                '    println!("cargo:rerun-if-changed=src/crc32.c");\n}\n',
    "src/crc32.c": """#include <stddef.h>
#include <stdint.h>

uint32_t wavry_crc32(const unsigned char *data, size_t len) {
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}
""",
    "src/main.rs": """use std::ffi::CString;

extern "C" {
    fn wavry_crc32(data: *const u8, len: usize) -> u32;
}

fn main() {
    for arg in std::env::args().skip(1) {
        if arg == "--version" {
            println!("wavry-ccrc {}", env!("CARGO_PKG_VERSION"));
            continue;
        }
        let c = CString::new(arg.as_str()).expect("an argument holds no NUL");
        let len = unsafe { libc::strlen(c.as_ptr()) };
        let crc = unsafe { wavry_crc32(arg.as_ptr(), arg.len()) };
        println!("{arg}: {len} bytes, crc32 {crc:08x}");
    }
}
""",
}


@dataclass(frozen=True)
class Crate:
    name: str
    files: dict[str, str]
    needs: tuple[str, ...]  # registry crates (name prefixes of Debian's directories)
    smoke_args: tuple[str, ...]
    smoke_expect: str


CRATES = {
    "clapcli": Crate("clapcli", CLAPCLI, ("clap-2.", "strsim-", "textwrap-", "unicode-width-"),
                     ("greet", "--shout", "wavry"), "HELLO, WAVRY"),
    "ccrc": Crate("ccrc", CCRC, ("cc-1.", "libc-0.2."), ("--version", "wavry"),
                  f"wavry: 5 bytes, crc32 {zlib.crc32(b'wavry'):08x}"),
}


def check_registry(crates: list[Crate]) -> None:
    have = {d.name for d in REGISTRY.iterdir()} if REGISTRY.is_dir() else set()
    missing = [p for c in crates for p in c.needs if not any(h.startswith(p) for h in have)]
    if missing:
        sys.exit(f"bench_real: {REGISTRY} lacks {', '.join(p.rstrip('-.') for p in missing)}; "
                 f"install Debian's crates: apt-get install {PACKAGES}")


def target_tables(targets: tuple[str, ...]) -> list[str]:
    """The [targets] tables: plain cargo for the host's gnu, std from source where BUILD_STD says."""
    out = []
    for t in targets:
        lines = [f'[targets."{t}"]']
        if t == "x86_64-unknown-linux-gnu":
            lines.append('builder = "cargo"')
        if t in BUILD_STD:
            lines.append('std = "build-std"')
        out.append("\n".join(lines) + "\n")
    return out


def targets_toml(crate: Crate, targets: tuple[str, ...]) -> str:
    quoted = ", ".join(f'"{a}"' for a in crate.smoke_args)
    out = ['[project]\ncrate = "."\n', f'[defaults]\nsmoke-args = [{quoted}]\nsmoke-expect = "{crate.smoke_expect}"\n']
    return "\n".join(out + target_tables(targets))


def make_crate(tmp: Path, crate: Crate, targets: tuple[str, ...]) -> Path:
    """The crate as a project of its own: committed, with its Cargo.lock made from Debian's registry."""
    root = tmp / crate.name
    files = {
        **crate.files,
        ".cargo/config.toml": f'[source.crates-io]\nreplace-with = "debian"\n\n[source.debian]\ndirectory = "{REGISTRY}"\n',
        "targets.toml": targets_toml(crate, targets),
        "tasks.py": "from wavrybuild import ns  # noqa: F401\n",
        ".gitignore": "dist/\ntarget/\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    for argv in (["cargo", "generate-lockfile", "--offline"], ["git", "init", "-q"], ["git", "add", "-A"],
                 ["git", "-c", "user.name=b", "-c", "user.email=b@x", "commit", "-q", "-m", "b"]):
        done = subprocess.run(argv, cwd=root, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"bench_real: {' '.join(argv)} failed in {root}:\n{done.stderr[-3000:]}")
    return root


def binaries(root: Path) -> dict[str, str]:
    """SHA-256 of every built binary under dist/, by path."""
    base = root / "dist/.wavrybuild/bin"
    return {str(p.relative_to(base)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(base.rglob("*")) if p.is_file()}


def smoke(root: Path, env: dict[str, str], log: Path) -> None:
    """Every binary that runs here runs and says what it should; the macOS one is a Mach-O arm64."""
    done = subprocess.run([sys.executable, "-m", "invoke", "smoke"], cwd=root, env=env, capture_output=True, text=True,
                          check=False)
    log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        sys.exit(f"bench_real: `invoke smoke` failed in {root}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    for p in (root / "dist/.wavrybuild/bin").glob("*apple-darwin*/*"):
        if p.read_bytes()[:8] != b"\xcf\xfa\xed\xfe\x0c\x00\x00\x01":
            sys.exit(f"bench_real: {p} is not a Mach-O arm64 binary")
    print("  smoke passed", flush=True)


def keep_pair(root: Path, differing: list[str], dest: Path) -> None:
    """Both copies of every differing binary (ours from dist-ours/, --parallel 1's from dist/), to
    find out how they differ after the run."""
    for rel in differing:
        for who, dist in (("ours", "dist-ours"), ("p1", "dist")):
            src = root / dist / ".wavrybuild/bin" / rel
            if src.is_file():
                (dest / who / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / who / rel)
    print(f"  kept in {dest}", flush=True)


@dataclass(frozen=True)
class Result:
    crate: str
    targets: int
    commands: int  # the loop's cargo invocations
    runs: dict[str, list[Usage]]
    identical: bool

    def ratios(self, warm: bool = False) -> Ratios:
        suffix = "-warm" if warm else ""
        return ratios(self.runs["ours" + suffix], self.runs["loop" + suffix], len(os.sched_getaffinity(0)))


def bench_crate(tmp: Path, crate: Crate, targets: tuple[str, ...], rounds: int, *, warm: bool = True,
                ours_env: dict[str, str] | None = None, logs: Path | None = None) -> Result:
    root = make_crate(tmp, crate, targets)
    env = {**os.environ, "WAVRYBUILD_SCCACHE": "0"}
    env.pop("CARGO_TARGET_DIR", None)
    dry = tmp / f"{crate.name}-t-dry"
    script = loop_script(root, {**env, "CARGO_TARGET_DIR": str(dry)})
    logs = logs or tmp / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[Usage]] = {k: [] for k in ("ours", "loop", "p1", "ours-warm", "loop-warm")}
    identical = True

    def run(who: str, i: int, target_dir: Path) -> None:
        run_env = {**env, "CARGO_TARGET_DIR": str(target_dir)}
        if not who.startswith("loop"):
            run_env.update(ours_env or {})
        else:
            # The PATH wavrybuild gives cargo: its rust-objcopy shim for the Apple targets (made by
            # ours' first build), which rustc runs to strip a Mach-O; a CI script needs it too.
            run_env["PATH"] = tool_path()
        if who.startswith("loop"):
            argv = ["sh", "-c", script.replace(str(dry), str(target_dir))]
        else:
            argv = [sys.executable, "-m", "invoke", "build", "--all", *(["--parallel", "1"] if who == "p1" else [])]
        u = measure(argv, root, run_env, logs / f"{crate.name}-{i}-{who}.log")
        runs[who].append(u)
        print(f"  {crate.name} round {i + 1} {who}: {u.wall:.1f} s wall, {u.cpu:.1f} s CPU, "
              f"tree {u.tree_rss / 2**20:.0f} MiB", flush=True)

    for i in range(rounds):
        dirs = {who: tmp / f"{crate.name}-t-{who}-{i}" for who in ("ours", "loop", "p1")}
        order = ("ours", "loop") if i % 2 == 0 else ("loop", "ours")
        shutil.rmtree(root / "dist", ignore_errors=True)
        for who in order:
            run(who, i, dirs[who])
        if i == 0:
            smoke(root, {**env, "CARGO_TARGET_DIR": str(dirs["ours"])}, logs / f"{crate.name}-smoke.log")
        ours_bins = binaries(root)
        (root / "dist").rename(root / "dist-ours")
        run("p1", i, dirs["p1"])
        p1_bins = binaries(root)
        if p1_bins != ours_bins or not ours_bins:
            identical = False
            differing = sorted(k for k in ours_bins.keys() | p1_bins.keys() if ours_bins.get(k) != p1_bins.get(k))
            print(f"  {crate.name} round {i + 1}: binaries differ from --parallel 1's: {differing}")
            keep_pair(root, differing, logs / f"{crate.name}-{i}-differing")
        shutil.rmtree(root / "dist")
        shutil.rmtree(dirs["p1"])
        (root / "dist-ours").rename(root / "dist")
        # A one-line change in the crate's own code: every target compiles the crate again.
        with (root / "src/main.rs").open("a") as f:
            f.write(f"// warm rebuild {i + 1}\n")
        for who in order if warm else ():
            run(f"{who}-warm", i, dirs[who])
        for d in dirs.values():
            shutil.rmtree(d, ignore_errors=True)
    return Result(crate.name, len(targets), script.count(" && ") + 1, runs, identical)


def _mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB"


def tables(results: list[Result]) -> str:
    names = {"ours": "`invoke build --all`, cold", "loop": "the loop, cold",
             "p1": "`invoke build --all --parallel 1`, cold", "ours-warm": "`invoke build --all`, warm",
             "loop-warm": "the loop, warm"}
    out = ["| crate | run | wall | CPU | peak RSS, process tree | largest process |", "|---|---|---:|---:|---:|---:|"]
    for r in results:
        for who, label in names.items():
            us = r.runs[who]
            if not us:
                continue
            out.append(f"| {r.crate} | {label} | {statistics.median(u.wall for u in us):.1f} s | "
                       f"{statistics.median(u.cpu for u in us):.1f} s | {_mib(max(u.tree_rss for u in us))} | "
                       f"{_mib(max(u.max_rss for u in us))} |")
    out += ["", "| crate | targets (loop commands) | ours/loop, cold | limit (loop CPU ÷ cores) | ours/limit | "
                "ours/loop, warm | binaries = `--parallel 1`'s |", "|---|---|---:|---:|---:|---:|---|"]

    def verdict(x: float, goal: float) -> str:
        return f"{x:.2f} ({'PASS' if x <= goal else 'FAIL'}, goal ≤ {goal})"

    for r in results:
        cold = r.ratios()
        warm = verdict(r.ratios(warm=True).ours_over_loop, GOALS['warm']) if r.runs["ours-warm"] else "not run"
        out.append(f"| {r.crate} | {r.targets} ({r.commands}) | {verdict(cold.ours_over_loop, GOALS['cold'])} | "
                   f"{cold.limit:.1f} s ({cold.cores} cores) | {verdict(cold.ours_over_limit, GOALS['limit'])} | "
                   f"{warm} | {'yes' if r.identical else '**no**'} |")
    return "\n".join(out)


def write_doc(text: str) -> None:
    fill_doc_block(REPO / "docs/performance.md", START, END, text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 epilog=f"Needs Debian's crates: apt-get install {PACKAGES}")
    ap.add_argument("--quick", action="store_true", help="one crate, two targets, one round: to try the harness")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds per crate (default 2)")
    ap.add_argument("--write-doc", action="store_true", help="fill the Real crates block of docs/performance.md")
    ap.add_argument("--crate", choices=sorted(CRATES), help="experiment: this crate only")
    ap.add_argument("--targets", help="experiment: these targets only (comma-separated, of the five)")
    ap.add_argument("--cold-only", action="store_true", help="experiment: no warm rebuild")
    ap.add_argument("--ours-env", action="append", default=[], metavar="NAME=VALUE",
                    help="experiment: a variable for ours and the --parallel 1 run (repeatable)")
    ap.add_argument("--keep-logs", type=Path, metavar="DIR", help="keep every run's output in DIR")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds: at least 1")
    experiment = bool(args.crate or args.targets or args.cold_only or args.ours_env)
    if experiment and args.write_doc:
        ap.error("--write-doc fills the doc from the whole benchmark only (no --crate/--targets/--cold-only/--ours-env)")
    crates = [CRATES["ccrc"]] if args.quick else [CRATES[args.crate]] if args.crate else list(CRATES.values())
    targets = QUICK_TARGETS if args.quick else TARGETS
    if args.targets:
        targets = tuple(t.strip() for t in args.targets.split(",") if t.strip())
        unknown = [t for t in targets if t not in TARGETS]
        if unknown or not targets:
            ap.error(f"--targets: not among {', '.join(TARGETS)}: {', '.join(unknown) or '(none)'}")
    ours_env = {}
    for item in args.ours_env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            ap.error(f"--ours-env: {item!r} is not NAME=VALUE")
        ours_env[name] = value
    rounds = 1 if args.quick else args.rounds
    check_registry(crates)
    with tempfile.TemporaryDirectory(prefix="wavry-bench-real-") as d:
        results = [bench_crate(Path(d), c, targets, rounds, warm=not args.cold_only, ours_env=ours_env,
                               logs=args.keep_logs) for c in crates]
    text = (f"Measured {time.strftime('%Y-%m-%d')} on {machine()} with "
            f"`python {' '.join(['bench/bench_real.py', *sys.argv[1:]])}`: medians of {rounds} "
            f"round(s), each run from an empty target dir.\n\n" + tables(results))
    print(text)
    if args.write_doc:
        write_doc(text)
    if not all(r.identical for r in results):
        sys.exit("bench_real: ours' binaries differ from `invoke build --all --parallel 1`'s (see above)")


if __name__ == "__main__":
    main()
