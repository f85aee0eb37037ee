"""`invoke plan`: the CI build matrix, one job per target of targets.toml."""

from __future__ import annotations

from .. import __version__
from ..config import Config
from ..errors import ConfigError

GITLAB_IMAGE = "python:3.11-bookworm"


def _package_spec(cfg: Config, extras: str) -> str:
    """What the jobs install: wavrybuild at this version — or this checkout itself when it is
    wavrybuild's own repository (its demo crate is released by it)."""
    pyproject = cfg.project.root / "pyproject.toml"
    own = pyproject.is_file() and 'name = "wavrybuild"' in pyproject.read_text(errors="replace")
    return f"-e '.{extras}'" if own else f"'wavrybuild{extras}=={__version__}'"


def matrix(cfg: Config, fmt: str) -> object:
    """The build matrix for CI: one job per target."""
    targets = [{"target": t.id, "triple": str(t.triple), "runs-on": "ubuntu-latest"} for t in cfg.targets]
    if fmt in ("github", "json"):
        return {"include": targets}
    if fmt == "gitlab":
        # A child pipeline (JSON is YAML): one job per target, then a merge job that needs them all.
        # With [storage] (or WAVRYBUILD_STORAGE) the parts travel through object storage, keyed by
        # the commit, and the merge job downloads them from there instead of from job artifacts.
        phases = cfg.storage is not None
        install = "python3 -m pip install " + _package_spec(cfg, "[storage]" if phases else "")
        # A child pipeline does not inherit the parent's `default:`: every job names its image.
        jobs: dict[str, object] = {"stages": ["build", "merge"], "default": {"image": GITLAB_IMAGE}}
        for t in targets:
            jobs[f"part:{t['target']}"] = {
                "stage": "build",
                "script": [install, f"python3 -m invoke toolchain --install --target {t['target']}",
                           f"python3 -m invoke release --part --target {t['target']}"],
                "artifacts": {"paths": ["dist/*.tar.*", "dist/*.zip", "dist/*.whl", "dist/*.tgz",
                                             "dist/manifest-part-*.json"]},
            }
        merge = ('python3 -m invoke release --merge-from-storage "$CI_COMMIT_SHA"' if phases
                 else "python3 -m invoke release --merge dist")
        jobs["merge"] = {
            "stage": "merge",
            "needs": [{"job": f"part:{t['target']}", "artifacts": not phases} for t in targets],
            "script": [install, merge],
            "artifacts": {"paths": ["dist/"]},
        }
        return jobs
    raise ConfigError(f"--format {fmt}: unknown format", hint="use github, gitlab or json")

