"""Real cross builds of the demo crate for every target in the repo's targets.toml, run where possible."""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

from tests.conftest import invoke


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def _elf_machine(path: Path) -> int:
    head = path.read_bytes()[:20]
    assert head[:4] == b"\x7fELF", f"{path} is not an ELF file"
    return struct.unpack_from("<H", head, 18)[0]


def test_all_targets_built(release) -> None:
    assert release.build.returncode == 0, release.build.stderr[-3000:]
    rec = release.record
    assert set(rec["targets"]) == {
        "x86_64-unknown-linux-gnu", "x86_64-unknown-linux-gnu.2.17", "aarch64-unknown-linux-gnu",
        "x86_64-unknown-linux-musl", "aarch64-apple-darwin", "x86_64-pc-windows-gnu",
    }
    for tid, t in rec["targets"].items():
        assert t["ok"], (tid, t["error"])
        names = sorted(b["name"] for b in t["binaries"])
        assert names == ["wavry-demo", "wavry-hello"]
        suffix = ".exe" if "windows" in tid else ""
        assert sorted(Path(b["path"]).name for b in t["binaries"]) == [f"wavry-demo{suffix}", f"wavry-hello{suffix}"]
        for b in t["binaries"]:
            assert (release.dist / b["path"]).stat().st_size == b["size"] > 0
    # The summary table names every target and binary, with how long its cargo invocation took and how
    # busy it kept the cores (CPU seconds over wall seconds, from the child's own rusage).
    assert "aarch64-apple-darwin" in release.build.stdout and "wavry-hello" in release.build.stdout
    rows = [[c.strip() for c in line.split("│")] for line in release.build.stdout.splitlines()
            if "│" in line and "wavry-" in line]
    assert {r[1] for r in rows} == set(rec["targets"]), release.build.stdout
    for r in rows:
        assert re.fullmatch(r"\d+\.\d s", r[4]) and re.fullmatch(r"\d+\.\d/\d+", r[5]), r
    assert all(t["cpu_seconds"] is not None and t["cpu_seconds"] >= 0 for t in rec["targets"].values()), rec["targets"]
    assert re.search(r"build: \d+ cargo invocations in [\d.]+ s, [\d.]+ CPU s: cores busy \d+\.\d/\d+",
                     release.build.stderr), release.build.stderr[-3000:]
    # Piped (not a terminal), the lanes say their progress while they build, not only when they end:
    # '<targets>: compiling crate 37 (serde), 1m10s' at a lane's first crate, then every 30 s.
    progress = re.findall(r"^(\S[^\n]*): compiling crate \d+ \(\S+\), (?:\d+s|\d+m\d\ds|\d+h\d\dm)$",
                          release.build.stderr, re.M)
    assert progress, release.build.stderr[-3000:]
    assert all(set(label.split(", ")) <= set(rec["targets"]) for label in progress), progress


def test_x86_64_gnu_with_cargo_runs(release) -> None:
    t = release.record["targets"]["x86_64-unknown-linux-gnu"]
    assert t["builder"] == "cargo"
    out = _run([str(release.binary("x86_64-unknown-linux-gnu"))])
    assert out.strip() == "wavry-demo 0.1.0 (x86_64-unknown-linux-gnu)"
    # The renamed binary (its source file is hello.rs) was found through cargo's messages.
    out = _run([str(release.binary("x86_64-unknown-linux-gnu", "wavry-hello"))])
    assert out.strip() == "wavry-hello 0.1.0 (x86_64-unknown-linux-gnu): hello"


def _glibc_versions(path: Path) -> list[tuple[int, ...]]:
    text = _run(["readelf", "--version-info", "--wide", str(path)])
    return [tuple(int(x) for x in v.split(".")) for v in re.findall(r"GLIBC_(\d+(?:\.\d+)+)", text)]


def test_glibc_floor_2_17(release) -> None:
    t = release.record["targets"]["x86_64-unknown-linux-gnu.2.17"]
    assert t["builder"] == "zigbuild" and t["rust_target"] == "x86_64-unknown-linux-gnu.2.17"
    floor = release.binary("x86_64-unknown-linux-gnu.2.17")
    versions = _glibc_versions(floor)
    assert versions, "the binary links glibc, so it must require some GLIBC_ version"
    assert max(versions) <= (2, 17), f"requires GLIBC_{'.'.join(map(str, max(versions)))}"
    # The same source built against this machine's glibc needs newer symbols: the floor did something.
    assert max(_glibc_versions(release.binary("x86_64-unknown-linux-gnu"))) > (2, 17)
    assert _run([str(floor)]).strip() == "wavry-demo 0.1.0 (x86_64-unknown-linux-gnu)"


