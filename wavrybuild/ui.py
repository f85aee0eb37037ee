"""All terminal output lives here: rich tables, progress, CI log groups and annotations.

Stages talk to a `Reporter` (plain text, plain table cells); only this module knows rich, its
markup, colours and GitHub Actions' workflow commands. `UI` is the terminal/CI reporter.

rich is imported when something is drawn, not before: a task that prints nothing through it
(`invoke plan`, a result on stdout) does not pay for importing it (docs/performance.md).
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from . import env

if TYPE_CHECKING:
    from rich.console import Console

# Table cells that are a status word get its colour (stages pass plain text).
STATUS_COLOURS = {
    "ok": "green", "passed": "green", "done": "green", "up to date": "green", "ready": "green", "written": "green",
    "unchanged": "green", "uploaded": "green", "published": "green",
    "skipped": "yellow", "dry": "cyan", "would upload": "cyan", "would publish": "cyan",
    "builds": "yellow", "not run": "yellow", "cannot build": "red",
    "failed": "red", "missing": "red", "mismatch": "red", "unexpected": "red",
}


class Reporter(Protocol):
    """What stages may say, and how. Implemented by UI (terminal, CI logs) and by test doubles."""

    @property
    def live(self) -> bool: ...

    def command(self, text: str, *, dry: bool = False) -> None: ...
    def info(self, text: str, *, bold: bool = False) -> None: ...
    def success(self, text: str) -> None: ...
    def warn(self, text: str) -> None: ...
    def error(self, text: str) -> None: ...
    def raw(self, line: str) -> None: ...
    def result(self, text: str) -> None: ...
    def json(self, data: Any) -> None: ...
    def group(self, title: str) -> AbstractContextManager[None]: ...
    def progress(self, title: str) -> AbstractContextManager[Callable[[str], None]]: ...
    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None: ...
    def step_summary(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None: ...


def in_github_actions() -> bool:
    return env.in_github_actions()


def mask_for_ci(secrets: list[str]) -> None:
    """GitHub Actions replaces masked values with *** in every later log line."""
    if in_github_actions():
        for s in secrets:
            # A mask covers one line: a multi-line secret (a key file) is masked line by line.
            for line in s.splitlines() if s else ():
                if line.strip():
                    print(f"::add-mask::{line}", flush=True)


class UI:
    def __init__(self, *, quiet: bool = False, hide: str | None = None) -> None:
        self.quiet = quiet
        # invoke's --hide (out, err, both; stdout/stderr spellings too): the tools' own output lines.
        self.hide_tools = hide in ("out", "stdout", "err", "stderr", "both", True)

    # stdout carries results (tables, --json); stderr carries progress and echoed commands.
    @functools.cached_property
    def out(self) -> Console:
        from rich.console import Console

        out = Console(highlight=False, soft_wrap=False)
        if not out.is_terminal:
            # Logs and pipes have no width; rich's 80 columns would fold every table row.
            out = Console(highlight=False, soft_wrap=False, width=160)
        return out

    @functools.cached_property
    def err(self) -> Console:
        from rich.console import Console

        return Console(stderr=True, highlight=False, soft_wrap=True)

    # -- messages -------------------------------------------------------------------------------
    def command(self, text: str, *, dry: bool = False) -> None:
        prefix = "[dim](dry)[/] " if dry else ""
        self.err.print(f"{prefix}[bold cyan]$[/] {_escape(text)}")

    def info(self, text: str, *, bold: bool = False) -> None:
        # Escaped: messages quote config keys like [channels.npm], which rich would eat. Plain
        # text needs no rich: a no-op build says only such lines and must not pay for importing it.
        if self.quiet:
            return
        if bold:
            self.err.print(f"[bold]{_escape(text)}[/]")
        else:
            print(text, file=sys.stderr, flush=True)

    def success(self, text: str) -> None:
        self.err.print(f"[green]{_escape(text)}[/]")

    def warn(self, text: str) -> None:
        self.err.print(f"[yellow]warning:[/] {_escape(text)}")

    def error(self, text: str) -> None:
        self.err.print(f"[bold red]error:[/] {_escape(text)}")
        if in_github_actions():
            # An annotation shows on the run's summary page; newlines must be encoded.
            msg = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            print(f"::error::{msg}", file=sys.stderr, flush=True)

    def raw(self, line: str) -> None:
        """A line of a tool's own output."""
        if not self.hide_tools:
            print(line, file=sys.stderr, flush=True)

    def result(self, text: str) -> None:
        """A machine-readable result on stdout, exactly as given (JSON for CI, a tool's listing)."""
        sys.stdout.write(text)
        sys.stdout.flush()

    # -- structure ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def group(self, title: str) -> Iterator[None]:
        """A collapsible log group under GitHub Actions; a heading elsewhere."""
        if in_github_actions():
            print(f"::group::{title}", file=sys.stderr, flush=True)
            try:
                yield
            finally:
                print("::endgroup::", file=sys.stderr, flush=True)
        else:
            self.err.rule(f"[bold]{_escape(title)}", align="left")
            yield

    @property
    def live(self) -> bool:
        """A terminal showing a live status line (progress does not print the tool's lines)."""
        return self.err.is_terminal and not in_github_actions()

    @contextlib.contextmanager
    def progress(self, title: str) -> Iterator[Any]:
        """Yields a callable taking the tool's latest output line.

        On a terminal: one live status line (spinner, elapsed time, latest line). Elsewhere (CI
        logs): the lines themselves, so the log shows everything.
        """
        start = time.monotonic()
        if self.live:
            with self.err.status(f"{_escape(title)}") as status:

                def update(line: str) -> None:
                    elapsed = time.monotonic() - start
                    # The terminal's width, not a fixed cut: spinner, title and time take the rest.
                    room = self.err.width - len(title) - 12
                    status.update(f"{_escape(title)} [dim]{elapsed:5.0f}s[/]  {_escape(fit(line.strip(), room))}")

                yield update
        else:
            def echo(line: str) -> None:
                self.raw(line)

            yield echo

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for col in columns:
            table.add_column(col)
        for row in rows:
            table.add_row(*(_cell(str(c)) for c in row))
        self.out.print(table)

    def step_summary(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """The same table in GitHub Actions' job summary (Markdown), when running there."""
        path: Path | None = env.step_summary()
        if path is None:
            return
        lines = [f"### {title}", "", "| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
        lines += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]
        with path.open("a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n\n")

    def json(self, data: Any) -> None:
        print(json.dumps(data, indent=2, sort_keys=True, default=str))


def _cell(text: str) -> str:
    colour = STATUS_COLOURS.get(text) or STATUS_COLOURS.get(text.split(" (")[0].split(":")[0].split(";")[0])
    return f"[{colour}]{_escape(text)}[/]" if colour else _escape(text)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def fit(text: str, width: int) -> str:
    """One line of a live status: `text` cut to `width` columns with an ellipsis."""
    if len(text) <= width:
        return text
    return text[: max(width - 1, 0)] + "…"


def duration(seconds: float) -> str:
    """A run time as people read it in a log: 42s, 1m10s, 1h02m."""
    s = max(int(seconds), 0)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
