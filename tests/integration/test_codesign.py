"""One set of signed bytes: the codesign stage Authenticode-signs the Windows binaries once (real
osslsigncode, the throwaway certificate of test_sign.py), and the .zip, the wheel and the npm
package all carry that same signed .exe; `invoke verify` compares every copy of every binary
across the release's artifacts and fails, naming both artifacts and the member, when one differs.
(The MSI, setup.exe, .dmg, .deb and .rpm copies are compared in test_desktop.py, whose release
makes them.)"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.integration.test_npm import NPM_TARGETS
from tests.integration.test_sign import PASS, Keys, keys  # noqa: F401  (the throwaway keys fixture)

WIN = "x86_64-pc-windows-gnu"
ZIP = f"wavry-demo-0.1.0-{WIN}.zip"
NPM_WIN = "wavry-demo-win32-x64-0.1.0.tgz"


def _section(k: Keys) -> str:
    return f"""
[sign]
methods = ["authenticode"]

[sign.authenticode]
pkcs12 = "{k.dir / 'code.p12'}"
ca = "{k.dir / 'code.pem'}"

[channels.pypi]
name = "wavry-demo"
license = "MIT"

[channels.npm]
name = "@wavry/demo"
access = "public"
targets = {json.dumps(NPM_TARGETS)}
"""


@dataclass
class Signed:
    root: Path
    env: dict[str, str]
    output: str

    @property
    def dist(self) -> Path:
        return self.root / "dist"


def _project(packaged, k: Keys, where: Path) -> Path:
    root = where / "p"
    shutil.copytree(packaged.root, root)
    (root / "targets.toml").write_text((root / "targets.toml").read_text() + _section(k))
    return root


@pytest.fixture(scope="module")
def signed(packaged, keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Signed:  # noqa: F811
    root = _project(packaged, keys, tmp_path_factory.mktemp("codesign"))
    env = {**packaged.env, "WAVRYBUILD_AUTHENTICODE_PASSWORD": PASS}
    done = invoke("release", "--no-publish", cwd=root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return Signed(root, env, done.stdout + done.stderr)


def _wheel(dist: Path, target_tag: str) -> Path:
    return next(p for p in dist.glob("*.whl") if target_tag in p.name)


def _exe_in_zip(path: Path, suffix: str = "/wavry-demo.exe") -> bytes:
    with zipfile.ZipFile(path) as zf:
        return zf.read(next(n for n in zf.namelist() if n.endswith(suffix)))


def _exe_in_tgz(path: Path) -> bytes:
    with tarfile.open(path) as tf:
        member = next(m for m in tf.getmembers() if m.name.endswith("/wavry-demo.exe"))
        f = tf.extractfile(member)
        assert f is not None
        return f.read()


def _osslsigncode_verify(data: bytes, k: Keys, where: Path) -> subprocess.CompletedProcess:
    exe = where / "extracted.exe"
    exe.write_bytes(data)
    return subprocess.run(["osslsigncode", "verify", "-in", str(exe), "-CAfile", str(k.dir / "code.pem")],
                          capture_output=True, text=True, check=False)


def test_windows_wheel_and_npm_package_carry_the_signed_exe(signed: Signed, keys: Keys, tmp_path: Path) -> None:  # noqa: F811
    in_zip = _exe_in_zip(signed.dist / ZIP)
    in_wheel = _exe_in_zip(_wheel(signed.dist, "win_amd64"))
    in_npm = _exe_in_tgz(signed.dist / NPM_WIN)
    assert in_wheel == in_zip and in_npm == in_zip
    unsigned = (signed.dist / ".wavrybuild" / "bin" / WIN / "wavry-demo.exe").read_bytes()
    assert in_zip != unsigned  # the build's own output stays unsigned; the artifacts carry the signed copy
    done = _osslsigncode_verify(in_wheel, keys, tmp_path)
    assert done.returncode == 0 and "Signature verification: ok" in done.stdout, done.stdout + done.stderr
    manifest = json.loads((signed.dist / "manifest.json").read_text())
    flags = {a["path"]: a["authenticode"] for a in manifest["artifacts"] if a["target"] == WIN}
    assert all(flags.values()) and len(flags) == 3, flags  # zip, wheel, npm package
    assert PASS not in signed.output


def test_verify_compares_every_copy_and_checks_the_wheels_signature(signed: Signed) -> None:
    done = invoke("verify", cwd=signed.root, env=signed.env)
    assert done.returncode == 0, done.stdout + done.stderr
    from wavrybuild.verify import copies

    manifest = json.loads((signed.dist / "manifest.json").read_text())
    found = copies.collect(signed.dist, manifest["artifacts"])
    assert not found.unread
    win = found.copies[(WIN, "wavry-demo")]
    assert {c.artifact for c in win} == {ZIP, _wheel(signed.dist, "win_amd64").name, NPM_WIN}
    assert len({c.sha256 for c in win}) == 1
    elf = found.copies[("x86_64-unknown-linux-musl", "wavry-demo")]  # an ELF binary: archive, wheel, npm
    assert len({c.artifact for c in elf}) == 3 and len({c.sha256 for c in elf}) == 1
    # the .exe inside the wheel and the npm package is checked with osslsigncode too
    from wavrybuild.config import load
    from wavrybuild.verify.audit import verify_signatures

    checks = verify_signatures(signed.dist, load(signed.root / "targets.toml"))
    checked = {c.name.split(":")[0] for c in checks if c.ok and c.name.endswith(".exe")}
    assert {ZIP, _wheel(signed.dist, "win_amd64").name, NPM_WIN} <= checked, checks


def _resum(dist: Path, name: str) -> None:
    """Make SHA256SUMS and the manifest vouch for the changed `name`: only the copies check can object."""
    digest = hashlib.sha256((dist / name).read_bytes()).hexdigest()
    sums = [line if not line.endswith(f" {name}") else f"{digest}  {name}"
            for line in (dist / "SHA256SUMS").read_text().splitlines()]
    (dist / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    manifest = json.loads((dist / "manifest.json").read_text())
    for a in manifest["artifacts"]:
        if a["path"] == name:
            a["sha256"], a["size"] = digest, (dist / name).stat().st_size
    (dist / "manifest.json").write_text(json.dumps(manifest, indent=2))


def test_verify_fails_when_one_copy_differs(signed: Signed, tmp_path: Path) -> None:
    dist = tmp_path / "release"
    shutil.copytree(signed.dist, dist, ignore=shutil.ignore_patterns(".wavrybuild"))
    wheel = _wheel(dist, "win_amd64")
    out = io.BytesIO()
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("/wavry-demo.exe"):
                member = info.filename
                data = data[:-1] + bytes([data[-1] ^ 0xFF])  # one byte of the signed .exe
            dst.writestr(info, data)
    wheel.write_bytes(out.getvalue())
    _resum(dist, wheel.name)
    done = invoke("verify", "--directory", str(dist), cwd=signed.root, env=signed.env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{WIN}/wavry-demo (copies-differ)" in done.stderr, done.stderr
    from wavrybuild.verify import copies

    manifest = json.loads((dist / "manifest.json").read_text())
    verdicts = {v.name: v for v in copies.compare(copies.collect(dist, manifest["artifacts"]))}
    bad = verdicts[f"{WIN}/wavry-demo"]
    assert not bad.ok and f"{wheel.name}:{member}" in bad.detail and ZIP in bad.detail
    assert verdicts[f"{WIN}/wavry-hello"].ok  # the other binary is still one set of bytes


def _digests(dist: Path) -> dict[str, str]:
    """Every file of dist/ (the state directory's too) but the runner's log of steps and the staging area."""
    files = {p.relative_to(dist).as_posix(): p for p in sorted(dist.rglob("*")) if p.is_file()}
    return {rel: hashlib.sha256(p.read_bytes()).hexdigest() for rel, p in files.items()
            if rel != ".wavrybuild/steps.json" and not rel.startswith(".wavrybuild/tmp/")}


def test_rerun_signs_nothing_and_changes_no_byte(signed: Signed) -> None:
    before = _digests(signed.dist)
    record = (signed.dist / ".wavrybuild" / "build.json").read_text()
    signed_copy = signed.dist / ".wavrybuild" / "codesigned" / WIN / "wavry-demo.exe"
    mtime = signed_copy.stat().st_mtime_ns
    done = invoke("release", "--no-publish", cwd=signed.root, env=signed.env)
    assert done.returncode == 0, done.stdout + done.stderr
    # The build record first, whole: which entry a rerun would change says why.
    assert (signed.dist / ".wavrybuild" / "build.json").read_text() == record, done.stdout + done.stderr
    # --force skips the resume key: the note beside each signed copy still says it is current.
    forced = invoke("codesign", "--force", cwd=signed.root, env=signed.env)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "unchanged" in forced.stdout and "osslsigncode sign" not in forced.stdout
    assert _digests(signed.dist) == before
    assert signed_copy.stat().st_mtime_ns == mtime


def test_dry_shows_the_osslsigncode_commands_without_the_password(signed: Signed) -> None:
    done = invoke("codesign", "--dry", "--force", cwd=signed.root, env=signed.env)
    assert done.returncode == 0, done.stdout + done.stderr
    out = " ".join((done.stdout + done.stderr).split())  # commands are echoed on stderr
    assert "osslsigncode sign -pkcs12" in out and "-readpass" in out and "wavry-hello.exe" in out
    assert PASS not in done.stdout + done.stderr


def test_no_stage_takes_an_unsigned_windows_binary(packaged, keys: Keys, tmp_path: Path) -> None:  # noqa: F811
    root = _project(packaged, keys, tmp_path)
    before = _digests(root / "dist")
    env = {**packaged.env, "WAVRYBUILD_AUTHENTICODE_PASSWORD": PASS}
    for task in ("package", "wheel"):
        done = invoke(task, cwd=root, env=env)
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"{WIN}: wavry-demo is not Authenticode-signed yet" in done.stderr
        assert f"invoke codesign --target {WIN}" in done.stderr and "Traceback" not in done.stderr
    assert _digests(root / "dist") == before  # nothing half-written
