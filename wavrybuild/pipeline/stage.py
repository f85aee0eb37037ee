"""The stage protocol: what every step of a release (build, smoke, package, a channel, checksum,
sign, publish, merge) looks like to the runner."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, TypeVar

from ..config import Config, TargetConfig
from ..dist import DistState
from ..errors import ConfigError
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
    """A step of the pipeline. The runner asks, in order: does it apply (configured)? In a dry
    run: what would it do? Otherwise: which resume keys does it have now — units whose key matches
    the last successful run are skipped — and then runs it with the units still to do."""

    name: ClassVar[str]

    def applies(self, run: Run) -> bool:
        """False: not configured for this project (the stage is reported as skipped)."""
        ...

    def plan(self, run: Run) -> Sequence[Planned]:
        """What a run would do, for --dry; runs nothing and writes nothing."""
        ...

    def keys(self, run: Run) -> Mapping[str, str | None]:
        """Resume keys by unit (a target id, or "" for the whole stage). A unit whose key equals the
        recorded one is up to date; None: always run. Empty: the stage has no resume keys."""
        ...

    def run(self, run: Run, todo: Sequence[str] | None) -> bool:
        """Do the work (`todo`: the units to do, None: all). Returns whether anything changed.
        Raises WavryError on failure."""
        ...


T = TypeVar("T")


def configured(run: Run, value: T | None, key: str, hint: str) -> T:
    """The section a task needs, or the error that says it is missing (`invoke npm` without [channels.npm])."""
    if value is None or value == [] or value == ():
        raise ConfigError(f"{run.cfg.project.config_path}: {key}: not configured", hint=hint)
    return value
