"""Packaging, checksums and verify on real builds; reproducibility across checkouts; crash safety."""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

from tests.conftest import REPO, git_commit, invoke, write_project

TARGETS = ["x86_64-unknown-linux-gnu", "x86_64-unknown-linux-gnu.2.17", "aarch64-unknown-linux-gnu",
           "x86_64-unknown-linux-musl", "aarch64-apple-darwin", "x86_64-pc-windows-gnu"]


def _ext(target: str) -> str:
    return ".zip" if "windows" in target else ".tar.gz"


def _archives(dist: Path) -> list[Path]:
    return sorted([*dist.glob("*.tar.gz"), *dist.glob("*.zip")])


def test_archive_names_contents_and_modes(packaged) -> None:
    dist = packaged.dist
    assert [p.name for p in _archives(dist)] == sorted(f"wavry-demo-0.1.0-{t}{_ext(t)}" for t in TARGETS)
    for t in ("x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu", "aarch64-apple-darwin"):
        path = dist / f"wavry-demo-0.1.0-{t}.tar.gz"
        top = f"wavry-demo-0.1.0-{t}"
        with tarfile.open(path) as tar:
            members = tar.getmembers()
        names = [m.name for m in members]
        # LICENSE and README.md: the crate's own documents, in by default ([package] crate-docs).
        assert names == [top, f"{top}/completions", f"{top}/LICENSE", f"{top}/README.md",
                         f"{top}/completions/wavry-demo.bash", f"{top}/wavry-demo", f"{top}/wavry-hello"]
        modes = {m.name.removeprefix(top + "/"): m.mode for m in members}
        assert modes["wavry-demo"] == modes["wavry-hello"] == 0o755
        assert modes["LICENSE"] == modes["README.md"] == 0o644
        assert all(m.uid == 0 and m.gid == 0 and m.uname == "" and m.gname == "" for m in members)
        # Every mtime is the commit time (2026-01-02T03:04:05Z); the gzip header has none and no name.
        assert {m.mtime for m in members} == {1767323045}
        raw = path.read_bytes()
        assert raw[4:8] == b"\0\0\0\0" and not raw[3] & 0x08  # MTIME zero, FNAME flag unset
    # Windows: a zip with the same layout, unix modes kept in the entries, and the fixed date.
    top = "wavry-demo-0.1.0-x86_64-pc-windows-gnu"
    with zipfile.ZipFile(dist / f"{top}.zip") as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == [f"{top}/", f"{top}/completions/", f"{top}/LICENSE", f"{top}/README.md",
                                           f"{top}/completions/wavry-demo.bash", f"{top}/wavry-demo.exe",
                                           f"{top}/wavry-hello.exe"]
    modes = {i.filename.removeprefix(top + "/"): (i.external_attr >> 16) & 0o777 for i in infos}
    assert modes["wavry-demo.exe"] == 0o755 and modes["LICENSE"] == 0o644
    assert {i.date_time for i in infos} == {(2026, 1, 2, 3, 4, 4)}  # zip keeps even seconds
    # The binary in the archive is the one that was built, and still runs.
    with tarfile.open(dist / "wavry-demo-0.1.0-x86_64-unknown-linux-gnu.tar.gz") as tar:
        data = tar.extractfile("wavry-demo-0.1.0-x86_64-unknown-linux-gnu/wavry-demo").read()
    assert data == (packaged.binary("x86_64-unknown-linux-gnu")).read_bytes()


