"""windows-gnu with a distribution's winapi: detected from the crate's Cargo.lock and the directory
source that replaces crates.io, before any build (issue 28, item 5).

The registry here is laid out as Debian's /usr/share/cargo/registry (`<name>-<version>/`, no `lib/`)
or as the crates.io .crate unpacked (with `lib/libwinapi_*.a`); the linkers asked are real gcc's."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_pipeline import fake_metadata
from wavrybuild import proc
from wavrybuild.build.builders import BUILDERS
from wavrybuild.build.plan import BuildStep, cache_key
from wavrybuild.config import Project, TargetConfig, parse
from wavrybuild.env import Settings
from wavrybuild.toolchain import winapi
from wavrybuild.toolchain.probe import RustToolchain, StdSource, Tools, target_status
from wavrybuild.triple import Triple

HOST = "x86_64-unknown-linux-gnu"
WIN = "x86_64-pc-windows-gnu"
CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"
GNU64 = "winapi-x86_64-pc-windows-gnu"


def _crate(path: Path, name: str, version: str, libs: tuple[str, ...] = ()) -> Path:
    path.mkdir(parents=True)
    (path / "Cargo.toml").write_text(f'[package]\nname = "{name}"\nversion = "{version}"\n')
    (path / "build.rs").write_text("fn main() {}\n")
    for lib in libs:
        (path / "lib").mkdir(exist_ok=True)
        (path / "lib" / lib).write_bytes(b"!<arch>\n")
    return path


def _lock(*packages: tuple[str, str, str | None]) -> str:
    out = "version = 3\n"
    for name, version, source in packages:
        out += f'\n[[package]]\nname = "{name}"\nversion = "{version}"\n'
        if source:
            out += f'source = "{source}"\n'
    return out


WINAPI_LOCK = _lock(("app", "0.1.0", None), ("winapi", "0.3.9", CRATES_IO), (GNU64, "0.4.0", CRATES_IO),
                    ("winapi-i686-pc-windows-gnu", "0.4.0", CRATES_IO))


def _layout(tmp_path: Path, *, bundled: bool = False, lock: str | None = WINAPI_LOCK,
            directory: str = f"{GNU64}-0.4.0") -> Path:
    """A crate using a directory source, as one built from Debian's registry is set up; returns its dir."""
    registry = tmp_path / "registry"
    _crate(registry / "winapi-0.3.9", "winapi", "0.3.9")
    _crate(registry / directory, GNU64, "0.4.0", ("libwinapi_advapi32.a", "libwinapi_kernel32.a") if bundled else ())
    _crate(registry / "winapi-i686-pc-windows-gnu-0.4.0", "winapi-i686-pc-windows-gnu", "0.4.0")
    crate = tmp_path / "app"
    (crate / ".cargo").mkdir(parents=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "app"\nversion = "0.1.0"\n\n[dependencies]\nwinapi = "0.3"\n')
    (crate / ".cargo" / "config.toml").write_text(
        f'[source.crates-io]\nreplace-with = "debian"\n\n[source.debian]\ndirectory = "{registry}"\n')
    if lock is not None:
        (crate / "Cargo.lock").write_text(lock)
    return crate


def _target(triple: str = WIN, **kw: Any) -> TargetConfig:
    return TargetConfig(id=triple, triple=Triple(triple), **kw)


def test_debian_layout_without_libraries_is_detected(tmp_path: Path) -> None:
    crate = _layout(tmp_path)
    found = winapi.find_unbundled(WIN, crate, crate)
    assert found == winapi.Unbundled(GNU64, "0.4.0", tmp_path / "registry" / f"{GNU64}-0.4.0", locked=True)
    assert winapi.build_env(_target(), crate, crate) == {"WINAPI_NO_BUNDLED_LIBRARIES": "1"}
    # The i686 helper crate is looked at for i686; other targets never need the variable.
    assert winapi.find_unbundled("i686-pc-windows-gnu", crate, crate) is not None
    for other in (HOST, "x86_64-pc-windows-msvc", "x86_64-pc-windows-gnullvm", "aarch64-apple-darwin"):
        assert winapi.build_env(_target(other), crate, crate) == {}


def test_bundled_libraries_need_nothing(tmp_path: Path) -> None:
    """crates.io's .crate (and `cargo vendor` of it) carries lib/: nothing is changed."""
    crate = _layout(tmp_path, bundled=True)
    assert winapi.find_unbundled(WIN, crate, crate) is None
    assert winapi.build_env(_target(), crate, crate) == {}
    assert winapi.import_libraries(_target(), crate, crate, "gcc") is None


def test_only_the_resolved_dependency_set_counts(tmp_path: Path) -> None:
    # Debian's registry holds every installed librust package: a crate that does not use winapi
    # (its Cargo.lock says so) is left alone.
    crate = _layout(tmp_path, lock=_lock(("app", "0.1.0", None), ("libc", "0.2.150", CRATES_IO)))
    assert winapi.find_unbundled(WIN, crate, crate) is None
    # A version the lock pins that the source does not hold is cargo's error to report, not ours.
    crate = _layout(tmp_path / "b", lock=_lock((GNU64, "0.4.1", CRATES_IO)))
    assert winapi.find_unbundled(WIN, crate, crate) is None
    # Not from crates.io (a git dependency): the directory source does not serve it.
    crate = _layout(tmp_path / "c", lock=_lock((GNU64, "0.4.0", "git+https://example.invalid/winapi#abc")))
    assert winapi.find_unbundled(WIN, crate, crate) is None


def test_without_cargo_lock_the_source_decides(tmp_path: Path) -> None:
    crate = _layout(tmp_path, lock=None)
    found = winapi.find_unbundled(WIN, crate, crate)
    assert found is not None and not found.locked
    assert winapi.build_env(_target(), crate, crate) == {"WINAPI_NO_BUNDLED_LIBRARIES": "1"}


def test_crate_found_by_its_manifest_not_its_directory_name(tmp_path: Path) -> None:
    """Plain `cargo vendor` names directories without the version; cargo goes by Cargo.toml."""
    crate = _layout(tmp_path, directory=GNU64)
    found = winapi.find_unbundled(WIN, crate, crate)
    assert found is not None and found.directory.name == GNU64


def test_no_directory_source_needs_nothing(tmp_path: Path) -> None:
    crate = _layout(tmp_path)
    (crate / ".cargo" / "config.toml").unlink()
    assert winapi.find_unbundled(WIN, crate, crate) is None


@pytest.mark.parametrize("lock", [
    "this is = not [ toml",
    "package = 3\n",
    '[[package]]\nname = "winapi-x86_64-pc-windows-gnu"\nversion = 4\nsource = "registry+https://github.com/rust-lang/crates.io-index"\n',
    '[[package]]\nname = "winapi-x86_64-pc-windows-gnu"\nversion = "0.4.0"\nsource = ["registry+"]\n',
    b"\xff\xfe[[package]]\n",
])
def test_hostile_cargo_lock_is_not_a_crash(tmp_path: Path, lock: str | bytes) -> None:
    crate = _layout(tmp_path, lock="")
    target = crate / "Cargo.lock"
    target.write_bytes(lock) if isinstance(lock, bytes) else target.write_text(lock)
    found = winapi.find_unbundled(WIN, crate, crate)
    # Unreadable: treated as no lock (cargo reports it when it reads the file); read but not
    # naming the crate validly: not in the dependency set.
    assert found is None or not found.locked


def test_hostile_registry_manifest_is_skipped(tmp_path: Path) -> None:
    crate = _layout(tmp_path)
    (tmp_path / "registry" / f"{GNU64}-0.4.0" / "Cargo.toml").write_bytes(b"\xff\xfe [package")
    assert winapi.find_unbundled(WIN, crate, crate) is None


def test_missing_mingw_libraries_is_one_clear_problem(tmp_path: Path) -> None:
    """The host's gcc is a real gcc without mingw's import libraries: it answers the bare name."""
    crate = _layout(tmp_path)
    libs = winapi.import_libraries(_target(), crate, crate, "gcc")
    assert libs is not None and libs.problem is not None
    assert WIN in libs.problem and "apt-get install mingw-w64-x86-64-dev" in libs.problem
    assert f"{GNU64} 0.4.0" in libs.problem and libs.env == ()
    # Without a lock it is only a guess that the crate needs them: the build goes ahead with a note.
    guessed = winapi.import_libraries(_target(), _layout(tmp_path / "nolock", lock=None), tmp_path / "nolock" / "app", "gcc")
    assert guessed is not None and guessed.problem is None and guessed.env == (("WINAPI_NO_BUNDLED_LIBRARIES", "1"),)


mingw = pytest.mark.skipif(proc.which("x86_64-w64-mingw32-gcc") is None,
                           reason="needs the mingw gcc (gcc-mingw-w64-x86-64; `invoke toolchain --install`)")


@mingw
def test_mingw_libraries_found_gives_variable_and_note(tmp_path: Path) -> None:
    crate = _layout(tmp_path)
    libs = winapi.import_libraries(_target(), crate, crate, "x86_64-w64-mingw32-gcc")
    assert libs is not None and libs.problem is None
    assert libs.env == (("WINAPI_NO_BUNDLED_LIBRARIES", "1"),)
    assert libs.note is not None and "WINAPI_NO_BUNDLED_LIBRARIES=1" in libs.note and GNU64 in libs.note


def _project(crate: Path) -> Project:
    return parse(crate / "targets.toml", {"targets": {WIN: {}}}, fake_metadata, Settings()).project


def _chain(tmp_path: Path) -> RustToolchain:
    root = tmp_path / "sysroot"
    (root / "lib/rustlib/src/rust/library/std").mkdir(parents=True, exist_ok=True)
    return RustToolchain("system", root)


TOOLS = Tools(cargo="cargo 1.96.0", zig=None, zigbuild=None, host=HOST)


@mingw
def test_doctor_is_ready_and_says_what_it_does(tmp_path: Path) -> None:
    crate = _layout(tmp_path)
    st = target_status(_target(), TOOLS, (_chain(tmp_path),), project=_project(crate))
    assert st.ready, st.problems
    assert st.notes and "WINAPI_NO_BUNDLED_LIBRARIES=1" in st.notes[0]
    assert st.as_json()["notes"] == list(st.notes)


def test_doctor_is_not_ready_when_mingw_lacks_the_libraries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A mingw gcc without mingw-w64-x86-64-dev, played by the host's real gcc under the mingw name."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    gcc = proc.which("gcc")
    assert gcc is not None
    (bindir / "x86_64-w64-mingw32-gcc").symlink_to(gcc)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    crate = _layout(tmp_path)
    st = target_status(_target(), TOOLS, (_chain(tmp_path),), project=_project(crate))
    assert not st.buildable and not st.ready
    assert any("mingw-w64-x86-64-dev" in p and WIN in p for p in st.problems), st.problems
    assert st.import_libraries is not None and st.import_libraries.package == "mingw-w64-x86-64-dev"
    # Without the project (a caller that cannot know the crate) nothing is claimed.
    assert target_status(_target(), TOOLS, (_chain(tmp_path),)).buildable


def test_build_command_carries_the_variable_into_its_cache_key(tmp_path: Path) -> None:
    crate = _layout(tmp_path)
    project = _project(crate)
    std = StdSource(_chain(tmp_path), "build-std")
    cmd = BUILDERS["cargo"].command(project, _target(), std, HOST)
    assert cmd.env["WINAPI_NO_BUNDLED_LIBRARIES"] == "1"
    bundled = _layout(tmp_path / "bundled", bundled=True)
    plain = BUILDERS["cargo"].command(_project(bundled), _target(), std, HOST)
    assert "WINAPI_NO_BUNDLED_LIBRARIES" not in plain.env
    # The freshness key digests the command's env: a build with the variable is never mistaken
    # for one without it.
    step = BuildStep(_target(), "cargo", cmd, rustc="rustc 1.96.0")
    unset = {k: v for k, v in cmd.env.items() if k != "WINAPI_NO_BUNDLED_LIBRARIES"}
    without = BuildStep(_target(), "cargo", replace(cmd, env=unset), rustc="rustc 1.96.0")
    assert cache_key(step, TOOLS, "src") != cache_key(without, TOOLS, "src")
    # targets.toml's env still wins: a user may set it differently on purpose.
    own = BUILDERS["cargo"].command(project, _target(env=(("WINAPI_NO_BUNDLED_LIBRARIES", "yes"),)), std, HOST)
    assert own.env["WINAPI_NO_BUNDLED_LIBRARIES"] == "yes"
