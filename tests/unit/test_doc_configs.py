"""The complete configurations of the docs, as they stand (issue 29): every ```toml block right
after a line `<!-- complete config -->` in docs/ci.md, docs/publishing.md and docs/desktop.md is
written into a project with the files it names and loaded by config.load (Cargo.toml read as it
is, no stand-in for the crate); the CI files docs/ci.md shows for its configuration are what
`invoke plan` and `init --ci gitlab` print for it now, and its GitHub workflow passes actionlint
and zizmor like the repository's own."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, copy_demo, invoke
from tests.unit.test_desktop_config import png
from wavrybuild import __version__, cargo, env
from wavrybuild.config import Config, load
from wavrybuild.config.channels import LinuxPackageConfig
from wavrybuild.env import Settings

DOCS = REPO / "docs"
MARKER = "<!-- complete config -->"
PAGES = ("ci.md", "publishing.md", "desktop.md")
PHASES = "CI in phases, complete: files to copy"
REPOSITORIES = "Signed .deb and .rpm repositories"
# A minisign public key file (`minisign -G` writes this shape): only its form is checked at load.
MINISIGN_PUB = ("untrusted comment: minisign public key\n"
                "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3\n")

# Each complete configuration (page, heading of its section) and the files beside targets.toml it
# names. A block marked in the docs but missing here (or the reverse) fails the first test.
WORLDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("ci.md", PHASES): ("keys/parts.pub", "keys/minisign.pub"),
    ("publishing.md", "Choosing what is published"): ("../releases/",),
    ("publishing.md", REPOSITORIES): (),
    ("desktop.md", "Publishing a desktop app"): ("assets/icon.png", "CHANGELOG.md"),
    ("desktop.md", "A desktop app with a website on a rolling tag"): ("assets/icon.png", "minisign.pub"),
}


def _blocks(page: str) -> Iterator[tuple[str, str, str, str]]:
    """(heading, the line before the fence, the fence's language, body) of each fenced block."""
    heading, before, fence, body = "", "", None, ""
    for line in (DOCS / page).read_text().splitlines(keepends=True):
        if fence is None and line.startswith("```"):
            fence, body = line[3:].strip(), ""
        elif fence is not None and line.startswith("```"):
            yield heading, before, fence, body
            fence, before = None, ""
        elif fence is not None:
            body += line
        else:
            if line.startswith("#"):
                heading = line.lstrip("#").strip()
            if line.strip():
                before = line.strip()


def complete_configs(page: str) -> dict[str, str]:
    """{heading of its section: TOML text} of each complete configuration of docs/<page>."""
    out: dict[str, str] = {}
    for heading, before, lang, body in _blocks(page):
        if before != MARKER:
            continue
        assert lang == "toml", f"docs/{page}, {heading!r}: {MARKER} must come right before a ```toml block"
        assert heading not in out, f"docs/{page}, {heading!r}: two complete configurations in one section"
        out[heading] = body
    text = (DOCS / page).read_text()
    assert len(out) == text.count(MARKER), f"docs/{page}: a {MARKER} line is not right before a ```toml block"
    return out


def complete_config(page: str, heading: str) -> str:
    """The complete configuration of docs/<page>'s section `heading`."""
    return complete_configs(page)[heading]


@pytest.fixture(autouse=True)
def _restore_policy() -> Iterator[None]:
    """load() makes its config's secret policy the process's: put the one before back."""
    before = env.secret_policy()
    yield
    env.guard(before)


def _project(tmp_path: Path, page: str, heading: str) -> Path:
    """A project holding the configuration as targets.toml, the demo crate where `crate` says, and
    the files the configuration names."""
    text = complete_config(page, heading)
    root = tmp_path / "project"
    copy_demo(root / tomllib.loads(text)["project"]["crate"])
    (root / "targets.toml").write_text(text)
    (root / "tasks.py").write_text("from wavrybuild import ns  # noqa: F401\n")
    for name in WORLDS[page, heading]:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith("/"):
            path.mkdir()
        elif name.endswith(".png"):
            png(path, 256)
        elif name.endswith(".pub"):
            path.write_text(MINISIGN_PUB)
        elif name == "CHANGELOG.md":
            path.write_text(f"# Changelog\n\n## [{__version__}] - 2026-12-01\n\n- First release.\n")
        else:
            raise AssertionError(f"{name}: no way to make this file")
    return root


def _load(root: Path) -> Config:
    # The crate is read from its Cargo.toml (cargo's answer for a single package, without cargo).
    return load(root / "targets.toml", settings=Settings(), metadata=cargo.manifest_metadata)


def test_every_marked_configuration_is_known() -> None:
    found = {(page, heading) for page in PAGES for heading in complete_configs(page)}
    assert found == set(WORLDS)


@pytest.mark.parametrize(("page", "heading"), sorted(WORLDS))
def test_the_complete_configuration_loads_as_it_stands(tmp_path: Path, page: str, heading: str) -> None:
    cfg = _load(_project(tmp_path, page, heading))
    assert cfg.targets and cfg.project.name == "wavry-demo"


def test_the_phases_configuration_signs_its_parts_and_keeps_them_in_storage(tmp_path: Path) -> None:
    cfg = _load(_project(tmp_path, "ci.md", PHASES))
    assert cfg.storage is not None and cfg.storage.bucket == "releases"
    assert cfg.ci is not None and cfg.ci.part_key == "minisign"
    assert cfg.sign.methods == ("minisign",) and cfg.channels.installer is not None
    assert {d.kind for d in cfg.publish.destinations} == {"github", "http"}


def _console(page: str, heading: str) -> list[str]:
    return [body for h, _, lang, body in _blocks(page) if h == heading and lang == "console"]


def test_the_ci_page_shows_what_invoke_plan_prints_for_its_configuration(tmp_path: Path) -> None:
    """Run where no Rust is reachable (GitLab's plan job runs in python:3.11-bookworm): the plan
    reads targets.toml and Cargo.toml only."""
    root = _project(tmp_path, "ci.md", PHASES)
    shown: dict[str, str] = {}
    for body in _console("ci.md", PHASES):
        first, _, rest = body.partition("\n")
        m = re.fullmatch(r"\$ invoke plan --format (\w+) \| python3 -m json\.tool", first)
        if m:
            shown[m.group(1)] = rest
    assert set(shown) == {"github", "gitlab"}
    empty = tmp_path / "no-rust"
    empty.mkdir()
    no_rust = {"PATH": str(empty), "CARGO_HOME": str(empty), "RUSTUP_HOME": str(empty), "HOME": str(empty)}
    for fmt, text in shown.items():
        done = invoke("plan", "--format", fmt, cwd=root, env=no_rust)
        assert done.returncode == 0, done.stderr
        # `python3 -m json.tool` prints json.dumps(…, indent=4).
        assert text == json.dumps(json.loads(done.stdout), indent=4) + "\n", f"docs/ci.md: the {fmt} output"


def _files(page: str, heading: str) -> dict[str, str]:
    """The YAML blocks of a section whose first line names the file they are: `# <path>`."""
    out = {}
    for h, _, lang, body in _blocks(page):
        m = re.match(r"# (\S+)\n", body)
        if h == heading and lang == "yaml" and m:
            out[m.group(1)] = body
    return out


def test_the_ci_page_gitlab_file_is_what_init_writes() -> None:
    from wavrybuild.init import gitlab_ci

    written = [body for h, _, lang, body in _blocks("ci.md") if h == PHASES and lang == "yaml"
               and body.startswith("# Written by `python -m wavrybuild init`")]
    assert written == [gitlab_ci()]


def test_the_ci_page_github_workflow_passes_actionlint_and_zizmor(tmp_path: Path) -> None:
    text = _files("ci.md", PHASES)[".github/workflows/release.yml"]
    workflows = tmp_path / ".github/workflows"
    workflows.mkdir(parents=True)
    (workflows / "release.yml").write_text(text)
    for tool, argv in (("actionlint", [str(workflows / "release.yml")]),
                       ("zizmor", ["--offline", "--no-progress", str(workflows)])):
        path = shutil.which(tool)
        assert path, f"{tool} is not installed (pip install -e '.[test]' brings it)"
        done = subprocess.run([path, *argv], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    wf = yaml.safe_load(text)
    jobs = wf["jobs"]
    assert wf["permissions"] == {"contents": "read"}
    runs = {name: [s.get("run", "") for s in job["steps"]] for name, job in jobs.items()}
    # wavrybuild at the version whose `invoke plan` output the page shows.
    installs = [r for job in runs.values() for r in job if "pip install" in r]
    assert installs and all(re.fullmatch(rf"python -m pip install 'wavrybuild(\[storage\])?=={re.escape(__version__)}'", r)
                            for r in installs)
    assert any("invoke plan --format github" in r for r in runs["plan"])
    assert "fromJSON(needs.plan.outputs.matrix)" in jobs["packages"]["strategy"]["matrix"]
    part = [s for s in jobs["packages"]["steps"] if "--part --target" in s.get("run", "")]
    assert len(part) == 1 and "WAVRYBUILD_MINISIGN_KEY" in part[0]["env"]  # the part manifest is signed
    # The release job: no toolchain, nothing built; it merges from storage and signs with the release key.
    assert not any("toolchain" in r or "cargo" in r for r in runs["release"])
    merge = [s for s in jobs["release"]["steps"] if "--merge-from-storage" in s.get("run", "")]
    assert len(merge) == 1 and "WAVRYBUILD_MINISIGN_KEY" in merge[0]["env"]
    assert jobs["release"]["permissions"]["contents"] == "write" and "permissions" not in jobs["packages"]
    # No changelog: the notes list the commits since the previous tag, which a shallow clone lacks.
    checkout = jobs["release"]["steps"][0]
    assert checkout["uses"].startswith("actions/checkout@") and checkout["with"]["fetch-depth"] == 0


def _repository_lines(text: str) -> tuple[re.Match[str], dict[str, str]]:
    apt = re.search(r"deb \[signed-by=(\S+)\] (https://\S+) (\S+) (\S+)\"", text)
    assert apt, "docs/publishing.md: no apt sources line with signed-by"
    repo = re.search(r"<<'REPO'\n(.*?)\nREPO\n", text, re.S)
    assert repo, "docs/publishing.md: no .repo file"
    keys = dict(line.split("=", 1) for line in repo.group(1).splitlines() if "=" in line)
    return apt, keys


def test_the_repositories_a_user_adds_are_the_ones_the_configuration_makes(tmp_path: Path) -> None:
    """The apt line and the .repo file of docs/publishing.md name what trees.py writes for the
    configuration beside them: key.gpg at the apt tree's top, dists/<distribution>/<component>,
    RPM-GPG-KEY-<name>.asc beside repodata/ (test_linux_channels.py checks those names and runs
    apt with such a line against a real signed repository)."""
    cfg = _load(_project(tmp_path, "publishing.md", REPOSITORIES))
    linux: dict[str, LinuxPackageConfig] = {lc.format: lc for lc in cfg.channels.linux}
    assert set(linux) == {"deb", "rpm"} and all(lc.makes_repository("gpg" in cfg.sign.methods) for lc in linux.values())
    assert cfg.sign.methods == ("gpg",) and cfg.release.publish == ("deb", "rpm")
    text = "".join(_console("publishing.md", REPOSITORIES))
    apt, repo = _repository_lines(text)
    deb, rpm = linux["deb"], linux["rpm"]
    keyring, url, distribution, component = apt.groups()
    assert (distribution, component) == (deb.distribution, deb.component)
    assert url.rsplit("/", 1)[1] == deb.repo_dir.name and f"{url}/key.gpg | sudo tee {keyring} " in text
    assert repo["baseurl"].rsplit("/", 1)[1] == rpm.repo_dir.name
    assert repo["gpgkey"] == f"{repo['baseurl']}/RPM-GPG-KEY-{rpm.name}.asc"
    assert repo["gpgcheck"] == repo["repo_gpgcheck"] == "1"  # signed rpms and a signed repomd.xml
    assert f"apt-get install {deb.name}" in text and f"dnf install {rpm.name}" in text


def test_gitlab_jobs_install_minisign_where_they_sign_with_it(tmp_path: Path) -> None:
    """python:3.11-bookworm has no minisign: a part job on it installs it when parts are signed
    with minisign, the merge job also when [sign] signs with it; a job on an image of its own,
    or a config without minisign, installs nothing."""
    from tests.unit.test_pipeline import fake_metadata
    from wavrybuild.ci.matrix import MINISIGN_APT, matrix
    from wavrybuild.config import parse

    (tmp_path / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    (tmp_path / "parts.pub").write_text(MINISIGN_PUB)
    targets = {"x86_64-unknown-linux-gnu": {}, "aarch64-unknown-linux-gnu": {"image": "rust:1"}}

    def jobs(extra: dict[str, object]) -> dict[str, list[str]]:
        cfg = parse(tmp_path / "targets.toml", {"targets": targets, **extra}, fake_metadata, Settings())
        child = matrix(cfg, "gitlab")
        assert isinstance(child, dict)
        return {name: job["script"] for name, job in child.items() if isinstance(job, dict) and "script" in job}

    def installs(scripts: dict[str, list[str]]) -> set[str]:
        return {name for name, script in scripts.items() if MINISIGN_APT in script}

    parts = {"ci": {"part-key": "minisign", "part-public-key": "parts.pub"}, "sign": {"methods": ["minisign"]}}
    signed = jobs(parts)
    assert installs(signed) == {"part:x86_64-unknown-linux-gnu", "merge"}
    assert all(script[0] == MINISIGN_APT for name, script in signed.items() if name in installs(signed))
    assert installs(jobs({"sign": {"methods": ["minisign"]}})) == {"merge"}
    assert installs(jobs({"sign": {"methods": ["gpg"]}})) == installs(jobs({})) == set()
