"""What a release will need, checked before anything is built: the programs its stages run, the
credentials' environment variables, key files and the gpg secret key. A stage that needs anything
says so with `requires(run)` (the `Requiring` protocol, beside `Stage`); `missing` checks the list
and gives one `Problem` per thing missing, each naming the config key, variable or program and
what to do. `invoke release` (and its --dry) and `invoke doctor` stop on any, before the build.

A check reads whether a variable is set, never its value into a message; a gpg key is looked up
with `gpg --list-secret-keys` (no passphrase needed)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .. import env as env_
from .. import proc
from ..errors import ConfigError

if TYPE_CHECKING:
    from .stage import Run, Stage


@dataclass(frozen=True)
class Tool:
    """A program on PATH (proc.py's PATH, which also looks where rustup and pip put programs)."""

    program: str
    key: str  # what needs it: "channels.deb.repository", "sign.methods: minisign"
    install: str  # how to get it: "apt-get install dpkg-dev"


@dataclass(frozen=True)
class EnvVar:
    """A credential's environment variable, set and not empty."""

    name: str
    key: str  # the *-env key naming it: "publish.github.token-env"


@dataclass(frozen=True)
class KeyFile:
    """A key or certificate file the config names (None: the key is not set at all)."""

    path: Path | None
    key: str  # "sign.minisign.key"
    hint: str = ""


@dataclass(frozen=True)
class GpgKey:
    """A gpg secret key in the keyring signing will use."""

    key: str | None  # id, fingerprint or e-mail; None: sign.gpg.key is not set
    homedir: Path | None
    key_name: str = "sign.gpg.key"


@dataclass(frozen=True)
class AnyOf:
    """One of several ways is enough (PyPI: a token, or a CI job's OIDC identity)."""

    options: tuple[Requirement, ...]
    key: str
    hint: str


Requirement = Tool | EnvVar | KeyFile | GpgKey | AnyOf


@dataclass(frozen=True)
class Problem:
    """One thing missing: its line names the key (or variable, or program) and what to do."""

    key: str
    what: str
    fix: str

    def line(self) -> str:
        return f"{self.key}: {self.what} — {self.fix}"


@runtime_checkable
class Requiring(Protocol):
    """A stage that needs programs, credentials or keys beyond Python and the build's toolchain."""

    def requires(self, run: Run) -> Sequence[Requirement]:
        """Everything its steps will need in this run (what the config chose), found or not.
        Reads nothing and runs nothing."""
        ...


@dataclass
class Checker:
    """How a requirement is looked up (the machine's, unless a test gives its own)."""

    which: Callable[[str], object] = proc.which
    variable: Callable[[str], str] = env_.secret_value
    exists: Callable[[Path], bool] = field(default=lambda p: p.is_file())
    has_gpg_key: Callable[[str, Path | None], bool] = field(default=lambda k, h: _gpg_has(k, h))

    def problem(self, r: Requirement) -> Problem | None:
        if isinstance(r, Tool):
            return None if self.which(r.program) else Problem(r.key, f"needs {r.program}, which is not installed",
                                                              r.install)
        if isinstance(r, EnvVar):
            return None if self.variable(r.name) else Problem(
                r.key, f"environment variable {r.name} is not set (or empty)",
                f"export {r.name} with the credential, or name another variable in {r.key}")
        if isinstance(r, KeyFile):
            if r.path is None:
                return Problem(r.key, "not set", r.hint or f"set {r.key} in targets.toml")
            return None if self.exists(r.path) else Problem(r.key, f"{r.path} does not exist (or is not a file)",
                                                            r.hint or f"create it, or point {r.key} at it")
        if isinstance(r, GpgKey):
            return self._gpg(r)
        return None if any(self.problem(o) is None for o in r.options) else Problem(r.key, "no credential", r.hint)

    def _gpg(self, r: GpgKey) -> Problem | None:
        if r.key is None:
            return Problem(r.key_name, "not set", "the key id, fingerprint or e-mail of the signing key "
                                                  "(or WAVRYBUILD_GPG_KEY)")
        if not self.which("gpg"):
            return Problem(r.key_name, "needs gpg, which is not installed", "apt-get install gnupg")
        if self.has_gpg_key(r.key, r.homedir):
            return None
        where = f"the keyring in {r.homedir}" if r.homedir else "gpg's default keyring"
        return Problem(r.key_name, f"no secret key {r.key!r} in {where}",
                       "import it (gpg --import) or set sign.gpg.homedir / GNUPGHOME's keyring")


def _gpg_has(key: str, homedir: Path | None) -> bool:
    env = {"GNUPGHOME": str(homedir)} if homedir else None
    done = proc.capture_all(["gpg", "--batch", "--no-tty", "--list-secret-keys", "--", key], env=env, timeout=30)
    return done.ok


def missing(requirements: Iterable[Requirement], checker: Checker | None = None) -> list[Problem]:
    """Every problem, once each, in the order the requirements came."""
    checker = checker or Checker()
    out: list[Problem] = []
    for r in dict.fromkeys(requirements):
        p = checker.problem(r)
        if p is not None and p not in out:
            out.append(p)
    return out


def of_stages(run: Run, stages: Iterable[Stage]) -> list[Requirement]:
    """What the stages that apply to this run need."""
    out: list[Requirement] = []
    for stage in stages:
        if isinstance(stage, Requiring) and stage.applies(run):
            out += stage.requires(run)
    return out


class RequirementsMissing(ConfigError):
    """Something a release needs is missing: one line per problem (exit 2, before anything runs)."""


def check(run: Run, stages: Iterable[Stage], what: str = "this release") -> None:
    """Raise (one line per problem) when anything the stages need is missing."""
    problems = missing(of_stages(run, stages))
    if problems:
        lines = "\n".join(f"  - {p.line()}" for p in problems)
        raise RequirementsMissing(f"{what} cannot run here: {len(problems)} missing (checked before building)\n{lines}",
                                  hint="`invoke doctor` lists the same; nothing was built")
