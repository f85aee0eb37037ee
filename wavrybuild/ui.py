"""All terminal output lives here: rich tables, progress, CI log groups. Imported lazily by tasks."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any


def in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def mask_for_ci(secrets: list[str]) -> None:
    """GitHub Actions replaces masked values with *** in every later log line."""
    if in_github_actions():
        for s in secrets:
            # A mask covers one line: a multi-line secret (a key file) is masked line by line.
            for line in s.splitlines() if s else ():
                if line.strip():
                    print(f"::add-mask::{line}", flush=True)


class UI:
    def __init__(self, *, quiet: bool = False) -> None:
        from rich.console import Console

        # stdout carries results (tables, --json); stderr carries progress and echoed commands.
        self.out = Console(highlight=False, soft_wrap=False)
        if not self.out.is_terminal:
            # Logs and pipes have no width; rich's 80 columns would fold every table row.
            self.out = Console(highlight=False, soft_wrap=False, width=160)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)
        self.quiet = quiet

    # -- messages -------------------------------------------------------------------------------
    def command(self, text: str, *, dry: bool = False) -> None:
        prefix = "[dim](dry)[/] " if dry else ""
        self.err.print(f"{prefix}[bold cyan]$[/] {_escape(text)}")

    def info(self, text: str, *, markup: bool = False, bold: bool = False) -> None:
        # Plain by default: messages quote config keys like [channels.npm], which rich would eat.
        if not self.quiet:
            shown = text if markup else _escape(text)
            self.err.print(f"[bold]{shown}[/]" if bold else shown)

    def warn(self, text: str) -> None:
        self.err.print(f"[yellow]warning:[/] {_escape(text)}")

    def error(self, text: str) -> None:
        self.err.print(f"[bold red]error:[/] {_escape(text)}")
        if in_github_actions():
            # An annotation shows on the run's summary page; newlines must be encoded.
            msg = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            print(f"::error::{msg}", file=sys.stderr, flush=True)

    def raw(self, line: str) -> None:
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
                    status.update(f"{_escape(title)} [dim]{elapsed:5.0f}s[/]  {_escape(line.strip()[:100])}")

                yield update
        else:

            def echo(line: str) -> None:
                print(line, file=sys.stderr, flush=True)

            yield echo

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for col in columns:
            table.add_column(col)
        for row in rows:
            table.add_row(*(str(c) for c in row))
        self.out.print(table)

    def json(self, data: Any) -> None:
        import json

        print(json.dumps(data, indent=2, sort_keys=True, default=str))


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
