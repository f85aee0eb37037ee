"""`invoke plan`: the CI build matrix, one job per target of targets.toml."""

from __future__ import annotations

from dataclasses import dataclass

from .. import __version__
from ..config import Config, TargetConfig
from ..dist import PART_FILES
from ..errors import ConfigError

GITLAB_IMAGE = "python:3.11-bookworm"
MINISIGN_APT = "apt-get update -q && apt-get install -y -q --no-install-recommends minisign"


def _package_spec(cfg: Config, extras: str) -> str:
    """What the jobs install: wavrybuild at this version, as the docs, `init`'s CI files and the
    shipped workflows do — never the checkout (`-e .` would install the user's own repository)."""
    return f"'wavrybuild{extras}=={__version__}'"


# GitLab.com's hosted runners for what cannot run on Linux.
GITLAB_MACOS = (("saas-macos-medium-m1",), "macos-14-xcode-15")
GITLAB_WINDOWS = (("saas-windows-medium-amd64",), None)


@dataclass(frozen=True)
class Runner:
    runs_on: str  # GitHub Actions label
    tags: tuple[str, ...]  # GitLab runner tags
    image: str | None  # GitLab image (None: the runner's own, as Windows runners have)


def _signs_on_a_mac(cfg: Config) -> bool:
    d = cfg.desktop
    return d is not None and d.macos.identity is not None and d.macos.signer in ("auto", "codesign")


def runner_of(cfg: Config, t: TargetConfig) -> Runner:
    """Where a target's job runs: targets.toml's `runs-on` / `tags` / `image`, else by platform —
    MSVC on a Windows runner of the target's CPU (the SDK is there; windows-11-arm for aarch64),
    Apple targets whose app a Developer ID signs on macOS (codesign and notarytool are there),
    everything else on Linux (cross-built)."""
    if t.triple.env == "msvc":
        default = Runner(t.triple.windows_runner, *GITLAB_WINDOWS)
    elif t.triple.os == "macos" and _signs_on_a_mac(cfg):
        default = Runner("macos-latest", *GITLAB_MACOS)
    else:
        default = Runner("ubuntu-latest", (), GITLAB_IMAGE)
    return Runner(t.runs_on or default.runs_on, t.tags or default.tags, t.image or default.image)


# A GitHub-hosted runner label's operating system (as triple.Triple.os names it).
RUNNER_OS = (("windows-", "windows"), ("macos-", "macos"), ("ubuntu-", "linux"))


def runner_os(label: str) -> str | None:
    """The OS of a runner label GitHub hosts (windows-latest, macos-14, ubuntu-24.04 ...); None for
    another label (a self-hosted runner's: its OS is not known from its name)."""
    return next((os for prefix, os in RUNNER_OS if label.startswith(prefix)), None)


def elsewhere(cfg: Config, targets: tuple[TargetConfig, ...], host_os: str) -> dict[str, str]:
    """The targets whose CI job `invoke plan` puts on a runner of another OS than this machine's
    (MSVC on Windows, a Developer ID signed app on macOS, or a `runs-on` naming one): target id →
    runner label. doctor reports them as built there instead of failing for them."""
    out = {}
    for t in targets:
        label = runner_of(cfg, t).runs_on
        os = runner_os(label)
        if os is not None and os != host_os:
            out[t.id] = label
    return out


def matrix(cfg: Config, fmt: str) -> object:
    """The build matrix for CI: one job per target."""
    runners = {t.id: runner_of(cfg, t) for t in cfg.targets}
    targets = [{"target": t.id, "triple": str(t.triple), "runs-on": runners[t.id].runs_on} for t in cfg.targets]
    if fmt in ("github", "json"):
        return {"include": targets}
    if fmt == "gitlab":
        # A child pipeline (JSON is YAML): one job per target, then a merge job that needs them all.
        # With [storage] (or WAVRYBUILD_STORAGE) the parts travel through object storage, keyed by
        # the commit, and the merge job downloads them from there instead of from job artifacts.
        phases = cfg.storage is not None
        install = "python3 -m pip install " + _package_spec(cfg, "[storage]" if phases else "")
        # GITLAB_IMAGE has gpg but no minisign: a job on it that makes or checks a minisign signature
        # (a part job its part manifest's; the merge the parts' and SHA256SUMS's) installs it first.
        signed_parts = cfg.ci is not None and cfg.ci.part_key == "minisign"
        merge_signs = signed_parts or "minisign" in cfg.sign.methods
        # A child pipeline does not inherit the parent's `default:`: every job names its image.
        jobs: dict[str, object] = {"stages": ["build", "merge"], "default": {"image": GITLAB_IMAGE}}
        for t in targets:
            r = runners[str(t["target"])]
            # A Windows runner (no image: its own shell) names Python `python`.
            py = "python" if r.image is None else "python3"
            job: dict[str, object] = {
                "stage": "build",
                "script": [*([MINISIGN_APT] if signed_parts and r.image == GITLAB_IMAGE else []),
                           install.replace("python3 ", f"{py} ", 1),
                           f"{py} -m invoke toolchain --install --target {t['target']}",
                           f"{py} -m invoke release --part --target {t['target']}"],
                "artifacts": {"paths": [*PART_FILES, "dist/manifest-part-*"]},
            }
            if r.tags:
                job["tags"] = list(r.tags)
            if r.image is not None and r.image != GITLAB_IMAGE:
                job["image"] = r.image  # (a Windows runner's shell executor ignores the default image)
            jobs[f"part:{t['target']}"] = job
        merge = ('python3 -m invoke release --merge-from-storage "$CI_COMMIT_SHA"' if phases
                 else "python3 -m invoke release --merge dist")
        jobs["merge"] = {
            "stage": "merge",
            "needs": [{"job": f"part:{t['target']}", "artifacts": not phases} for t in targets],
            "script": [*([MINISIGN_APT] if merge_signs else []), install, merge],
            "artifacts": {"paths": ["dist/"]},
            # The whole history and tags (GitLab clones 20 commits): the notes list the commits since the previous tag.
            "variables": {"GIT_DEPTH": "0"},
        }
        return jobs
    raise ConfigError(f"--format {fmt}: unknown format", hint="use github, gitlab or json")

