"""Hostile and careless targets.toml files: each is one clear ConfigError naming the file and key,
never a traceback; and a property test that no mutation of a valid file does worse."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import invoke, write_project
from wavrybuild.config import load
from wavrybuild.errors import WavryError

BASE = '[project]\ncrate = "demo"\n[targets.x86_64-unknown-linux-gnu]\n'


@pytest.mark.parametrize("extra, message", [
    ('[package]\ninclude = "README.md"\n', "package.include: expected a list of strings"),
    ("[package]\ncompression-level = 6.0\n", "package.compression-level: expected a whole number"),
    ('[package]\ninclude = ["."]\n', "package.include: '.' is the crate directory itself"),
    ('[targets.x86_64-unknown-linux-gnu.env]\n"A=B" = "x"\n', "env: expected environment variable names"),
    ('[targets.x86_64-unknown-linux-gnu.env]\nA = "x\\u0000y"\n', "env: expected values without NUL"),
    ("[targets.x86_64-unknown-linux-gnu.profile]\n", "targets.x86_64-unknown-linux-gnu.profile"),
    ('[publish.github]\nrepo = "o/n"\ntokn-env = "T"\n', "publish.github.tokn-env: unknown key"),
    # install.sh: https only, and nothing that could leave its quoted string.
    ('[channels.installer]\nbase-url = "http://dl.example/v{version}"\n', "channels.installer.base-url: expected the https://"),
    ('[channels.installer]\nbase-url = "https://dl.example/v{version}\\n"\n', "channels.installer.base-url"),
    ('[channels.installer]\nbase-url = "https://dl.example/$(id)"\n', "channels.installer.base-url"),
])
def test_bad_values_are_one_clear_error(tmp_path: Path, extra: str, message: str) -> None:
    root = write_project(tmp_path, BASE + extra)
    with pytest.raises(WavryError) as info:
        load(root / "targets.toml")
    assert message in str(info.value) and str(root / "targets.toml") in str(info.value)


def test_opt_level_true_is_not_1(tmp_path: Path) -> None:
    root = write_project(tmp_path, BASE.replace("[targets.x86_64-unknown-linux-gnu]\n",
                                                "[targets.x86_64-unknown-linux-gnu]\nopt-level = true\n"))
    with pytest.raises(WavryError, match="opt-level"):
        load(root / "targets.toml")


def test_env_values_are_never_echoed(tmp_path: Path) -> None:
    root = write_project(tmp_path, BASE + '[targets.x86_64-unknown-linux-gnu.env]\nSENTRY_AUTH_TOKEN = 734918265\n')
    with pytest.raises(WavryError) as info:
        load(root / "targets.toml")
    assert "734918265" not in str(info.value)


def test_unreadable_files_from_the_cli(tmp_path: Path) -> None:
    root = write_project(tmp_path, BASE)
    (root / "targets.toml").write_bytes(b'[project]\ncrate = "demo"\n\xff\xfe\n')
    cases = [(("doctor",), "not UTF-8"), (("build", "--all", "--config", str(tmp_path)), "is a directory")]
    (root / "deep.toml").write_text(BASE + "x = " + "[" * 5000 + "]" * 5000 + "\n")
    cases.append((("build", "--all", "--config", str(root / "deep.toml")), "nested too deeply"))
    for argv, message in cases:
        done = invoke(*argv, cwd=root)
        assert done.returncode == 2, (argv, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr
        assert not (root / "dist").exists()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=0, max_value=200), st.text(max_size=40))
def test_no_mutation_of_a_valid_file_ends_in_a_traceback(tmp_path: Path, at: int, junk: str) -> None:
    text = (BASE + '[package]\ninclude = ["LICENSE"]\n[channels.npm]\nname = "@w/demo"\n')
    at = min(at, len(text))
    root = write_project(tmp_path / "p", text[:at] + junk + text[at:])
    try:
        load(root / "targets.toml")
    except WavryError as exc:
        assert str(exc).strip()  # a message, naming what is wrong
