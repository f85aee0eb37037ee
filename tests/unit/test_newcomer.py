"""What a newcomer meets first (issue 30 item 8): `invoke --list` descriptions that are whole
sentences, a did-you-mean for a mistyped task or flag from the real `invoke` program, install.sh's
--help saying which checks it makes (run with a real sh), and the build lanes' progress lines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_pipeline import fake_metadata
from wavrybuild.build.stage import PROGRESS_EVERY, LaneProgress
from wavrybuild.channels.installer.format import render
from wavrybuild.config import parse
from wavrybuild.env import Settings
from wavrybuild.tasks import namespace
from wavrybuild.ui import duration, fit

REPO = Path(__file__).resolve().parents[2]


def _invoke(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.fixture(scope="module")
def user_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository whose tasks.py is the one-liner users write: plain `invoke` runs there."""
    root = tmp_path_factory.mktemp("repo")
    (root / "tasks.py").write_text("from wavrybuild import ns  # noqa: F401\n")
    return root


# -- invoke --list ------------------------------------------------------------------------------
def test_every_task_lists_a_whole_sentence() -> None:
    """invoke --list shows a docstring's first line only: it must be a sentence on its own, not the
    start of one continued on the next line (which --list cuts off mid-sentence)."""
    for name, task in namespace().tasks.items():
        doc = (task.__doc__ or "").strip()
        first, _, rest = doc.partition("\n")
        assert first, f"{name}: no docstring"
        assert first.rstrip().endswith((".", ")")), f"{name}: the first docstring line is not a sentence: {first!r}"
        assert not rest or rest.startswith("\n"), f"{name}: the first sentence goes on to a second line"


def test_invoke_list_shows_whole_descriptions(user_repo: Path) -> None:
    done = _invoke("--list", cwd=user_repo)
    assert done.returncode == 0, done.stderr
    listed = " ".join(done.stdout.split())
    assert "Authenticode-sign each built Windows binary once ([sign] authenticode, osslsigncode)." in listed
    assert "[sbom]: a CycloneDX SBOM per built target; no rebuild." in listed


# -- did you mean -------------------------------------------------------------------------------
@pytest.mark.parametrize(("argv", "said"), [
    (["relase"], "No idea what 'relase' is! Did you mean 'release'?"),
    (["biuld", "--all"], "No idea what 'biuld' is! Did you mean 'build'?"),
    (["build", "--taget", "x"], "No idea what '--taget' is! Did you mean '--target'?"),
    (["release", "--no-pubish"], "No idea what '--no-pubish' is! Did you mean '--no-publish'?"),
    (["xyzzy"], "No idea what 'xyzzy' is!\n"),  # nothing near: invoke's own message, no guess
])
def test_a_mistyped_task_or_flag_gets_a_did_you_mean(user_repo: Path, argv: list[str], said: str) -> None:
    done = _invoke(*argv, cwd=user_repo)
    assert done.returncode == 1
    assert done.stderr == said if said.endswith("\n") else done.stderr.strip() == said
    assert "Traceback" not in done.stderr


# -- install.sh --help --------------------------------------------------------------------------
def _install_sh(tmp_path: Path, sign: dict[str, Any] | None) -> Path:
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    data: dict[str, Any] = {"targets": {"x86_64-unknown-linux-gnu": {}},
                            "channels": {"installer": {"base-url": "https://dl.example.invalid/v{version}"}}}
    if sign is not None:
        data["sign"] = sign
    cfg = parse(tmp_path / "targets.toml", data, fake_metadata, Settings())
    assert cfg.channels.installer is not None
    scripts = render(cfg, cfg.channels.installer, {"x86_64-unknown-linux-gnu": "demo-1.2.3-x86_64.tar.gz"})
    out = tmp_path / "install.sh"
    out.write_text(scripts["install.sh"])
    return out


def _help(script: Path, *, piped: bool = False) -> str:
    if piped:  # `curl … | sh -s -- --help`: no file for the script to read itself from
        done = subprocess.run(["sh", "-s", "--", "--help"], input=script.read_text(), capture_output=True, text=True,
                              timeout=30, check=False)
    else:
        done = subprocess.run(["sh", str(script), "--help"], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


KEY = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"


@pytest.mark.parametrize("piped", [False, True])
def test_install_sh_help_names_the_built_in_minisign_key(tmp_path: Path, piped: bool) -> None:
    pub = tmp_path / "minisign.pub"
    pub.write_text(f"untrusted comment: minisign public key\n{KEY}\n")
    text = _help(_install_sh(tmp_path, {"methods": ["minisign"], "minisign": {"key": "m.key",
                                                                             "public-key": str(pub)}}), piped=piped)
    assert "Installs demo 1.2.3 from https://dl.example.invalid/v1.2.3." in text
    assert "checks SHA256SUMS's minisign signature with the release's public key built in" in text
    assert KEY in text and "WAVRYBUILD_INSTALL_NO_SIGNATURE=1" in text
    assert "No signature is checked" not in text


@pytest.mark.parametrize("piped", [False, True])
def test_install_sh_help_says_no_signature_is_checked_without_a_key(tmp_path: Path, piped: bool) -> None:
    text = _help(_install_sh(tmp_path, None), piped=piped)
    assert "No signature is checked: this release has no minisign key built in" in text
    assert "SHA-256" in text and "--prefix DIR" in text
    assert "minisign signature with" not in text and "WAVRYBUILD_INSTALL_NO_SIGNATURE" not in text


# -- build progress -----------------------------------------------------------------------------
def test_lane_progress_counts_cargo_crates_and_says_them_every_interval() -> None:
    p = LaneProgress("aarch64-unknown-linux-gnu", start=100.0)
    assert not p.due(100.0)  # nothing compiled yet: nothing to say
    assert p.text(101.0) == "aarch64-unknown-linux-gnu: cargo running, 1s"
    for line in ["   Compiling libc v0.2.150", "warning: unused import", "   Compiling serde v1.0.190 (registry)",
                 "    Finished `release` profile"]:
        p.see(line)
    assert p.crates == 2
    assert p.text(170.0) == "aarch64-unknown-linux-gnu: compiling crate 2 (serde), 1m10s"
    assert p.due(170.0)  # the first crate: said at once
    p.said = 170.0
    assert not p.due(170.0 + PROGRESS_EVERY - 1)
    assert p.due(170.0 + PROGRESS_EVERY)


def test_durations_and_status_lines() -> None:
    assert [duration(s) for s in (0, 42.9, 70, 3599, 3720)] == ["0s", "42s", "1m10s", "59m59s", "1h02m"]
    long = "x86_64-unknown-linux-gnu: compiling crate 120 (a-crate-with-a-long-name), 10m02s " * 2
    assert fit(long, 200) == long  # a wide terminal shows it whole, not cut at 80 or 100 columns
    assert fit(long, 60) == long[:59] + "…" and len(fit(long, 60)) == 60


class _Log:
    """A reporter writing to a log (not a terminal): what the board says, in order."""

    live = False

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, text: str, *, bold: bool = False) -> None:
        self.lines.append(text)