def test_aarch64_runs_under_qemu(release) -> None:
    binary = release.binary("aarch64-unknown-linux-gnu")
    assert _elf_machine(binary) == 183  # EM_AARCH64
    out = _run(["qemu-aarch64", str(binary), "--version"])
    assert out.strip() == "wavry-demo 0.1.0 (aarch64-unknown-linux-gnu)"


def test_musl_is_static_and_runs(release) -> None:
    binary = release.binary("x86_64-unknown-linux-musl")
    assert _elf_machine(binary) == 62  # EM_X86_64
    headers = _run(["readelf", "--program-headers", "--dynamic", "--wide", str(binary)])
    assert "INTERP" not in headers and "(NEEDED)" not in headers, headers
    assert _run([str(binary)]).strip() == "wavry-demo 0.1.0 (x86_64-unknown-linux-musl)"


def test_aarch64_darwin_is_macho_arm64_executable(release) -> None:
    data = release.binary("aarch64-apple-darwin").read_bytes()
    magic, cputype, _sub, filetype = struct.unpack_from("<IiiI", data, 0)
    assert magic == 0xFEEDFACF  # MH_MAGIC_64
    assert cputype == 0x0100000C  # CPU_TYPE_ARM64
    assert filetype == 2  # MH_EXECUTE


def test_smoke_runs_what_can_run_and_skips_the_rest(release) -> None:
    done = invoke("smoke", cwd=release.root, env=release.env)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split("│")[1].strip() + "/" + line.split("│")[2].strip(): line
            for line in done.stdout.splitlines() if line.count("│") >= 5 and "wavry-" in line}
    assert len(rows) == 12, done.stdout
    for key, line in rows.items():
        if key.startswith("aarch64-apple-darwin/"):
            assert "skipped" in line and "macOS" in line
        elif key.startswith("x86_64-pc-windows-gnu/"):
            assert "skipped" in line and "Windows" in line
        else:
            assert "passed" in line, line
    assert "qemu" in rows["aarch64-unknown-linux-gnu/wavry-demo"]


def test_smoke_fails_on_unexpected_output(release, tmp_path: Path) -> None:
    toml = (release.root / "targets.toml").read_text().replace(
        'smoke-expect = "{version} ({triple})"', 'smoke-expect = "version 9.9.9"')
    bad = tmp_path / "targets.toml"
    bad.write_text(toml.replace('crate = "demo"', f'crate = "{release.root / "demo"}"').replace(
        'dist = "dist"', f'dist = "{release.dist}"'))
    done = invoke("smoke", "--target", "x86_64-unknown-linux-gnu", "--config", str(bad), cwd=release.root, env=release.env)
    assert done.returncode == 1
    assert "output lacks 'version 9.9.9'" in done.stderr


def test_noop_rebuild_skips_cargo_and_force_uses_github_groups(release) -> None:
    targets = ["--target", "x86_64-unknown-linux-gnu", "--target", "aarch64-unknown-linux-gnu"]
    again = invoke("build", *targets, cwd=release.root, env=release.env)
    assert again.returncode == 0, again.stderr
    # Nothing changed: neither cargo nor cargo-zigbuild was started.
    assert "$ " not in again.stderr and again.stdout.count("up to date") == 4
    done = invoke("build", *targets, "--force", cwd=release.root, env={**release.env, "GITHUB_ACTIONS": "true"})
    assert done.returncode == 0, done.stderr
    # One log group per cargo invocation, whether they ran one after the other or at once.
    assert done.stderr.count("::group::build ") == 2 and done.stderr.count("::endgroup::") == 2
    # A partial build updates its targets and keeps the others' records.
    assert len(release.record["targets"]) == 6


