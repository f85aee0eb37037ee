"""One toolchain per release: which rustc builds each target, the warning when they differ, and a
version pin kept or refused. The machine is described by sysroots on disk and the `rustc -vV` each
toolchain answers (typed probe results); the planning code is real."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import write_project
from tests.unit.test_plan import _sysroot, _target
from wavrybuild import proc
from wavrybuild.config import load
from wavrybuild.errors import ConfigError
from wavrybuild.manifest import Manifest
from wavrybuild.provenance import slsa
from wavrybuild.record import BuildRecord, TargetRecord
from wavrybuild.rustc import RustcVersion, pinned_release
from wavrybuild.toolchain import pins
from wavrybuild.toolchain.pins import Pin
from wavrybuild.toolchain.probe import RustToolchain, Tools, target_status
from wavrybuild.toolchain.versions import Chosen, mixed_warning, pin_stop

HOST = "x86_64-unknown-linux-gnu"
ARM = "aarch64-unknown-linux-gnu"
TOOLS = Tools(cargo="cargo 1.95.0", zig="0.17.1", zigbuild="cargo-zigbuild 0.24.1", host=HOST)

# What this machine's two toolchains answer (docs: ../shared/ENVIRONMENT.md).
STABLE_VV = ("rustc 1.95.0 (59807616e 2026-04-14)\nbinary: rustc\ncommit-hash: 59807616e1fa2540724bfbac14d7976d7e4a3860\n"
             "commit-date: 2026-04-14\nhost: x86_64-unknown-linux-gnu\nrelease: 1.95.0\nLLVM version: 22.1.2\n")
SYSTEM_VV = ("rustc 1.96.0 (ac68faa20 2026-05-25) (built from a source tarball)\nbinary: rustc\n"
             "commit-hash: ac68faa20c58cbccd01ee7208bf3b6e93a7d7f96\ncommit-date: 2026-05-25\n"
             "host: x86_64-unknown-linux-gnu\nrelease: 1.96.0\nLLVM version: 22.1.8\n")


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[RustToolchain, RustToolchain]:
    """rustup's stable (host std only, the default) and the distribution's Rust linked as `system`
    (host and aarch64 std, rust-src): this machine, as probe results."""
    real = proc.which
    monkeypatch.setattr(proc, "which", lambda p: real(p) or f"/usr/bin/{p}" if p in ("rustup", "cargo-zigbuild", "cc")
                        else real(p))
    stable = RustToolchain("stable-x86_64-unknown-linux-gnu", _sysroot(tmp_path / "stable", HOST), default=True,
                           probed=RustcVersion.parse(STABLE_VV))
    system = RustToolchain("system", _sysroot(tmp_path / "usr", HOST, ARM, src=True), probed=RustcVersion.parse(SYSTEM_VV))
    return stable, system


def _chosen(sts: list) -> list[Chosen]:  # type: ignore[type-arg]
    return [Chosen(s.target.id, s.std.toolchain.label, s.std.toolchain.rustc_info) for s in sts if s.std]


def test_rustc_vv_is_parsed_into_release_and_commit() -> None:
    v = RustcVersion.parse(SYSTEM_VV)
    assert (v.release, v.commit) == ("1.96.0", "ac68faa20c58cbccd01ee7208bf3b6e93a7d7f96")
    assert v.line == "rustc 1.96.0 (ac68faa20 2026-05-25) (built from a source tarball)"  # what build.json kept
    assert v.short == "rustc 1.96.0 (ac68faa20)"
    # A bare `rustc -V` (an older probe) still gives the release; the commit is unknown, not guessed.
    assert RustcVersion.parse("rustc 1.95.0 (59807616e 2026-04-14)").identity == ("1.95.0", "")
    assert RustcVersion.parse(None).release == "unknown"


def test_hostile_rustc_answers_become_no_commit() -> None:
    # A rustc wrapper's answer is outside input too: a "commit" that is not hex is not kept.
    v = RustcVersion.parse("rustc 1.96.0\ncommit-hash: $(reboot)\nrelease: 1.96.0\n")
    assert v.commit == "" and v.short == "rustc 1.96.0"
    assert RustcVersion.parse("\n\n").line == "unknown"


@pytest.mark.parametrize(("name", "release"), [
    ("1.96.0", "1.96.0"), ("1.96", "1.96"), ("1.96.0-x86_64-unknown-linux-gnu", "1.96.0"),
    ("1.97.0-beta.2", "1.97.0-beta.2"), ("stable", None), ("nightly-2026-05-19", None), ("system", None),
    ("stable-x86_64-unknown-linux-gnu", None), ("1.96.0; rm -rf /", None), ("../1.96", None),
])
def test_which_toolchain_names_are_versions(name: str, release: str | None) -> None:
    assert pinned_release(name) == release


def test_is_release_matches_a_pin() -> None:
    v = RustcVersion.parse(SYSTEM_VV)
    assert v.is_release("1.96.0") and v.is_release("1.96")
    assert not v.is_release("1.9") and not v.is_release("1.96.1") and not v.is_release("1.95.0")
    assert not RustcVersion("1.97.0-nightly", "", "").is_release("1.97")


def test_two_toolchains_give_one_warning_naming_each_target(machine) -> None:  # type: ignore[no-untyped-def]
    sts = [target_status(_target(t), TOOLS, machine) for t in (HOST, ARM)]
    assert [s.std.toolchain.label for s in sts if s.std] == ["stable", "system"]
    warning = mixed_warning(_chosen(sts))
    assert warning is not None
    assert f"{HOST}: rustc 1.95.0 (59807616e), toolchain stable" in warning
    assert f"{ARM}: rustc 1.96.0 (ac68faa20), toolchain system" in warning
    assert "2 different rustc versions" in warning


def test_one_toolchain_gives_no_warning_but_one_release_of_two_builds_does() -> None:
    one = RustcVersion.parse(SYSTEM_VV)
    assert mixed_warning([Chosen(HOST, "system", one), Chosen(ARM, "system", one)]) is None
    # Same release number, other sources: not the same compiler.
    other = RustcVersion("1.96.0", "0" * 40, "rustc 1.96.0 (000000000 2026-05-25)")
    warning = mixed_warning([Chosen(HOST, "a", one), Chosen(ARM, "b", other)])
    assert warning is not None and "rustc 1.96.0 (000000000)" in warning and "rustc 1.96.0 (ac68faa20)" in warning


def test_version_pin_moves_the_host_to_the_toolchain_that_has_every_std(machine) -> None:  # type: ignore[no-untyped-def]
    pin = Pin("1.96.0-x86_64-unknown-linux-gnu", "overridden by '/p/rust-toolchain.toml'", installed=False)
    sts = [target_status(_target(t), TOOLS, machine, pin=pin) for t in (HOST, ARM, "x86_64-unknown-linux-musl")]
    assert all(s.buildable and s.pin_problem is None for s in sts), [s.problems for s in sts]
    assert [(s.std.toolchain.label, s.std.mode) for s in sts if s.std] == [
        ("system", "installed"), ("system", "installed"), ("system", "build-std")]
    assert mixed_warning(_chosen(sts)) is None


def test_version_pin_no_toolchain_can_keep_stops_naming_the_target(machine) -> None:  # type: ignore[no-untyped-def]
    pin = Pin("1.95.0", "[project] rustc in targets.toml", installed=False)
    host, arm = (target_status(_target(t), TOOLS, machine, pin=pin) for t in (HOST, ARM))
    assert host.buildable and host.std is not None and host.std.toolchain.label == "stable"
    assert arm.std is None and arm.pin_problem is not None and arm.pin_problem in arm.problems
    assert "pinned to 1.95.0 ([project] rustc in targets.toml)" in arm.pin_problem
    assert f"rustup target add {ARM} --toolchain stable" in arm.pin_problem  # the 1.95.0 toolchain's rustup name
    assert "pin 1.96.0 (toolchain system has it)" in arm.pin_problem
    stop = pin_stop([(arm.target.id, arm.pin_problem)])
    assert stop.startswith(f"the toolchain pin cannot be kept, nothing is built: {ARM}: ")


def test_version_pin_of_no_installed_release_refuses_every_target(machine) -> None:  # type: ignore[no-untyped-def]
    pin = Pin("1.80.0-x86_64-unknown-linux-gnu", "overridden by 'rust-toolchain.toml'", installed=False)
    sts = [target_status(_target(t), TOOLS, machine, pin=pin) for t in (HOST, ARM)]
    assert all(s.pin_problem and "no installed 1.80.0 toolchain" in s.pin_problem for s in sts)


def test_named_pin_refuses_a_target_toolchain_of_another_release(machine) -> None:  # type: ignore[no-untyped-def]
    # targets.toml's per-target toolchain still wins over rust-toolchain.toml, but not over its release.
    pin = Pin("stable-x86_64-unknown-linux-gnu", "overridden by 'rust-toolchain.toml'", installed=True)
    host = target_status(_target(HOST), TOOLS, machine, pin=pin)
    arm = target_status(_target(ARM, toolchain="system"), TOOLS, machine, pin=pin)
    assert host.buildable and host.pin_problem is None
    assert arm.pin_problem is not None and "pinned to 1.95.0" in arm.pin_problem
    assert "its toolchain system is rustc 1.96.0 (ac68faa20)" in arm.pin_problem and f"targets.{ARM}.toolchain" in arm.pin_problem


def test_unpinned_statuses_have_no_pin_problem(machine) -> None:  # type: ignore[no-untyped-def]
    sts = [target_status(_target(t), TOOLS, machine) for t in (HOST, ARM, "riscv64gc-unknown-linux-gnu")]
    assert all(s.pin_problem is None for s in sts)


def test_project_rustc_key_is_the_pin(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", '[project]\ncrate = "demo"\nrustc = "1.96"\n[targets.x86_64-unknown-linux-gnu]\n')
    cfg = load(root / "targets.toml")
    pin = pins.config_pin(cfg.project)
    assert pin is not None and pin.name == "1.96" and pin.source == "[project] rustc in targets.toml"
    bare = write_project(tmp_path / "q", '[project]\ncrate = "demo"\n[targets.x86_64-unknown-linux-gnu]\n')
    assert pins.config_pin(load(bare / "targets.toml").project) is None


@pytest.mark.parametrize("value", ['"stable"', '"1.96.0; rm -rf /"', '"1.96.0\\nx = 1"', "1.96", '["1.96.0"]',
                                   '"1.96.0-nightly"', '"../1.96"', '""', '"1.96.0.1"', '"１.96.0"'])
def test_hostile_project_rustc_is_one_clear_error(tmp_path: Path, value: str) -> None:
    root = write_project(tmp_path / "p", f'[project]\ncrate = "demo"\nrustc = {value}\n[targets.x86_64-unknown-linux-gnu]\n')
    with pytest.raises(ConfigError) as err:
        load(root / "targets.toml")
    msg = err.value.message
    assert "project.rustc" in msg and 'a Rust release such as "1.96.0"' in msg
    assert "\n" not in msg  # the value's line break is shown escaped, never breaking the message


def _record(*targets: tuple[str, str, str, str | None]) -> BuildRecord:
    rec = BuildRecord()
    for tid, label, line, commit in targets:
        rec.targets[tid] = TargetRecord(id=tid, triple=tid, rust_target=tid, builder="cargo", toolchain=label,
                                        std="installed", ok=True, seconds=1.0, rustc=line, rustc_commit=commit)
    return rec


def test_provenance_names_each_compiler_with_the_targets_it_built() -> None:
    stable, system = RustcVersion.parse(STABLE_VV), RustcVersion.parse(SYSTEM_VV)
    rec = _record((HOST, "stable", stable.line, stable.commit), (ARM, "system", system.line, system.commit),
                  ("x86_64-unknown-linux-musl", "system", system.line, system.commit))
    manifest = Manifest(crate="demo", name="demo", version="1.0.0", git={}, source_date_epoch=0,
                        source_date_epoch_from="test", tools={})
    doc = slsa.statement(manifest, rec, {}, invocation=["invoke", "release"], config_sha256="0" * 64, remote=None)
    deps = doc["predicate"]["buildDefinition"]["resolvedDependencies"][1:]
    assert deps == [
        {"name": "stable", "digest": {"gitCommit": stable.commit}, "annotations": {"rustc": stable.line, "targets": [HOST]}},
        {"name": "system", "digest": {"gitCommit": system.commit},
         "annotations": {"rustc": system.line, "targets": [ARM, "x86_64-unknown-linux-musl"]}},
    ]


def test_build_record_keeps_the_set_of_versions_and_ignores_a_hostile_one(tmp_path: Path) -> None:
    rec = _record((HOST, "stable", "rustc 1.95.0 (59807616e 2026-04-14)", "59807616e1fa2540724bfbac14d7976d7e4a3860"))
    rec.rustc = ["rustc 1.95.0 (59807616e 2026-04-14)"]
    rec.save(tmp_path)
    back = BuildRecord.load(tmp_path)
    assert back.rustc == rec.rustc and back.targets[HOST].rustc_commit == rec.targets[HOST].rustc_commit
    data = json.loads(BuildRecord.path(tmp_path).read_text())
    data["rustc"] = [{"not": "a version"}, 7, "rustc 1.96.0"]
    BuildRecord.path(tmp_path).write_text(json.dumps(data))
    assert BuildRecord.load(tmp_path).rustc == ["rustc 1.96.0"]


def test_named_pin_without_the_std_stops_the_build_and_says_where_to_add_it(machine) -> None:  # type: ignore[no-untyped-def]
    pin = Pin("stable-x86_64-unknown-linux-gnu", "overridden by 'rust-toolchain.toml'", installed=True)
    arm = target_status(_target(ARM), TOOLS, machine, pin=pin)
    assert arm.std is None and arm.pin_problem is not None
    assert f"rustup target add {ARM} --toolchain stable-x86_64-unknown-linux-gnu" in arm.pin_problem