def test_the_board_says_each_running_lane_once_per_interval_in_a_log() -> None:
    from wavrybuild.build.stage import _Board

    log = _Log()
    board = _Board(log, lambda text: pytest.fail("a log has no status line"))  # type: ignore[arg-type]
    a, b = board.start(0, "aarch64-unknown-linux-gnu"), board.start(1, "x86_64-unknown-linux-musl")
    board.tell()
    assert log.lines == []  # no crate started yet
    a.see("   Compiling libc v0.2.150")
    board.tell()
    b.see("   Compiling compiler_builtins v0.1.0")
    board.tell()
    a.see("   Compiling serde v1.0.190")
    board.tell()  # within the interval: nothing new
    assert [ln.split(",")[0] for ln in log.lines] == ["aarch64-unknown-linux-gnu: compiling crate 1 (libc)",
                                                      "x86_64-unknown-linux-musl: compiling crate 1 (compiler_builtins)"]
    a.said = b.said = 0.0  # long ago: both are due again
    board.stop(1)
    board.tell()
    assert log.lines[-1].startswith("aarch64-unknown-linux-gnu: compiling crate 2 (serde), ") and len(log.lines) == 3


# -- Ctrl-C and dist/ ---------------------------------------------------------------------------
def _manifest() -> Any:
    from wavrybuild.manifest import Manifest

    return Manifest(crate="demo", name="demo", version="1.2.3", git={}, source_date_epoch=0,
                    source_date_epoch_from="test", tools={})


def test_staged_files_of_an_interrupted_task_are_removed(tmp_path: Path) -> None:
    from wavrybuild.dist import DistState, Transaction, discard_staged, writes

    dist = tmp_path / "dist"
    dist.mkdir()
    tx = Transaction(DistState(dist), "archive", _manifest())
    tx.put("SHA256SUMS", writes(b"x  y\n"))
    tx.put("other.txt", writes(b"half of a release\n"))
    assert len(list(dist.rglob("*.part"))) == 2
    discard_staged()  # what `invoke` does on Ctrl-C, before it says "interrupted"
    assert [p for p in dist.rglob("*") if p.is_file()] == []


def test_ctrl_c_during_a_commit_takes_effect_once_it_is_done(tmp_path: Path) -> None:
    import signal

    from wavrybuild.dist import DistState, Transaction, writes

    dist = tmp_path / "dist"
    dist.mkdir()
    tx = Transaction(DistState(dist), "archive", _manifest())
    tx.add("demo.tar.gz", writes(b"archive bytes"), target="t", triple="x86_64-unknown-linux-gnu", fmt="tar.gz",
           binaries=["demo"])
    real_commit = tx._commit

    def commit_with_a_ctrl_c(*args: Any) -> bool:
        os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C half-way through the swap
        return real_commit(*args)

    tx._commit = commit_with_a_ctrl_c  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        tx.commit()
    # The commit completed before the interruption took effect: the file and its manifest entry are both there.
    assert (dist / "demo.tar.gz").read_bytes() == b"archive bytes"
    assert "demo.tar.gz" in (dist / "manifest.json").read_text()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_interrupted_release_prints_no_summary_table(tmp_path: Path) -> None:
    """Ctrl-C in a stage: the pipeline lets it through with no table of half-run stages (a failure
    still gets its table: test_pipeline)."""
    from tests.unit.test_pipeline import FakeStage, make_run
    from wavrybuild.pipeline.runner import Pipeline

    class Interrupted(FakeStage):
        def act(self, todo: Any) -> bool:
            raise KeyboardInterrupt

    (tmp_path / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    cfg = parse(tmp_path / "targets.toml", {"targets": {"x86_64-unknown-linux-gnu": {}}}, fake_metadata, Settings())
    run = make_run(cfg)
    after = FakeStage("package")
    with pytest.raises(KeyboardInterrupt):
        Pipeline(run).pipeline([FakeStage("toolchain"), Interrupted("build"), after], "release")
    assert run.ui.tables == [] and after.calls == []  # type: ignore[attr-defined]