def test_manifest_records_every_artifact_and_context(packaged) -> None:
    m = json.loads((packaged.dist / "manifest.json").read_text())
    assert m["schema"] == 1 and m["crate"] == "wavry-demo" and m["version"] == "0.1.0"
    assert len(m["git"]["commit"]) == 40 and m["git"]["dirty"] is False
    assert m["source_date_epoch"] == 1767323045 and m["source_date_epoch_from"] == "git commit time"
    assert m["tools"]["zig"] and m["tools"]["cargo-zigbuild"].startswith("cargo-zigbuild")
    assert any(v.startswith("rustc 1.") for v in m["tools"]["rustc"].values())
    assert m["wavrybuild"]
    by_target = {a["target"]: a for a in m["artifacts"]}
    assert sorted(by_target) == sorted(TARGETS)
    for a in m["artifacts"]:
        path = packaged.dist / a["path"]
        assert a["size"] == path.stat().st_size and a["kind"] == "archive"
        assert a["format"] == _ext(a["target"]).lstrip(".")
        assert a["sha256"] == subprocess.run(["sha256sum", str(path)], capture_output=True, text=True,
                                             check=True).stdout.split()[0]
    assert m["checksums"]["file"] == "SHA256SUMS"


def test_sha256sum_accepts_sums(packaged) -> None:
    done = subprocess.run(["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=packaged.dist,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": OK") == len(TARGETS)


def _dist_copy(packaged, tmp_path: Path) -> Path:
    copy = tmp_path / "dl"
    shutil.copytree(packaged.dist, copy, ignore=shutil.ignore_patterns(".wavrybuild"))
    return copy


def test_verify_passes_then_catches_tampering(packaged, tmp_path: Path) -> None:
    copy = _dist_copy(packaged, tmp_path)
    ok = invoke("verify", "--directory", str(copy), cwd=packaged.root)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count(" ok ") == len(TARGETS)

    victim = copy / "wavry-demo-0.1.0-aarch64-unknown-linux-gnu.tar.gz"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    bad = invoke("verify", "--directory", str(copy), cwd=packaged.root)
    assert bad.returncode == 1
    assert "wavry-demo-0.1.0-aarch64-unknown-linux-gnu.tar.gz (mismatch)" in bad.stderr
    assert subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=copy, capture_output=True).returncode != 0


def test_verify_reports_missing_and_unexpected(packaged, tmp_path: Path) -> None:
    copy = _dist_copy(packaged, tmp_path)
    (copy / "wavry-demo-0.1.0-aarch64-apple-darwin.tar.gz").unlink()
    (copy / "stray.bin").write_bytes(b"x")
    bad = invoke("verify", "--directory", str(copy), cwd=packaged.root)
    assert bad.returncode == 1
    assert "wavry-demo-0.1.0-aarch64-apple-darwin.tar.gz (missing)" in bad.stderr
    assert "stray.bin (unexpected)" in bad.stderr


def test_checksum_sidecars(packaged, tmp_path: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(packaged.root, root)
    done = invoke("checksum", "--sidecars", cwd=root, env=packaged.env)
    assert done.returncode == 0, done.stderr
    sidecars = sorted((root / "dist").glob("*.sha256"))
    assert len(sidecars) == len(TARGETS)
    for s in sidecars:
        check = subprocess.run(["sha256sum", "-c", s.name], cwd=root / "dist", capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    assert invoke("verify", cwd=root, env=packaged.env).returncode == 0


def test_two_clones_give_identical_archives(packaged, tmp_path: Path) -> None:
    """Another checkout of the same commit, at another path, another target dir, later: same bytes."""
    clone = tmp_path / "elsewhere" / "deeper" / "clone"
    subprocess.run(["git", "clone", "-q", str(packaged.root), str(clone)], check=True)
    (clone / "dist").mkdir()
    env = {"CARGO_TARGET_DIR": str(tmp_path / "other-target")}
    time.sleep(1.1)  # a different wall-clock second than the first build's
    for task in (["build", "--all"], ["package"], ["checksum"]):
        done = invoke(*task, cwd=clone, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
    ours = {p.name: p.read_bytes() for p in _archives(clone / "dist")}
    theirs = {p.name: p.read_bytes() for p in _archives(packaged.dist)}
    assert sorted(ours) == sorted(theirs) and len(ours) == len(TARGETS)
    differing = [n for n in ours if ours[n] != theirs[n]]
    assert not differing, f"not reproducible: {differing}"
    assert (clone / "dist/SHA256SUMS").read_bytes() == (packaged.dist / "SHA256SUMS").read_bytes()


def test_repackaging_unchanged_leaves_files_alone(packaged, tmp_path: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(packaged.root, root)
    before = {p.name: p.stat().st_mtime_ns for p in (root / "dist").iterdir() if p.is_file()}
    done = invoke("package", cwd=root, env=packaged.env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("│ unchanged") == len(TARGETS)
    after = {p.name: p.stat().st_mtime_ns for p in (root / "dist").iterdir() if p.is_file()}
    for name in before:
        if name.endswith((".tar.gz", ".zip")):
            assert before[name] == after[name]
    assert (root / "dist/SHA256SUMS").exists()  # nothing changed, so nothing was invalidated
    assert invoke("verify", cwd=root, env=packaged.env).returncode == 0


def _consistent(dist: Path) -> None:
    """What a killed package/checksum run may leave: complete files, and no checksum file that lies."""
    top = sorted(p.name for p in dist.iterdir() if not p.name.startswith("."))
    for name in top:
        assert name.endswith((".tar.gz", ".zip")) or name in ("SHA256SUMS", "manifest.json"), f"stray file {name}"
    for archive in _archives(dist):
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:  # a truncated zip has no central directory
                assert zf.testzip() is None
            continue
        with gzip.open(archive) as gz:  # a truncated gzip stream raises here
            while gz.read(1 << 20):
                pass
        subprocess.run(["tar", "-tzf", str(archive)], check=True, capture_output=True)
    if (dist / "SHA256SUMS").exists():
        check = subprocess.run(["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=dist, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    if (dist / "manifest.json").exists():
        m = json.loads((dist / "manifest.json").read_text())
        for a in m["artifacts"]:
            got = subprocess.run(["sha256sum", a["path"]], cwd=dist, capture_output=True, text=True, check=True)
            assert got.stdout.split()[0] == a["sha256"], f"manifest.json disagrees with {a['path']}"


def _with_blob(packaged, tmp_path: Path) -> Path:
    """A copy of the packaged project whose archives carry a large extra file: each takes a while to
    write, so that kills land mid-write."""
    root = tmp_path / "p"
    shutil.copytree(packaged.root, root)
    toml = (root / "targets.toml").read_text().replace('"completions/*"]', '"completions/*", "assets/*"]')
    (root / "targets.toml").write_text(toml)
    (root / "demo/assets").mkdir()
    return root


def _kill_rounds(root: Path, env: dict[str, str], argvs: list[list[str]], blob_mib: int, late: float,
                 rng: random.Random) -> int:
    """Each argv started with new blob content (so archives change) and SIGKILLed at a random moment;
    dist/ must be consistent after every kill. Returns how many kills landed while it ran."""
    killed_while_running = 0
    for argv in argvs:
        (root / "demo/assets/blob.bin").write_bytes(rng.randbytes(blob_mib << 20))
        proc = subprocess.Popen([sys.executable, "-m", "invoke", *argv], cwd=root, env={**os.environ, **env},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, late))
        if proc.poll() is None:
            killed_while_running += 1
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _consistent(root / "dist")
    return killed_while_running


def test_sigkill_mid_package_leaves_dist_consistent(packaged, tmp_path: Path) -> None:
    root = _with_blob(packaged, tmp_path)
    rng = random.Random(1234)
    argvs = [["checksum"] if round_ % 3 == 2 else ["package"] for round_ in range(8)]
    assert _kill_rounds(root, packaged.env, argvs, 24, 4.0, rng) >= 4
    # A rerun completes it.
    for task in ("package", "checksum", "verify"):
        done = invoke(task, cwd=root, env=packaged.env)
        assert done.returncode == 0, done.stdout + done.stderr
    _consistent(root / "dist")


def test_bad_package_input(tmp_path: Path, packaged) -> None:
    base = (REPO / "targets.toml").read_text()
    cases = {
        "dotdot": (base.replace('"completions/*"]', '"../secret"]'), "would reach outside the crate directory"),
        "absolute": (base.replace('"completions/*"]', '"/etc/passwd"]'), "would reach outside the crate directory"),
        "missing": (base.replace('"completions/*"]', '"completions/*", "LICENSE-APACHE"]'),
                    "'LICENSE-APACHE' matches no file"),
        "symlink": (base.replace('"completions/*"]', '"leak.txt"]'), "outside the crate directory"),
        "format": (base.replace('format = "tar.gz"', 'format = "tar.bz2"'), "package.format: expected one of"),
    }
    for name, (toml, needle) in cases.items():
        root = tmp_path / name
        shutil.copytree(packaged.root, root)
        (root / "targets.toml").write_text(toml)
        (tmp_path / "secret.txt").write_text("secret")
        (root / "demo/leak.txt").symlink_to(tmp_path / "secret.txt")
        before = sorted(p.name for p in (root / "dist").iterdir())
        for p in _archives(root / "dist"):
            p.unlink()
        done = invoke("package", cwd=root, env=packaged.env)
        assert done.returncode == 2, (name, done.stderr)
        assert needle in done.stderr, (name, done.stderr)
        assert not _archives(root / "dist"), name
        assert before  # the dist dir existed and was left alone apart from what we removed


def test_package_refuses_unbuilt_target(tmp_path: Path) -> None:
    root = write_project(tmp_path, '[project]\ncrate="demo"\n[targets.aarch64-unknown-linux-gnu]\n')
    git_commit(root)
    done = invoke("package", cwd=root)
    assert done.returncode == 1
    assert "aarch64-unknown-linux-gnu: nothing to package: not built" in done.stderr
    assert not (root / "dist").exists() or not list((root / "dist").glob("*.tar.gz"))


def test_single_target_rerun_after_a_kill_between_archives_and_manifest(packaged, tmp_path: Path) -> None:
    """The state a SIGKILL right after `package --target X` replaced its archive leaves: archives in
    place, manifest.json and SHA256SUMS removed. Rerunning the same command repairs all of it."""
    root = tmp_path / "p"
    shutil.copytree(packaged.root, root)
    dist = root / "dist"
    for name in ("manifest.json", "SHA256SUMS"):
        (dist / name).unlink()
    done = invoke("package", "--target", "x86_64-unknown-linux-musl", cwd=root, env=packaged.env)
    assert done.returncode == 0, done.stdout + done.stderr
    listed = {a["target"] for a in json.loads((dist / "manifest.json").read_text())["artifacts"]}
    assert listed == set(TARGETS)
    for task in ("checksum", "verify"):
        done = invoke(task, cwd=root, env=packaged.env)
        assert done.returncode == 0, done.stdout + done.stderr
    _consistent(dist)


def test_sigkill_of_single_target_packages_then_the_same_command_repairs(packaged, tmp_path: Path) -> None:
    """Kills of `package --target X` at random moments, for changing X; then rerunning only the
    last command (not a full `package`) leaves a dist/ that checksum and verify accept."""
    root = _with_blob(packaged, tmp_path)
    rng = random.Random(4321)
    argvs = [["package", "--target", rng.choice(TARGETS)] for _ in range(8)]
    assert _kill_rounds(root, packaged.env, argvs, 32, 1.8, rng) >= 3
    done = invoke(*argvs[-1], cwd=root, env=packaged.env)
    assert done.returncode == 0, done.stdout + done.stderr
    listed = {a["target"] for a in json.loads((root / "dist/manifest.json").read_text())["artifacts"]}
    assert listed == set(TARGETS)
    for task in ("checksum", "verify"):
        done = invoke(task, cwd=root, env=packaged.env)
        assert done.returncode == 0, (task, done.stdout + done.stderr)
    _consistent(root / "dist")
