"""`python -m wavrybuild init`: the plan from cargo's metadata (a stand-in that follows its
documented JSON; no Rust here), hostile names and flags, --check, and no overwrite without --force.
The written targets.toml is parsed by config/ as every task parses it; the GitHub workflow passes
actionlint and zizmor."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from wavrybuild import init
from wavrybuild.config import Config, parse
from wavrybuild.env import Settings
from wavrybuild.errors import ConfigError, WavryError
from wavrybuild.ui import UI

DEFAULT_TARGETS = ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu", "x86_64-apple-darwin",
                   "aarch64-apple-darwin", "x86_64-pc-windows-msvc"]


def metadata(root: Path, members: dict[str, list[str]], *, own: str | None = None,
             authors: tuple[str, ...] = ()) -> dict[str, Any]:
    """`cargo metadata --no-deps` of a workspace at root: {package: [bin names]} under crates/
    (`own` at the root itself), plus a library member and a path dependency outside the workspace."""
    (root / "Cargo.toml").write_text("[workspace]\n")
    packages = []
    for name, bins in {**members, "core": []}.items():
        manifest = root / "Cargo.toml" if name == own else root / "crates" / name / "Cargo.toml"
        targets = [{"name": b, "kind": ["bin"]} for b in bins] + [{"name": name, "kind": ["lib"]}]
        packages.append({"id": f"path+file://{manifest.parent}#{name}@1.2.3", "name": name, "version": "1.2.3",
                         "manifest_path": str(manifest), "authors": list(authors), "targets": targets})
    outside = {"id": "registry+x#dep@1.0.0", "name": "dep", "version": "1.0.0", "manifest_path": "/elsewhere/Cargo.toml",
               "targets": [{"name": "dep", "kind": ["bin"]}]}
    return {"packages": [*packages, outside], "workspace_members": [p["id"] for p in packages],
            "workspace_root": str(root), "target_directory": str(root / "target")}


def planned(root: Path, meta: dict[str, Any], opts: init.Options, have_tasks: bool = False) -> dict[str, str]:
    return {f.path: f.text for f in init.plan(meta, root / "Cargo.toml", opts, have_tasks=have_tasks)}


def load(root: Path, text: str, meta: dict[str, Any]) -> Config:
    return parse(root / "targets.toml", tomllib.loads(text), lambda _manifest: meta, Settings())


def assert_commented(text: str) -> None:
    """Every key and table of the file has a one-line comment, beside it or on the line above."""
    lines = text.splitlines()
    for above, line in zip(["", *lines], lines, strict=False):
        assert not line or line.startswith("#") or " # " in line or above.startswith("# "), f"no comment: {line!r}"


def test_two_binary_workspace_gets_a_commented_targets_toml_that_loads(tmp_path: Path) -> None:
    meta = metadata(tmp_path, {"tool-cli": ["tool"], "tool-srv": ["tool-srv", "tool-admin"]})
    files = planned(tmp_path, meta, init.Options.parse())
    assert list(files) == ["targets.toml", "tasks.py"]  # CI files only with --ci
    cfg = load(tmp_path, files["targets.toml"], meta)
    assert [t.id for t in cfg.targets] == DEFAULT_TARGETS
    assert [p.name for p in cfg.project.packages] == ["tool-cli", "tool-srv"]  # not the library, not the dependency
    assert cfg.project.binaries == ("tool", "tool-srv", "tool-admin")
    assert_commented(files["targets.toml"])
    init.check_loads(tmp_path, files["targets.toml"], meta)  # what init does before writing


def test_the_manifests_own_package_comes_first_and_alone_is_named_package(tmp_path: Path) -> None:
    meta = metadata(tmp_path, {"zeta": ["zeta"], "alpha": ["alpha"]}, own="zeta")
    data = tomllib.loads(planned(tmp_path, meta, init.Options.parse())["targets.toml"])
    assert data["project"]["packages"] == ["zeta", "alpha"]
    single = metadata(tmp_path, {"only": ["only", "only-helper"]}, own="only")
    data = tomllib.loads(planned(tmp_path, single, init.Options.parse())["targets.toml"])
    assert data["project"]["package"] == "only" and "packages" not in data["project"]


def test_every_flag_adds_what_it_says_and_the_channels_load(tmp_path: Path) -> None:
    meta = metadata(tmp_path, {"tool": ["tool"]}, own="tool", authors=("A Person <a@example.invalid>",))
    opts = init.Options.parse(musl=True, glibc_floor="2.17", universal2=True, channels=["rpm", "npm", "wheel", "deb"])
    assert opts.channels == ("npm", "wheel", "deb", "rpm")
    text = planned(tmp_path, meta, opts)["targets.toml"]
    assert_commented(text)
    cfg = load(tmp_path, text, meta)
    ids = [t.id for t in cfg.targets]
    assert set(DEFAULT_TARGETS) < set(ids)
    assert {"x86_64-unknown-linux-gnu.2.17", "aarch64-unknown-linux-gnu.2.17", "x86_64-unknown-linux-musl",
            "aarch64-unknown-linux-musl", "universal2-apple-darwin"} == set(ids) - set(DEFAULT_TARGETS)
    assert next(t for t in cfg.targets if t.id == "x86_64-unknown-linux-gnu.2.17").glibc == "2.17"
    ch = cfg.channels
    assert ch.pypi is not None and ch.npm is not None and ch.deb is not None and ch.rpm is not None
    # One target per npm platform and Linux architecture: the glibc floor where there is one.
    assert ch.npm.targets == ("x86_64-unknown-linux-gnu.2.17", "aarch64-unknown-linux-gnu.2.17",
                              "x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl", "x86_64-apple-darwin",
                              "aarch64-apple-darwin", "x86_64-pc-windows-msvc")
    assert ch.deb.targets == ("x86_64-unknown-linux-gnu.2.17", "aarch64-unknown-linux-gnu.2.17") == ch.rpm.targets


def test_deb_without_authors_is_refused_naming_the_package(tmp_path: Path) -> None:
    meta = metadata(tmp_path, {"tool": ["tool"]})
    with pytest.raises(ConfigError) as exc:
        planned(tmp_path, meta, init.Options.parse(channels=["deb"]))
    assert "'tool' has no authors" in str(exc.value) and "--channel deb" in str(exc.value)


def test_a_crate_without_a_binary_is_one_clear_error(tmp_path: Path) -> None:
    meta = metadata(tmp_path, {})
    with pytest.raises(ConfigError) as exc:
        planned(tmp_path, meta, init.Options.parse())
    assert "no package of this crate or workspace has a binary target" in str(exc.value)
    assert exc.value.exit_code == 2


# Names cargo would refuse, as a broken or hostile `cargo metadata` could still report them: each is
# refused by name, or written so that TOML reads back exactly that name and nothing else.
HOSTILE = ['a"b', "x\ny", 'evil"]\n[sign]\nmethods = ["gpg"]\n#', "back\\slash", "-rf", "..", "a/b", "tab\there",
           "nul\x00", "del\x7f", "lone\ud800", "ü-ñ", "line\u2028sep", "x" * 200, "", "#", "k = 1"]


@pytest.mark.parametrize("name", HOSTILE, ids=[f"name{i}" for i in range(len(HOSTILE))])
def test_hostile_package_and_binary_names(tmp_path: Path, name: str) -> None:
    as_package, as_binary = (metadata(tmp_path, {name: ["tool"], "other": ["other"]}),
                             metadata(tmp_path, {"tool": [name], "other": ["other"]}))
    for meta, released in ((as_package, [name, "other"]), (as_binary, ["tool", "other"])):
        try:
            text = planned(tmp_path, meta, init.Options.parse(ci="both"))["targets.toml"]
        except ConfigError as exc:
            assert repr(name) in str(exc) and ("package name" in str(exc) or "binary name" in str(exc))
            continue
        data = tomllib.loads(text)
        assert set(data) == {"project", "defaults", "package", "targets"}  # nothing injected
        assert sorted(data["project"]["packages"]) == sorted(released)  # read back exactly
        # Whatever config/ says of such a name, init says it before writing: one ConfigError, never a traceback.
        try:
            init.check_loads(tmp_path, text, meta)
        except ConfigError as refused:
            assert "nothing was written" in str(refused)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_toml_string_reads_back_as_the_same_text(value: str) -> None:
    assert tomllib.loads(f"k = {init.toml_string(value)}\n") == {"k": value}


@pytest.mark.parametrize(("flags", "says"), [
    ({"ci": "azure"}, "--ci 'azure'"),
    ({"glibc_floor": "2.17\n[sign]"}, "--glibc-floor"),
    ({"glibc_floor": "3.1"}, "--glibc-floor '3.1'"),
    ({"glibc_floor": "2.17.0"}, "--glibc-floor"),
    ({"channels": ["brew"]}, "--channel 'brew'"),
    ({"check": True, "force": True}, "--check"),
])
def test_bad_flags_are_refused_naming_the_flag(flags: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError) as exc:
        init.Options.parse(**flags)
    assert says in str(exc.value) and exc.value.exit_code == 2


def test_tasks_py_is_written_only_when_there_is_none(tmp_path: Path) -> None:
    meta = metadata(tmp_path, {"tool": ["tool"]})
    assert "tasks.py" not in planned(tmp_path, meta, init.Options.parse(), have_tasks=True)
    text = planned(tmp_path, meta, init.Options.parse())["tasks.py"]
    compile(text, "tasks.py", "exec")
    assert "from wavrybuild import namespace" in text and "ns = namespace()" in text


def test_nothing_is_overwritten_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    meta = metadata(tmp_path, {"tool": ["tool"]})
    files = init.plan(meta, tmp_path / "Cargo.toml", init.Options.parse(ci="github"), have_tasks=False)
    (tmp_path / "targets.toml").write_text("# mine\n")
    with pytest.raises(WavryError) as exc:
        init.write(tmp_path, files, init.Options.parse(ci="github"), UI())
    assert "targets.toml" in str(exc.value) and "nothing was written" in str(exc.value)
    assert (tmp_path / "targets.toml").read_text() == "# mine\n"
    assert not (tmp_path / "tasks.py").exists() and not (tmp_path / ".github").exists()
    init.write(tmp_path, files, init.Options.parse(ci="github", dry=True), UI())  # prints, writes nothing
    out = capsys.readouterr().out
    assert "==> targets.toml (refused (exists)) <==" in out and "==> tasks.py (write) <==" in out
    assert not (tmp_path / "tasks.py").exists()
    init.write(tmp_path, files, init.Options.parse(ci="github", force=True), UI())
    for f in files:
        assert (tmp_path / f.path).read_text() == f.text
    init.write(tmp_path, files, init.Options.parse(ci="github"), UI())  # all unchanged: nothing refused


def _write_ci(root: Path, opts: init.Options) -> None:
    for f in init.ci_files(opts):
        (root / f.path).parent.mkdir(parents=True, exist_ok=True)
        (root / f.path).write_text(f.text)


def test_check_names_the_ci_files_that_differ(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no \.github/workflows/release\.yml or \.gitlab-ci\.yml"):
        init.run(tmp_path, init.Options.parse(check=True), UI())
    _write_ci(tmp_path, init.Options.parse(ci="both"))
    init.run(tmp_path, init.Options.parse(check=True), UI())  # both present and current: exit 0
    (tmp_path / init.GITLAB_FILE).write_text((tmp_path / init.GITLAB_FILE).read_text().replace("0.1", "0.0"))
    with pytest.raises(WavryError) as exc:
        init.run(tmp_path, init.Options.parse(check=True), UI())
    assert exc.value.exit_code == 1 and ".gitlab-ci.yml (differs)" in str(exc.value)
    assert init.GITHUB_FILE not in str(exc.value)
    (tmp_path / init.GITHUB_FILE).unlink()
    with pytest.raises(WavryError) as exc:
        init.run(tmp_path, init.Options.parse(check=True, ci="github"), UI())
    assert f"{init.GITHUB_FILE} (missing or unreadable)" in str(exc.value)


def lint_workflows(directory: Path) -> None:
    """actionlint and zizmor (offline audits), as tests/unit/test_ci_files.py runs them on ours."""
    actionlint, zizmor = shutil.which("actionlint"), shutil.which("zizmor")
    assert actionlint and zizmor, "pip install -e '.[test]' brings actionlint and zizmor"
    done = subprocess.run([actionlint, *map(str, sorted(directory.glob("*.yml")))], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run([zizmor, "--offline", "--no-progress", str(directory)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0 and "No findings to report" in done.stdout + done.stderr, done.stdout + done.stderr


def test_ci_files_pass_actionlint_and_zizmor_and_fan_out(tmp_path: Path) -> None:
    _write_ci(tmp_path, init.Options.parse(ci="both"))
    lint_workflows(tmp_path / ".github/workflows")
    wf = yaml.safe_load((tmp_path / init.GITHUB_FILE).read_text())
    assert wf["permissions"] == {"contents": "read"}
    assert "fromJSON(needs.plan.outputs.matrix)" in wf["jobs"]["build"]["strategy"]["matrix"]
    assert any("--merge parts" in s.get("run", "") for s in wf["jobs"]["merge"]["steps"])
    gitlab = yaml.safe_load((tmp_path / init.GITLAB_FILE).read_text())
    assert gitlab["release"]["trigger"]["include"][0]["artifact"] == "release-pipeline.json"
    assert "python -m invoke plan --format gitlab > release-pipeline.json" in gitlab["plan"]["script"]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wavrybuild", *args], cwd=cwd, capture_output=True, text=True,
                          check=False, timeout=120)


def test_cli_errors_are_one_message_and_an_exit_code(tmp_path: Path) -> None:
    done = _cli("init", cwd=tmp_path)
    assert done.returncode == 2 and "no Cargo.toml here" in done.stderr and "Traceback" not in done.stderr
    done = _cli("init", "--glibc-floor", "2.17;rm", cwd=tmp_path)
    assert done.returncode == 2 and "--glibc-floor" in done.stderr and "Traceback" not in done.stderr
    done = _cli("init", "--channel", "brew", cwd=tmp_path)  # argparse's own refusal
    assert done.returncode == 2 and "brew" in done.stderr and "Traceback" not in done.stderr
    done = _cli("init", "--check", cwd=tmp_path)
    assert done.returncode == 2 and "to check" in done.stderr


def test_ci_files_belong_at_the_top_of_the_git_repository(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    crate = tmp_path / "sub"
    crate.mkdir()
    (crate / "Cargo.toml").write_text('[package]\nname = "x"\nversion = "0.1.0"\n')
    with pytest.raises(ConfigError, match="not the top of its git repository"):
        init.run(crate, init.Options.parse(ci="github"), UI())


def test_doctor_leaves_to_ci_the_targets_whose_job_runs_on_another_os(tmp_path: Path) -> None:
    """What plain `invoke doctor` excuses right after init: a target whose `invoke plan` job runs on
    a runner of another OS (MSVC on windows-latest); nothing that runs on Linux, and nothing on a
    self-hosted label whose OS is unknown."""
    from wavrybuild.ci.matrix import elsewhere, runner_os

    meta = metadata(tmp_path, {"tool": ["tool"]}, own="tool")
    cfg = load(tmp_path, planned(tmp_path, meta, init.Options.parse())["targets.toml"], meta)
    assert elsewhere(cfg, cfg.targets, "linux") == {"x86_64-pc-windows-msvc": "windows-latest"}
    assert elsewhere(cfg, cfg.targets, "windows") == {t: "ubuntu-latest" for t in DEFAULT_TARGETS[:4]}
    text = planned(tmp_path, meta, init.Options.parse())["targets.toml"].replace(
        "[targets.x86_64-pc-windows-msvc]", '[targets.x86_64-pc-windows-msvc]\nruns-on = "my-builder"').replace(
        "[targets.aarch64-apple-darwin]", '[targets.aarch64-apple-darwin]\nruns-on = "macos-14"')
    cfg = load(tmp_path, text, meta)
    assert elsewhere(cfg, cfg.targets, "linux") == {"aarch64-apple-darwin": "macos-14"}
    assert [runner_os(x) for x in ("windows-2022", "macos-latest", "ubuntu-24.04", "self-hosted")] == [
        "windows", "macos", "linux", None]
