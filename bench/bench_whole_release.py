"""The whole release on one machine (issue 28, item 6): a LeanSpec-shaped workspace released from cold,
against a time budget, and where the time goes by stage (docs/performance.md, "The whole release").

    flock /tmp/wavry-rust.lock python bench/bench_whole_release.py [--budget SECONDS] [--write-doc]

A workspace of two binary packages sharing a library crate (a CLI on clap 2 from Debian's directory
source, and a server), as LeanSpec ships its CLI and MCP server, is written into a temporary directory
and committed. Its targets.toml releases the five targets of bench/bench_real.py
(x86_64-unknown-linux-gnu, the glibc 2.17 floor, aarch64-unknown-linux-gnu, x86_64-unknown-linux-musl
and aarch64-apple-darwin, the last two with std built from source) as archives per package, npm
packages, Python wheels, SHA256SUMS and minisign signatures (a key pair generated here). One
`invoke release --no-publish` runs from an empty target dir and an empty dist/ (nothing is
published: there is nowhere to); its wall, CPU (os.wait4 of the whole tree) and peak memory are
measured, each stage's time is read from the release's own summary table, and the build stage's
`cores busy` line is shown. The run fails when the release takes longer than --budget (default
900 s: the cold build of two std-from-source targets dominates, about 70 s each alone on 2 cores)
or when an expected artifact is missing.

Needs: apt-get install librust-clap-2-dev minisign; the toolchain of the repository's targets.toml
(`invoke toolchain --install`); npm (the npm channel packs with it).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import Usage, fill_doc_block, measure
from bench_noop import machine
from bench_real import REGISTRY, TARGETS, target_tables

REPO = Path(__file__).resolve().parents[1]
PASS = "bench-whole-release-passphrase"
START, END = "<!-- bench_whole_release:start -->", "<!-- bench_whole_release:end -->"
DEFAULT_BUDGET = 900.0

MAIN_CLI = """use clap::{App, Arg};

fn main() {
    let m = App::new("lean-cli").version(env!("CARGO_PKG_VERSION"))
        .arg(Arg::with_name("name").default_value("spec"))
        .get_matches();
    let name = m.value_of("name").unwrap_or_default();
    println!("{} {} {}", env!("CARGO_BIN_NAME"), env!("CARGO_PKG_VERSION"), lean_core::greeting(name));
}
"""
MAIN_MCP = """fn main() {
    let name = std::env::args().nth(1).unwrap_or_else(|| "spec".to_string());
    println!("{} {} {}", env!("CARGO_BIN_NAME"), env!("CARGO_PKG_VERSION"), lean_core::greeting(&name));
}
"""
WORKSPACE = {
    "Cargo.toml": '[workspace]\nmembers = ["crates/core", "crates/cli", "crates/mcp"]\nresolver = "2"\n\n'
                  '[workspace.package]\nversion = "0.5.0"\nedition = "2021"\nlicense = "MIT"\n'
                  'repository = "https://example.invalid/lean"\n',
    "crates/core/Cargo.toml": '[package]\nname = "lean-core"\nversion.workspace = true\nedition.workspace = true\n'
                              'license.workspace = true\n',
    "crates/core/src/lib.rs": 'pub fn greeting(name: &str) -> String { format!("hello from the shared core, {name}") }\n',
    "crates/cli/Cargo.toml": '[package]\nname = "lean-cli"\nversion.workspace = true\nedition.workspace = true\n'
                             'description = "the command line"\nlicense.workspace = true\n'
                             'repository.workspace = true\n\n'
                             '[dependencies]\nlean-core = { path = "../core" }\nclap = "2.34"\n',
    "crates/cli/src/main.rs": MAIN_CLI,
    "crates/mcp/Cargo.toml": '[package]\nname = "lean-mcp"\nversion.workspace = true\nedition.workspace = true\n'
                             'description = "the MCP server"\nlicense.workspace = true\n'
                             'repository.workspace = true\n\n'
                             '[dependencies]\nlean-core = { path = "../core" }\n',
    "crates/mcp/src/main.rs": MAIN_MCP,
    "README.md": "# lean\n\nA LeanSpec-shaped workspace for bench/bench_whole_release.py.\n",
    "LICENSE": "MIT License (a benchmark fixture)\n",
    "tasks.py": "from wavrybuild import ns  # noqa: F401\n",
    ".gitignore": "dist/\ntarget/\n",
    ".cargo/config.toml": f'[source.crates-io]\nreplace-with = "debian"\n\n[source.debian]\ndirectory = "{REGISTRY}"\n',
}


def targets_toml(keys: Path) -> str:
    out = ['[project]\ncrate = "."\n',
           '[defaults]\nsmoke-args = ["spec"]\nsmoke-expect = "{binary} {version} hello from the shared core, spec"\n']
    out += target_tables(TARGETS)
    shipped = ", ".join(f'"{t}"' for t in TARGETS if t != "x86_64-unknown-linux-gnu")
    out += ['[package]\ngroup = "package"\ninclude = ["README.md", "LICENSE"]\n',
            # The glibc 2.17 floor ships to npm and PyPI: it runs on every glibc x86_64 Linux.
            f'[channels.npm]\nname = "@lean/{{name}}"\npublish = false\ntargets = [{shipped}]\n',
            '[channels.pypi]\n',
            '[checksum]\nsidecars = true\n',
            f'[sign]\nmethods = ["minisign"]\n\n[sign.minisign]\nkey = "{keys / "minisign.key"}"\n'
            f'public-key = "{keys / "minisign.pub"}"\n']
    return "\n".join(out)


def make_workspace(tmp: Path) -> tuple[Path, Path]:
    keys = tmp / "keys"
    keys.mkdir()
    made = subprocess.run(["minisign", "-G", "-p", str(keys / "minisign.pub"), "-s", str(keys / "minisign.key")],
                          input=f"{PASS}\n{PASS}\n", capture_output=True, text=True, check=False)
    if made.returncode != 0:
        sys.exit(f"bench_whole_release: minisign -G failed (apt-get install minisign):\n{made.stderr}")
    root = tmp / "lean"
    for name, text in {**WORKSPACE, "targets.toml": targets_toml(keys)}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    for argv in (["cargo", "generate-lockfile", "--offline"], ["git", "init", "-q"], ["git", "add", "-A"],
                 ["git", "-c", "user.name=b", "-c", "user.email=b@x", "commit", "-q", "-m", "release"],
                 ["git", "tag", "v0.5.0"]):
        done = subprocess.run(argv, cwd=root, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"bench_whole_release: {' '.join(argv)} failed in {root}:\n{done.stderr[-3000:]}")
    return root, keys


def stage_times(output: str) -> list[tuple[str, str, float]]:
    """(stage, result, seconds) from the release's summary table, in order."""
    rows = []
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) >= 5 and (m := re.fullmatch(r"(\d+(?:\.\d+)?) s", cells[3])):
            rows.append((cells[1], cells[2], float(m.group(1))))
    return rows


