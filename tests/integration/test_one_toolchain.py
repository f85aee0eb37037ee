"""One toolchain per release, on this machine's real toolchains: rustup's default (the host's std
only) and the distribution's Rust linked as `system`, another release, which has the aarch64 std.
Each binary's ELF `.comment` section says which rustc compiled its crates: the evidence that the
plan's choice is what cargo actually used."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import invoke, write_project
from wavrybuild.toolchain.probe import RustToolchain, toolchains

HOST = "x86_64-unknown-linux-gnu"
ARM = "aarch64-unknown-linux-gnu"


@dataclass(frozen=True)
class Machine:
    default: RustToolchain  # builds the host when nothing is pinned
    other: RustToolchain  # another release, with the aarch64 std


@pytest.fixture(scope="module")
def machine() -> Machine:
    chains = toolchains()
    default = next((c for c in chains if c.default), None)
    if default is None or not default.has_std(HOST):
        pytest.fail("needs a default Rust toolchain with the host's std (`invoke toolchain --install`)")
    other = next((c for c in chains if c.name and c.has_std(ARM) and c.has_std(HOST)
                  and c.rustc_info.release != default.rustc_info.release), None)
    if other is None:
        pytest.skip("needs two Rust releases (rustup's default and the distribution's with the aarch64 std): "
                    f"only {default.rustc_info.short} here")
    return Machine(default, other)


def _comment(binary: Path) -> str:
    """The rustc versions in the binary's .comment section (`rustc version 1.96.0 (…)`)."""
    out = subprocess.run(["readelf", "-p", ".comment", str(binary)], capture_output=True, text=True, check=True).stdout
    return " ".join(sorted({ln.split("]", 1)[1].strip() for ln in out.splitlines() if "rustc version" in ln}))


def _project(root: Path, project_extra: str = "", arm_extra: str = "") -> Path:
    return write_project(root, f'[project]\ncrate = "demo"\nbinaries = ["wavry-demo"]\n{project_extra}\n'
                               f'[targets.{HOST}]\nbuilder = "cargo"\n[targets.{ARM}]\n{arm_extra}')


def _record(root: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((root / "dist/.wavrybuild/build.json").read_text())


def test_two_releases_warn_before_building_and_are_recorded(machine: Machine, tmp_path: Path,
                                                            cargo_target_dir: Path) -> None:
    # aarch64 named onto the other toolchain, so the case is the same whether or not the default one
    # could also get an aarch64 std on this machine.
    root = _project(tmp_path / "p", arm_extra=f'toolchain = "{machine.other.name}"\n')
    env = {"CARGO_TARGET_DIR": str(cargo_target_dir)}
    dry = invoke("build", "--all", "--dry", "--force", cwd=root, env=env)
    assert dry.returncode == 0, dry.stderr
    d, o = machine.default.rustc_info, machine.other.rustc_info
    warning = f"{HOST}: {d.short}, toolchain {machine.default.label}; {ARM}: {o.short}, toolchain {machine.other.label}"
    assert "(dry) warning: these targets are built by 2 different rustc versions" in dry.stderr and warning in dry.stderr

    done = invoke("build", "--all", cwd=root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    # Said once, before the first cargo command.
    assert done.stderr.count(warning) == 1 and done.stderr.index(warning) < done.stderr.index("$ ")
    host_bin, arm_bin = (root / f"dist/.wavrybuild/bin/{t}/wavry-demo" for t in (HOST, ARM))
    assert d.release in _comment(host_bin) and o.release not in _comment(host_bin)
    assert o.release in _comment(arm_bin) and d.release not in _comment(arm_bin)
    record = _record(root)
    assert record["targets"][HOST]["rustc"] == d.line and record["targets"][ARM]["rustc"] == o.line
    assert record["targets"][HOST]["rustc_commit"] == (d.commit or None)
    assert record["targets"][ARM]["rustc_commit"] == (o.commit or None)
    assert record["rustc"] == sorted({d.line, o.line})


def test_a_version_pin_builds_the_host_with_the_toolchain_that_has_every_std(machine: Machine, tmp_path: Path,
                                                                              cargo_target_dir: Path) -> None:
    o = machine.other.rustc_info
    root = _project(tmp_path / "p")
    # Beside targets.toml, where invoke runs: rustup then refuses every cargo started there that
    # names no toolchain (`cargo metadata` too), since no rustup toolchain is called that release.
    (root / "rust-toolchain.toml").write_text(f'[toolchain]\nchannel = "{o.release}"\n')
    env = {"CARGO_TARGET_DIR": str(cargo_target_dir)}
    done = invoke("build", "--all", cwd=root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "different rustc versions" not in done.stderr
    host_bin = root / f"dist/.wavrybuild/bin/{HOST}/wavry-demo"
    assert o.release in _comment(host_bin) and machine.default.rustc_info.release not in _comment(host_bin)
    assert subprocess.run([str(host_bin), "--version"], capture_output=True, text=True, check=True).stdout.startswith("wavry-demo")
    record = _record(root)
    assert {t["toolchain"] for t in record["targets"].values()} == {machine.other.label}
    assert record["rustc"] == [o.line]
    # The same pin from targets.toml ([project] rustc) chooses the same toolchain for the host.
    keyed = _project(tmp_path / "q", project_extra=f'rustc = "{o.release}"\n')
    dry = invoke("build", "--target", HOST, "--dry", cwd=keyed, env=env)
    assert dry.returncode == 0, dry.stderr
    assert f"RUSTUP_TOOLCHAIN={machine.other.name} " in dry.stderr


def test_a_pin_the_foreign_target_cannot_keep_stops_before_building(machine: Machine, tmp_path: Path,
                                                                     cargo_target_dir: Path) -> None:
    d = machine.default.rustc_info
    if any(c.has_std(ARM) or c.rust_src for c in toolchains() if c.rustc_info.is_release(d.release)):
        pytest.skip(f"a {d.release} toolchain here can build {ARM}: nothing to refuse")
    root = _project(tmp_path / "p")
    (root / "rust-toolchain.toml").write_text(f'[toolchain]\nchannel = "{d.release}"\n')
    done = invoke("build", "--all", cwd=root, env={"CARGO_TARGET_DIR": str(cargo_target_dir)})
    assert done.returncode == 3, done.stdout + done.stderr  # ToolMissing: this machine lacks what the pin needs
    assert "Traceback" not in done.stderr
    assert f"the toolchain pin cannot be kept, nothing is built: {ARM}: rustc is pinned to {d.release}" in done.stderr
    assert f"pin {machine.other.rustc_info.release} (toolchain {machine.other.label} has it)" in done.stderr
    assert HOST + ":" not in done.stderr.split("nothing is built:", 1)[1]  # the host could keep it: not named
    # Nothing was built, not even the host that could have kept the pin.
    assert "$ " not in done.stderr and not (root / "dist/.wavrybuild/bin").exists()
