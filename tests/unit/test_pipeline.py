"""The pipeline runner with fake stages: ordering, skip/dry/resume/force, failure and the summary.
No Rust, no cargo: the config comes from `config.parse` with a stand-in for `cargo metadata`."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from wavrybuild.config import Config, parse
from wavrybuild.env import Settings
from wavrybuild.errors import WavryError
from wavrybuild.pipeline.runner import Pipeline, Steps
from wavrybuild.pipeline.stage import Planned, Run, Status, Step


def fake_metadata(manifest: Path) -> dict[str, Any]:
    """What `cargo metadata --no-deps` says of a one-binary crate (its documented JSON shape)."""
    return {"packages": [{"name": "demo", "version": "1.2.3", "manifest_path": str(manifest),
                          "targets": [{"name": "demo", "kind": ["bin"]}]}],
            "workspace_root": str(manifest.parent), "target_directory": str(manifest.parent / "target")}


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    data: dict[str, Any] = {"targets": {"x86_64-unknown-linux-musl": {}, "aarch64-unknown-linux-musl": {}}}
    return parse(tmp_path / "targets.toml", data, fake_metadata, Settings())


class Recorder:
    """A Reporter that keeps what it was told."""

    live = False

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self.tables: list[tuple[str, list[tuple[Any, ...]]]] = []

    def _say(self, kind: str) -> Callable[..., None]:
        return lambda text, **_kw: self.lines.append((kind, text))

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name in ("command", "info", "success", "warn", "error", "raw", "result", "json"):
            return self._say(name)
        raise AttributeError(name)

    @contextlib.contextmanager
    def group(self, title: str) -> Iterator[None]:
        self.lines.append(("group", title))
        yield

    @contextlib.contextmanager
    def progress(self, title: str) -> Iterator[Callable[[str], None]]:
        yield lambda line: None

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.tables.append((title, [tuple(r) for r in rows]))

    def step_summary(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        pass


class FakeStage:
    name: ClassVar[str] = "fake"

    def __init__(self, name: str = "fake", *, applies: bool = True, keys: Mapping[str, str | None] | None = None,
                 fail: bool = False, changed: bool = True) -> None:
        self.name = name  # type: ignore[misc]  # one class, several stage names
        self._applies, self._keys, self.fail, self.changed = applies, dict(keys or {}), fail, changed
        self.calls: list[Sequence[str] | None] = []
        self.planned = 0

    def applies(self, run: Run) -> bool:
        return self._applies

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return self._keys

    def steps(self, run: Run, todo: Sequence[str] | None) -> Sequence[Step]:
        self.planned += run.dry
        return [Step.write(f"{self.name} would act"), Step(Planned(f"tool --for {self.name}", command=True)),
                Step.finish(lambda: self.act(todo))]

    def act(self, todo: Sequence[str] | None) -> bool:
        self.calls.append(None if todo is None else list(todo))
        if self.fail:
            raise WavryError(f"{self.name} broke\nsecond line")
        return self.changed


def make_run(cfg: Config, **kw: Any) -> Run:
    return Run(cfg, Recorder(), cfg.targets, **kw)


def test_stages_run_in_order_and_the_summary_lists_each(cfg: Config) -> None:
    run = make_run(cfg)
    a, b, c = FakeStage("a"), FakeStage("b", applies=False), FakeStage("c", changed=False)
    pipeline = Pipeline(run)
    pipeline.pipeline([a, b, c], "release")
    assert [r.stage for r in pipeline.results] == ["a", "b", "c"]
    assert [r.status for r in pipeline.results] == [Status.DONE, Status.SKIPPED, Status.UP_TO_DATE]
    assert a.calls == [None] and b.calls == [] and c.calls == [None]
    title, rows = run.ui.tables[-1]  # type: ignore[attr-defined]
    assert title == "Release of demo 1.2.3" and [r[:2] for r in rows] == [("a", "done"), ("b", "skipped"), ("c", "up to date")]
    assert ("group", "release: a") in run.ui.lines  # type: ignore[attr-defined]


def test_dry_plans_and_runs_nothing(cfg: Config) -> None:
    run = make_run(cfg, dry=True)
    stage = FakeStage("a", keys={"x": "1"})
    assert Pipeline(run).stage(stage) is Status.DRY
    assert stage.calls == [] and stage.planned == 1
    assert ("info", "(dry) a would act") in run.ui.lines and ("command", "tool --for a") in run.ui.lines  # type: ignore[attr-defined]
    assert not Steps(cfg.project.dist_dir).keys  # nothing recorded, nothing written


def test_resume_keys_skip_what_is_done_and_redo_what_changed(cfg: Config) -> None:
    keys = {"x86_64-unknown-linux-musl": "k1", "aarch64-unknown-linux-musl": "k2"}
    first = FakeStage("smoke", keys=keys)
    assert Pipeline(make_run(cfg)).stage(first) is Status.DONE
    assert first.calls == [list(keys)]
    again = FakeStage("smoke", keys=keys)
    assert Pipeline(make_run(cfg)).stage(again) is Status.UP_TO_DATE and again.calls == []
    changed = FakeStage("smoke", keys={**keys, "aarch64-unknown-linux-musl": "k2-new"})
    Pipeline(make_run(cfg)).stage(changed)
    assert changed.calls == [["aarch64-unknown-linux-musl"]]
    # A key of None means "cannot tell": always run; --force runs every unit.
    unknown = FakeStage("smoke", keys={"x86_64-unknown-linux-musl": None, "aarch64-unknown-linux-musl": "k2-new"})
    Pipeline(make_run(cfg)).stage(unknown)
    assert unknown.calls == [["x86_64-unknown-linux-musl"]]
    forced = FakeStage("smoke", keys={**keys, "aarch64-unknown-linux-musl": "k2-new"})
    Pipeline(make_run(cfg, force=True)).stage(forced)
    assert forced.calls == [list(keys)]


def test_single_stage_and_release_share_resume_state(cfg: Config) -> None:
    Pipeline(make_run(cfg)).stage(FakeStage("sign", keys={"": "sums-digest"}), always=True)
    in_release = FakeStage("sign", keys={"": "sums-digest"})
    pipeline = Pipeline(make_run(cfg))
    pipeline.pipeline([in_release], "release")
    assert in_release.calls == [] and pipeline.results[0].status is Status.UP_TO_DATE


def test_failure_stops_the_pipeline_records_nothing_and_still_summarises(cfg: Config) -> None:
    run = make_run(cfg)
    broken, after = FakeStage("build", keys={"t": "1"}, fail=True), FakeStage("package")
    pipeline = Pipeline(run)
    with pytest.raises(WavryError, match="build broke"):
        pipeline.pipeline([broken, after], "release")
    assert after.calls == []
    assert [(r.stage, r.status, r.detail) for r in pipeline.results] == [("build", Status.FAILED, "build broke")]
    assert run.ui.tables and "build" not in Steps(cfg.project.dist_dir).keys  # type: ignore[attr-defined]


def test_a_named_stage_runs_even_when_not_configured(cfg: Config) -> None:
    stage = FakeStage("npm", applies=False)
    Pipeline(make_run(cfg)).stage(stage, always=True)
    assert stage.calls == [None]


def test_steps_file_that_is_not_json_is_a_fresh_start(cfg: Config) -> None:
    steps = Steps(cfg.project.dist_dir)
    steps.file.parent.mkdir(parents=True)
    steps.file.write_text("{not json")
    stage = FakeStage("smoke", keys={"t": "1"})
    assert Pipeline(make_run(cfg)).stage(stage) is Status.DONE and stage.calls == [["t"]]