def check_artifacts(dist: Path) -> list[str]:
    """What a release of this config must have written; the missing ones."""
    names = {p.name for p in dist.iterdir()} if dist.is_dir() else set()
    missing = [n for n in ("SHA256SUMS", "SHA256SUMS.minisig") if n not in names]
    for kind, pattern in (("archive", r"lean-(cli|mcp)-0\.5\.0-.*\.(tar\.gz|zip)$"), ("wheel", r".*\.whl$"),
                          ("npm package", r".*\.tgz$")):
        if not any(re.match(pattern, n) for n in names | {p.name for p in dist.rglob("*") if p.is_file()}):
            missing.append(kind)
    return missing


def table(usage: Usage, stages: list[tuple[str, str, float]], busy: str, budget: float) -> str:
    verdict = "PASS" if usage.wall <= budget else "FAIL"
    out = [f"Cold `invoke release --no-publish`: **{usage.wall:.1f} s** wall ({verdict}, budget {budget:.0f} s), "
           f"{usage.cpu:.1f} s CPU, peak {usage.tree_rss / 2**20:.0f} MiB (process tree).", ""]
    if busy:
        out += [f"Build stage: `{busy}`.", ""]
    out += ["| stage | result | time | share |", "|---|---|---:|---:|"]
    total = sum(s for _, _, s in stages) or 1.0
    out += [f"| {name} | {result} | {secs:.1f} s | {secs / total:.0%} |" for name, result, secs in stages]
    return "\n".join(out)


def write_doc(text: str) -> None:
    fill_doc_block(REPO / "docs/performance.md", START, END, text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=DEFAULT_BUDGET, help=f"seconds (default {DEFAULT_BUDGET:.0f})")
    ap.add_argument("--write-doc", action="store_true", help="fill the whole-release block of docs/performance.md")
    ap.add_argument("--keep", type=Path, metavar="DIR", help="work in DIR and keep it (the workspace, dist/, the log)")
    args = ap.parse_args()
    if not any(d.name.startswith("clap-2.") for d in REGISTRY.iterdir()) if REGISTRY.is_dir() else True:
        sys.exit(f"bench_whole_release: {REGISTRY} lacks clap 2: apt-get install librust-clap-2-dev")
    with tempfile.TemporaryDirectory(prefix="wavry-bench-whole-") as d:
        tmp = args.keep or Path(d)
        tmp.mkdir(parents=True, exist_ok=True)
        root, _ = make_workspace(tmp)
        env = {**os.environ, "CARGO_TARGET_DIR": str(tmp / "target"), "WAVRYBUILD_SCCACHE": "0",
               "WAVRYBUILD_MINISIGN_PASSPHRASE": PASS}
        log = tmp / "release.log"
        usage = measure([sys.executable, "-m", "invoke", "release", "--no-publish"], root, env, log)
        output = log.read_text(errors="replace")
        stages = stage_times(output)
        busy = next((ln.strip() for ln in output.splitlines() if "cargo invocation" in ln and "cores busy" in ln), "")
        missing = check_artifacts(root / "dist")
    text = (f"Measured {time.strftime('%Y-%m-%d')} on {machine()} with "
            f"`python {' '.join(['bench/bench_whole_release.py', *sys.argv[1:]])}`, one cold run.\n\n"
            + table(usage, stages, busy, args.budget))
    print(text)
    if args.write_doc:
        write_doc(text)
    if missing:
        sys.exit(f"bench_whole_release: the release lacks: {', '.join(missing)}")
    if not stages:
        sys.exit("bench_whole_release: no stage table in the release's output")
    if usage.wall > args.budget:
        sys.exit(f"bench_whole_release: {usage.wall:.1f} s is over the budget of {args.budget:.0f} s")


if __name__ == "__main__":
    main()
