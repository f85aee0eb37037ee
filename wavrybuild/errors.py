"""Typed errors. Each carries the exit code the CLI returns for it."""

from __future__ import annotations

import difflib


class WavryError(Exception):
    """Base error: a message meant for the user, and an exit code."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class ConfigError(WavryError):
    """targets.toml (or a flag that refers to it) is wrong. Nothing was built or written."""

    exit_code = 2


class ToolMissing(WavryError):
    """A program or component needed for the work is not installed."""

    exit_code = 3


class CommandFailed(WavryError):
    """An external command exited non-zero."""

    exit_code = 1

    def __init__(self, argv: list[str], returncode: int, stderr_tail: str = "") -> None:
        shown = " ".join(argv[:6]) + (" …" if len(argv) > 6 else "")
        msg = f"command failed with exit code {returncode}: {shown}"
        if stderr_tail.strip():
            msg += "\n" + "\n".join("  | " + line for line in stderr_tail.rstrip().splitlines())
        super().__init__(msg)
        self.argv = argv
        self.returncode = returncode
        self.stderr_tail = stderr_tail


class SmokeFailed(WavryError):
    exit_code = 1


class VerifyFailed(WavryError):
    exit_code = 1


def suggest(word: str, choices: list[str] | frozenset[str], n: int = 1) -> str | None:
    """The did-you-mean of a hint: the closest of `choices` to `word`, if any is close."""
    found = difflib.get_close_matches(word, list(choices), n=n, cutoff=0.6)
    return found[0] if found else None
