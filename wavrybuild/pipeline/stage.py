"""The stage protocol: what every step of a release (build, smoke, package, a channel, checksum,
sign, publish, merge) looks like to the runner."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, TypeVar

from .. import proc
from ..config import Config, TargetConfig
from ..dist import DistState
from ..errors import CommandFailed, ConfigError, WavryError
from ..ui import Reporter


class Status(enum.Enum):
    DONE = "done"
    UP_TO_DATE = "up to date"
    SKIPPED = "skipped"
    FAILED = "failed"
    DRY = "dry"


@dataclass(frozen=True)
class Planned:
    """One line of a dry run: a command that would run, or what would be written."""

    text: str
    command: bool = False


Act = Callable[[], object]  # does a step's work; a true result: it changed something


@dataclass(frozen=True)
class Step:
    """One piece of a stage's work, made once for both uses: `planned` is what --dry prints,
    `act` what the run does. A stage has no other way to do work than the steps it returns, so its
    dry run cannot leave out a step of its run. A command step (`Step.command`) runs exactly the
    command it shows (echoed with secrets masked). A command shown without an act is run by
    another step of the same list that must hold several together (build's lanes, a password
    file's lifetime) and echoes each where it runs it; docs/architecture.md lists those, and
    tests/unit/test_stage_steps.py checks that a run starts only the commands its dry run showed."""

    planned: Planned | None
    act: Act | None = None
    say: bool = False  # also printed (as info) when run: a note such as "x: up to date"
    quiet: bool = False  # a command not echoed when run: its outcome is reported otherwise (smoke's table)

    @staticmethod
    def command(cmd: proc.Command, *, secrets: tuple[str, ...] = (), stdin_data: bytes | None = None,
                on_line: Callable[[str], None] | None = None,
                then: Callable[[proc.Result], object] | None = None,
                failed: Callable[[CommandFailed], WavryError] | None = None) -> Step:
        """Run `cmd` (streaming its output lines to `on_line`); `then` gets its result; `failed`
        turns its failure into the error to raise (one that says what it was for)."""

        def act() -> object:
            try:
                result = proc.run(cmd, secrets=secrets, stdin_data=stdin_data, on_stderr_line=on_line,
                                  on_stdout_line=on_line)
            except CommandFailed as exc:
                if failed is None:
                    raise
                raise failed(exc) from None
            return then(result) if then is not None else None

        return Step(Planned(cmd.display(), command=True), act)

    @staticmethod
    def write(text: str, act: Act | None = None) -> Step:
        """What would be written or done ("would write dist/x"); `act` does it."""
        return Step(Planned(text), act)

    @staticmethod
    def note(text: str) -> Step:
        """A line said in both runs (`x86_64: up to date`); does nothing."""
        return Step(Planned(text), None, say=True)

    @staticmethod
    def finish(act: Act) -> Step:
        """Opens or completes what the other steps show (a transaction opened first, then committed
        and the table printed; build's lanes; publish's uploads, all or none): no line of its own."""
        return Step(None, act)


def execute(run: Run, steps: Sequence[Step]) -> bool:
    """The run of a stage: every step in order, each command echoed before it starts. True if
    any step changed something."""
    changed = False
    for step in steps:
        if step.planned is not None and step.planned.command and step.act is not None and not step.quiet:
            run.ui.command(step.planned.text)
        elif step.planned is not None and step.say:
            run.ui.info(step.planned.text)
        if step.act is not None:
            changed = bool(step.act()) or changed
    return changed


def show(run: Run, steps: Sequence[Step]) -> None:
    """The dry run of a stage: every step's line, nothing run."""
    for step in steps:
        if step.planned is None:
            continue
        if step.planned.command:
            run.ui.command(step.planned.text, dry=True)
        else:
            run.ui.info(f"(dry) {step.planned.text}")


@dataclass
class Run:
    """What one task invocation works on; shared by the stages it runs."""

    cfg: Config
    ui: Reporter
    targets: tuple[TargetConfig, ...]
    dry: bool = False
    force: bool = False
    parallel: int | None = None
    part: bool = False  # a CI matrix part: platform packages only, no checksum/sign/publish
    state: DistState = field(init=False)

    def __post_init__(self) -> None:
        self.state = DistState(self.cfg.project.dist_dir)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.targets)


class Stage(Protocol):
    """A stage of the pipeline. The runner asks, in order: does it apply (configured)? In a dry
    run: its steps, printed. Otherwise: which resume keys does it have now — units whose key
    matches the last successful run are skipped — and then its steps for the units still to do,
    executed. The dry run and the run are the same `steps`: they cannot drift apart."""

    name: ClassVar[str]

    def applies(self, run: Run) -> bool:
        """False: not configured for this project (the stage is reported as skipped)."""
        ...

    def keys(self, run: Run) -> Mapping[str, str | None]:
        """Resume keys by unit (a target id, or "" for the whole stage). A unit whose key equals the
        recorded one is up to date; None: always run. Empty: the stage has no resume keys."""
        ...

    def steps(self, run: Run, todo: Sequence[str] | None) -> Sequence[Step]:
        """The work for `todo` (the units to do, None: all), as steps. Making them runs nothing and
        writes nothing (a dry run prints them): what a step needs from an earlier one (a work
        directory, a signature file) it reads when it acts. In a dry run the inputs may not exist
        yet (nothing is built): then a step says what would be made. Raises WavryError on bad input;
        a step's act raises it on failure."""
        ...


T = TypeVar("T")


def configured(run: Run, value: T | None, key: str, hint: str) -> T:
    """The section a task needs, or the error that says it is missing (`invoke npm` without [channels.npm])."""
    if value is None or value == [] or value == ():
        raise ConfigError(f"{run.cfg.project.config_path}: {key}: not configured", hint=hint)
    return value
