"""What the build benchmarks share: the loop contender (the exact per-target commands `invoke build`
would run, one after the other, as a hand-written CI script has them), the measurement of a whole
process tree, and the ratios reported. Pure functions apart from `loop_script` and `measure`, so
that tests/unit/test_bench_common.py checks them without building anything."""

from __future__ import annotations

import os
import re
import shlex
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")
# wavrybuild/proc.py echoes a value with control characters (WAVRYBUILD_REMAP's newline-separated
# flags) as bash's $'…' with \xNN, \\ and \' escapes; shlex knows no $'…'.
_ANSI_C = re.compile(r"\$'((?:[^'\\]|\\.)*)'")
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|.)")


def _decode(body: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1)[1:], 16)) if m.group(1).startswith("x") and len(m.group(1)) == 3
                       else m.group(1), body)


def split_dry_line(line: str) -> list[str]:
    """The argv of one echoed command (its leading NAME=value words included), as bash reads it."""
    return shlex.split(_ANSI_C.sub(lambda m: shlex.quote(_decode(m.group(1))), line))


def dry_commands(output: str) -> list[str]:
    """The command lines of `invoke build --dry` output, in order."""
    return [ln.split("$ ", 1)[1] for ln in output.splitlines() if ln.startswith("(dry) $ ")]


def per_target(line: str) -> list[list[str]]:
    """One echoed cargo invocation split back into one argv per target, as a loop runs them: each
    with its own `--target T` and the `--config target."<triple>".…` entries that follow it, the
    variables as `env NAME=value …`, without our per-builder `--target-dir` (a hand-written loop has
    one target dir: CARGO_TARGET_DIR) and without `--keep-going` (one target per invocation)."""
    argv = split_dry_line(line)
    envs = [a for a in argv if _ASSIGNMENT.match(a)]
    rest = argv[len(envs):]
    own: dict[str, list[str]] = {}
    base: list[str] = []
    current: str | None = None
    i = 0
    while i < len(rest):
        a = rest[i]
        if a == "--target":
            current = rest[i + 1]
            own[current] = [a, current]
            i += 2
        elif a == "--config" and rest[i + 1].startswith('target."') and current is not None:
            own[current] += [a, rest[i + 1]]
            i += 2
        elif a == "--target-dir":
            i += 2
        else:
            if a != "--keep-going":
                base.append(a)
            i += 1
    # base[:2] is the tool and its subcommand: `cargo build`, `cargo-zigbuild zigbuild`.
    return [["env", *envs, *base[:2], *args, *base[2:]] for args in own.values()]


def loop_commands(dry_output: str) -> list[str]:
    """The loop contender's commands (shell lines) from `invoke build --all --dry --force --parallel 1`."""
    out = [shlex.join(argv) for line in dry_commands(dry_output) for argv in per_target(line)]
    if not out:
        raise ValueError("no commands in `invoke build --all --dry`:\n" + dry_output)
    return out


def loop_script(root: Path, env: dict[str, str]) -> str:
    """The per-target commands `invoke build --all --dry --force --parallel 1` shows in `root`, as
    one sequential shell script."""
    done = subprocess.run([sys.executable, "-m", "invoke", "build", "--all", "--dry", "--force", "--parallel", "1"],
                          cwd=root, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"`invoke build --all --dry` failed in {root}:\n{done.stdout}\n{done.stderr[-3000:]}")
    try:
        return " && ".join(loop_commands(done.stderr))
    except ValueError as exc:
        sys.exit(str(exc))


@dataclass(frozen=True)
class Usage:
    """One run of a contender: a whole process tree."""

    wall: float  # seconds, start to the root process's exit
    cpu: float  # user + system seconds of the root process and every descendant it waited for (wait4)
    tree_rss: int  # bytes: the largest sum of the RSS of the tree's live processes, sampled
    max_rss: int  # bytes: the largest single process (wait4's ru_maxrss): a lower bound of tree_rss


def descendants(parents: dict[int, int], root: int) -> set[int]:
    """root and every process below it, from a {pid: parent pid} map."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in out:
            out.add(pid)
            todo += children.get(pid, [])
    return out


def _process_table() -> dict[int, int]:
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
            except OSError:
                continue  # gone meanwhile
            # The command name (in parentheses) may hold spaces: the fields after its last ')'.
            table[int(name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return table


def _tree_rss(root: int) -> int:
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in descendants(_process_table(), root):
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
    return total


def measure(argv: Sequence[str], cwd: Path, env: dict[str, str], log: Path, interval: float = 0.25) -> Usage:
    """Run argv to its end (output to `log`); exit with the log's tail if it fails."""
    peak = 0
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.wait(interval):
                peak = max(peak, _tree_rss(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = log.read_bytes()[-4000:].decode(errors="replace")
        sys.exit(f"benchmark command failed ({proc.returncode}): {shlex.join(argv)[:2000]}\n{tail}")
    return Usage(wall, usage.ru_utime + usage.ru_stime, peak, usage.ru_maxrss * 1024)


@dataclass(frozen=True)
class Ratios:
    """Medians over the rounds, and what the goals compare."""

    ours_wall: float
    loop_wall: float
    loop_cpu: float
    cores: int

    @property
    def limit(self) -> float:
        """The loop's CPU spread perfectly over every core: no schedule of the same work is faster."""
        return self.loop_cpu / self.cores

    @property
    def ours_over_loop(self) -> float:
        return self.ours_wall / self.loop_wall

    @property
    def ours_over_limit(self) -> float:
        return self.ours_wall / self.limit


def ratios(ours: Sequence[Usage], loop: Sequence[Usage], cores: int) -> Ratios:
    if not ours or not loop or cores < 1:
        raise ValueError("ratios need at least one run of each contender and one core")
    return Ratios(statistics.median(u.wall for u in ours), statistics.median(u.wall for u in loop),
                  statistics.median(u.cpu for u in loop), cores)


def fill_doc_block(doc: Path, start: str, end: str, text: str) -> None:
    """Replace what stands between the `start` and `end` markers of a doc page with `text`."""
    page = doc.read_text()
    if start not in page or end not in page:
        sys.exit(f"{doc.name} has no {start} … {end} block to fill")
    doc.write_text(page[:page.index(start)] + f"{start}\n{text}\n{end}" + page[page.index(end) + len(end):])
