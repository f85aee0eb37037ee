"""The cache of `cargo metadata --no-deps` (wavrybuild/cargo.py): a hit runs no cargo, and every
input of cargo's answer, changed, makes it ask cargo again — with the answer that change brings.

Real cargo on real crates in tmp_path (`cargo metadata` compiles nothing). Each edit puts the
file's mtime back where it was, so what is tested is the content digest, not a timestamp.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wavrybuild import cargo
from wavrybuild.errors import ConfigError

pytestmark = pytest.mark.skipif(shutil.which("cargo") is None, reason="needs cargo (bash .ci/setup installs it)")

OLD = time.time() - 3600


def backdate(*roots: Path) -> None:
    """Every file and directory an hour old: the tree is quiet, so an answer may be kept."""
    for root in roots:
        for p in [root, *root.rglob("*")]:
            os.utime(p, (OLD, OLD), follow_symlinks=False)


def write(path: Path, text: str) -> None:
    """Change a file's content but keep its old mtime (and its directory's)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    backdate(path.parent)


def manifest(name: str, version: str = "0.1.0", extra: str = "") -> str:
    return f'[package]\nname = "{name}"\nversion = "{version}"\nedition = "2021"\n{extra}'


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[Path]]:
    """How often cargo itself was asked; the cache in tmp_path, the crate dir as cwd."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("CARGO_TARGET_DIR", raising=False)
    monkeypatch.delenv("CARGO_BUILD_TARGET_DIR", raising=False)
    calls: list[Path] = []
    real = cargo._ask

    def counting(exe: str | None, path: Path, platform: str | None) -> dict[str, Any]:
        calls.append(path)
        return real(exe, path, platform)

    monkeypatch.setattr(cargo, "_ask", counting)
    yield calls


@pytest.fixture
def crate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "ws" / "app"
    write(root / "Cargo.toml", manifest("app"))
    write(root / "src" / "main.rs", "fn main() {}\n")
    backdate(tmp_path / "ws")
    monkeypatch.chdir(root)
    return root


def meta(root: Path) -> dict[str, Any]:
    return cargo.metadata(root / "Cargo.toml")


def bins(answer: dict[str, Any]) -> list[str]:
    return sorted(t["name"] for p in answer["packages"] for t in p["targets"] if "bin" in t["kind"])


def test_a_second_load_asks_no_cargo_and_gets_the_same_answer(crate: Path, asked: list[Path]) -> None:
    first = meta(crate)
    assert meta(crate) == first
    assert meta(crate) == first
    assert len(asked) == 1


@pytest.mark.parametrize("change, check", [
    # The manifest: a new version (content changed, same size, old mtime).
    (lambda root: write(root / "Cargo.toml", manifest("app", "0.2.0")),
     lambda a: a["packages"][0]["version"] == "0.2.0"),
    # A binary cargo discovers by its file name.
    (lambda root: write(root / "src" / "bin" / "extra.rs", "fn main() {}\n"),
     lambda a: bins(a) == ["app", "extra"]),
    # A file removed: src/main.rs gone, the binary with it (a library is left).
    (lambda root: (os.remove(root / "src" / "main.rs"), write(root / "src" / "lib.rs", "")),
     lambda a: bins(a) == []),
    # The lock file.
    (lambda root: write(root / "Cargo.lock", "version = 3\n"), lambda a: True),
    # Cargo config in the crate: where the target directory is.
    (lambda root: write(root / ".cargo" / "config.toml", '[build]\ntarget-dir = "elsewhere"\n'),
     lambda a: a["target_directory"].endswith("elsewhere")),
    # Cargo config in a parent directory, outside the crate.
    (lambda root: write(root.parent / ".cargo" / "config.toml", '[build]\ntarget-dir = "/tmp/up"\n'),
     lambda a: a["target_directory"] == "/tmp/up"),
    # A workspace appears above the crate: its root is now the parent.
    (lambda root: write(root.parent / "Cargo.toml", '[workspace]\nmembers = ["app"]\nresolver = "2"\n'),
     lambda a: Path(a["workspace_root"]) == Path.cwd().parent),
    # A toolchain file (rustup picks the cargo that answers by it).
    (lambda root: write(root / "rust-toolchain.toml", '[toolchain]\nchannel = "stable"\n'), lambda a: True),
], ids=["manifest", "new-bin", "removed-file", "lock", "cargo-config", "parent-cargo-config", "parent-workspace",
        "toolchain-file"])
def test_every_input_changed_asks_cargo_again(crate: Path, asked: list[Path], change: Callable[[Path], Any],
                                              check: Callable[[dict[str, Any]], bool]) -> None:
    if "rust-toolchain" in str(change.__code__.co_consts) and shutil.which("rustup") is None:
        pytest.skip("toolchain files are rustup's")
    before = meta(crate)
    change(crate)
    backdate(crate.parent)  # new directories too: only content and names may tell
    after = meta(crate)
    assert len(asked) == 2, "the cache answered for a changed input"
    assert check(after), after
    assert meta(crate) == after and len(asked) == 2, "the new answer is kept in turn"
    assert after != before or "lock" in str(change.__code__.co_consts) or "rust-toolchain" in str(change.__code__.co_consts)


def test_an_environment_variable_cargo_reads_asks_cargo_again(crate: Path, asked: list[Path],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert meta(crate)["target_directory"] == str(crate / "target")
    monkeypatch.setenv("CARGO_TARGET_DIR", "/tmp/somewhere")
    assert meta(crate)["target_directory"] == "/tmp/somewhere"
    monkeypatch.delenv("CARGO_TARGET_DIR")
    assert meta(crate)["target_directory"] == str(crate / "target")
    assert len(asked) == 3


def test_a_credential_is_no_input(crate: Path, asked: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """cargo metadata never sees a token (proc withholds it), so a rotated one is no reason to ask again."""
    monkeypatch.setenv("CARGO_REGISTRY_TOKEN", "one")
    meta(crate)
    monkeypatch.setenv("CARGO_REGISTRY_TOKEN", "two")
    meta(crate)
    assert len(asked) == 1
    assert not any(b"one" in f.read_bytes() or b"two" in f.read_bytes() for f in cargo.cache_dir().iterdir())


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "ws"
    write(root / "Cargo.toml", '[workspace]\nmembers = ["crates/*"]\nresolver = "2"\n')
    write(root / "crates" / "a" / "Cargo.toml", manifest("a"))
    write(root / "crates" / "a" / "src" / "main.rs", "fn main() {}\n")
    backdate(root)
    monkeypatch.chdir(root)
    return root


def names(answer: dict[str, Any]) -> list[str]:
    return sorted(p["name"] for p in answer["packages"])


def test_a_member_matched_by_a_workspace_glob(workspace: Path, asked: list[Path]) -> None:
    assert names(meta(workspace)) == ["a"]
    write(workspace / "crates" / "b" / "Cargo.toml", manifest("b"))
    write(workspace / "crates" / "b" / "src" / "main.rs", "fn main() {}\n")
    backdate(workspace / "crates")
    assert names(meta(workspace)) == ["a", "b"]
    assert meta(workspace) and len(asked) == 2


def test_a_members_manifest(workspace: Path, asked: list[Path]) -> None:
    meta(workspace)
    write(workspace / "crates" / "a" / "Cargo.toml", manifest("a", "0.3.0"))
    assert meta(workspace)["packages"][0]["version"] == "0.3.0"
    assert len(asked) == 2


def test_an_answer_from_a_tree_just_touched_is_not_kept(crate: Path, asked: list[Path]) -> None:
    """A file changed seconds before cargo ran may change again unseen within its timestamp's
    granularity: that answer is used once, not kept."""
    (crate / "Cargo.toml").write_text(manifest("app", "0.1.1"))  # mtime: now
    meta(crate)
    meta(crate)
    assert len(asked) == 2
    backdate(crate)
    meta(crate)
    meta(crate)
    assert len(asked) == 3


def test_a_failure_is_not_kept(crate: Path, asked: list[Path]) -> None:
    write(crate / "Cargo.toml", "[package]\nname = \n")
    for _ in range(2):
        with pytest.raises(ConfigError, match="cargo cannot read this manifest"):
            meta(crate)
    assert len(asked) == 2


def test_the_graph_for_a_platform_is_never_cached(crate: Path, asked: list[Path]) -> None:
    """The SBOM's `--filter-platform` graph also depends on the registry's files: always asked."""
    write(crate / "Cargo.lock", "version = 3\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n")
    for _ in range(2):
        cargo.metadata(crate / "Cargo.toml", platform="x86_64-unknown-linux-gnu")
    assert len(asked) == 2


def test_old_entries_are_dropped(crate: Path, asked: list[Path]) -> None:
    """Every temporary crate of a test suite leaves an entry: the cache keeps the newest KEEP."""
    cargo.cache_dir().mkdir(parents=True)
    for i in range(2 * cargo.KEEP + 1):
        old = cargo.cache_dir() / f"old{i}.json"
        old.write_text("{}")
        os.utime(old, (OLD + i, OLD + i))
    answer = meta(crate)
    assert len(list(cargo.cache_dir().iterdir())) == cargo.KEEP
    assert meta(crate) == answer and len(asked) == 1, "the entry just written is kept"