def test_source_change_rebuilds(release, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "p"
    shutil.copytree(release.root, root)
    target = ["--target", "x86_64-unknown-linux-gnu"]
    assert invoke("build", *target, cwd=root, env=release.env).returncode == 0  # new path: new remap flags
    assert "up to date" in invoke("build", *target, cwd=root, env=release.env).stdout
    main = root / "demo/src/main.rs"
    main.write_text(main.read_text().replace('Some("-V")', 'Some("-V") | Some("--ver")'))
    done = invoke("build", "--target", "x86_64-unknown-linux-gnu", cwd=root, env=release.env)
    assert done.returncode == 0, done.stderr
    assert "$ " in done.stderr and "up to date" not in done.stdout
    assert _run([str(root / "dist/.wavrybuild/bin/x86_64-unknown-linux-gnu/wavry-demo"), "--ver"]).startswith("wavry-demo")


def test_another_checkout_shares_std_but_never_the_crate(release, tmp_path: Path, cargo_target_dir: Path) -> None:
    """A second checkout in the same target dir: std (built from source for musl) and everything else
    that does not name the checkout is reused, the workspace's own crate never is, even when its
    sources are older than the first checkout's artifacts (cargo's mtime check alone would hand that
    binary over: the path remap that made cargo see the difference no longer reaches cargo's flags)."""
    import os
    import shutil

    root = tmp_path / "other"
    shutil.copytree(release.root, root)  # copy2: the sources keep their (old) mtimes
    main = root / "demo/src/main.rs"
    old = main.stat()
    main.write_text(main.read_text().replace('Some("-V")', 'Some("-V") | Some("--other-checkout")'))
    os.utime(main, ns=(old.st_atime_ns, old.st_mtime_ns))
    # musl's build dir inside the target dir: zigbuild with std from source (build/plan.py build_dir_name).
    [deps] = cargo_target_dir.glob("wavrybuild/zigbuild-build-std-*/x86_64-unknown-linux-musl/release/deps")
    std = {p: p.stat().st_mtime_ns for p in deps.glob("libstd-*.rlib")}
    assert std, sorted(deps.iterdir())
    targets = ["--target", "x86_64-unknown-linux-gnu", "--target", "x86_64-unknown-linux-musl"]
    done = invoke("build", *targets, cwd=root, env=release.env)
    assert done.returncode == 0, done.stdout + done.stderr
    for triple in ("x86_64-unknown-linux-gnu", "x86_64-unknown-linux-musl"):
        binary = root / f"dist/.wavrybuild/bin/{triple}/wavry-demo"
        assert _run([str(binary), "--other-checkout"]).startswith("wavry-demo"), triple
    # std was compiled once for this target dir, not again for the checkout at another path.
    assert {p: p.stat().st_mtime_ns for p in deps.glob("libstd-*.rlib")} == std
    # And the first checkout, built again, gets its own crate back (not the other's).
    done = invoke("build", *targets, "--force", cwd=release.root, env=release.env)
    assert done.returncode == 0, done.stdout + done.stderr
    first = subprocess.run([str(release.binary("x86_64-unknown-linux-musl")), "--other-checkout"],
                           capture_output=True, text=True, timeout=60, check=False)
    assert first.returncode == 2 and "unknown argument" in first.stderr, first


def test_dry_prints_every_command_and_builds_nothing(release, tmp_path: Path) -> None:
    from tests.conftest import REPO, write_project

    root = write_project(tmp_path / "p", (REPO / "targets.toml").read_text())
    done = invoke("build", "--all", "--dry", cwd=root, env=release.env)
    assert done.returncode == 0, done.stderr
    # musl and macOS differ only in their own flags: one invocation; the rest each their own.
    commands = [ln for ln in done.stderr.splitlines() if ln.startswith("(dry) $")]
    assert len(commands) == 5, commands
    assert any("--target x86_64-unknown-linux-musl --config" in c and "--target aarch64-apple-darwin --config" in c
               for c in commands)
    assert "(dry) 5 cargo invocations, 2 at a time" in done.stderr
    # Each its own build dir (builder, std, toolchain, host triple or not), whatever else is built.
    dirs = {c.split("--target-dir ")[1].split()[0] for c in commands}
    assert len(dirs) == 5 and all("/wavrybuild/" in d for d in dirs), dirs
    assert "cargo-zigbuild zigbuild --target aarch64-unknown-linux-gnu" in done.stderr
    assert "-Zbuild-std=std,panic_abort" in done.stderr
    assert not (root / "dist").exists()


def test_windows_gnu_is_pe32_plus(release) -> None:
    t = release.record["targets"]["x86_64-pc-windows-gnu"]
    assert t["builder"] == "cargo" and t["std"] == "build-std"
    data = release.binary("x86_64-pc-windows-gnu", "wavry-demo.exe").read_bytes()
    assert data[:2] == b"MZ"
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    assert data[pe:pe + 4] == b"PE\0\0"
    assert struct.unpack_from("<H", data, pe + 4)[0] == 0x8664  # IMAGE_FILE_MACHINE_AMD64
    assert struct.unpack_from("<H", data, pe + 24)[0] == 0x20B  # PE32+


def test_invokes_hide_and_echo_flags(release) -> None:
    """invoke's --hide hides the tools' own output (cargo's "Compiling …"), never our messages or the
    command itself; --echo is what every task does anyway: the command is shown."""
    target = ["--target", "x86_64-unknown-linux-gnu", "--force"]
    main = release.root / "demo/src/main.rs"
    main.touch()  # --force runs cargo; a newer source makes cargo compile (and say so)
    shown = invoke("--echo", "build", *target, cwd=release.root, env=release.env)
    assert shown.returncode == 0, shown.stderr
    assert "$ " in shown.stderr and "Compiling wavry-demo" in shown.stderr
    main.touch()
    hidden = invoke("--hide=both", "build", *target, cwd=release.root, env=release.env)
    assert hidden.returncode == 0, hidden.stderr
    assert "$ " in hidden.stderr and "Compiling" not in hidden.stderr
    assert "x86_64-unknown-linux-gnu" in hidden.stdout  # the build table is a result, not tool output
