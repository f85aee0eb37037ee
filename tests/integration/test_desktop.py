"""[desktop], for real: the demo built as a universal2 macOS binary, for Windows and for Linux, and
released as a .app in a .dmg, an MSI and an NSIS setup.exe (Authenticode-signed with a throwaway
certificate), and .deb/.rpm carrying a desktop entry and icons — each checked with the tools a
user has (7-Zip, xorriso, msitools, osslsigncode, dpkg, rpm, desktop-file-validate), then made
again from a second clone and compared byte for byte.

Developer ID signing and notarization need Apple's servers and a macOS runner or rcodesign: their
plans are unit-tested (tests/unit/test_desktop_config.py)."""

from __future__ import annotations

import hashlib
import json
import os
import plistlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import git_commit, invoke, write_project
from tests.integration.test_sign import PASS, Keys, keys  # noqa: F401  (the throwaway keys fixture)
from tests.unit.test_desktop_config import png
from wavrybuild.build import macho

APP = "Wavry Demo"
DMG = "wavry-demo-0.1.0-universal2-apple-darwin.dmg"
MSI = "wavry-demo-0.1.0-x86_64-pc-windows-gnu.msi"
SETUP = "wavry-demo-0.1.0-x86_64-pc-windows-gnu-setup.exe"
DEB = "wavry-demo_0.1.0-1_amd64.deb"
RPM = "wavry-demo-0.1.0-1.x86_64.rpm"
INSTALLERS = (DMG, MSI, SETUP, DEB, RPM)


def _run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kw)


def targets_toml(k: Keys) -> str:
    return f"""
[project]
crate = "demo"
binaries = ["wavry-demo", "wavry-hello"]

[defaults]
smoke-expect = "{{version}} ({{triple}})"

[targets.universal2-apple-darwin]
[targets.x86_64-pc-windows-gnu]
[targets.x86_64-unknown-linux-gnu]
builder = "cargo"

[desktop]
name = "{APP}"
bundle-id = "com.example.wavry-demo"
icon = "icon.png"
category = "public.app-category.developer-tools"

[desktop.linux]
categories = ["Development"]

[channels.deb]
[channels.rpm]

[release]

[sign]
methods = ["gpg", "authenticode"]

[sign.gpg]
key = "{k.gpg_fpr}"
homedir = "{k.gnupghome}"
public-key = "{k.dir / 'gpg.pub.asc'}"

[sign.authenticode]
pkcs12 = "{k.dir / 'code.p12'}"
ca = "{k.dir / 'code.pem'}"
"""


@dataclass
class Desktop:
    root: Path
    env: dict[str, str]
    keys: Keys
    outputs: str

    @property
    def dist(self) -> Path:
        return self.root / "dist"


def _project(where: Path, k: Keys) -> Path:
    root = write_project(where, targets_toml(k))
    png(root / "icon.png", 512)
    git_commit(root)
    return root


@pytest.fixture(scope="module")
def desktop(tmp_path_factory: pytest.TempPathFactory, cargo_target_dir: Path, keys: Keys) -> Desktop:  # noqa: F811
    root = _project(tmp_path_factory.mktemp("desktop") / "p", keys)
    env = {"CARGO_TARGET_DIR": str(cargo_target_dir), "WAVRYBUILD_GPG_PASSPHRASE": PASS,
           "WAVRYBUILD_AUTHENTICODE_PASSWORD": PASS}
    done = invoke("release", "--no-publish", cwd=root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return Desktop(root, env, keys, done.stdout + done.stderr)


def test_universal2_binary_has_both_slices_and_a_valid_arm64_signature(desktop: Desktop) -> None:
    binary = desktop.dist / ".wavrybuild" / "bin" / "universal2-apple-darwin" / "wavry-demo"
    described = _run(["file", str(binary)]).stdout
    assert "Mach-O universal binary with 2 architectures" in described and "x86_64" in described and "arm64" in described
    slices = macho.slices(binary.read_bytes())
    assert sorted(s.arch for s in slices) == ["arm64", "x86_64"]
    arm = next(s for s in slices if s.arch == "arm64")
    assert macho.signature_problems(arm) == []  # every page hash matches
    # The check is real: one flipped byte in the code is found.
    tampered = bytearray(arm.data)
    tampered[0x4000 + 10] ^= 1
    assert macho.signature_problems(macho.read_thin(bytes(tampered)))


def test_dmg_holds_the_app_and_an_applications_link(desktop: Desktop, tmp_path: Path) -> None:
    dmg = desktop.dist / DMG
    assert "ISO 9660" in _run(["file", str(dmg)]).stdout
    listing = _run(["7z", "l", "-tHFS", str(dmg)])
    assert listing.returncode == 0 and f"{APP}.app/Contents/MacOS/wavry-demo" in listing.stdout, listing.stdout
    done = _run(["7z", "x", "-tHFS", f"-o{tmp_path}", str(dmg)])
    assert done.returncode == 0, done.stdout + done.stderr
    app = next(tmp_path.rglob(f"{APP}.app"))
    info = plistlib.loads((app / "Contents" / "Info.plist").read_bytes())
    assert info["CFBundleIdentifier"] == "com.example.wavry-demo" and info["CFBundleShortVersionString"] == "0.1.0"
    exe = app / "Contents" / "MacOS" / info["CFBundleExecutable"]
    built = desktop.dist / ".wavrybuild" / "bin" / "universal2-apple-darwin" / "wavry-demo"
    assert exe.read_bytes() == built.read_bytes()  # the universal binary itself is the app
    icns = app / "Contents" / "Resources" / f"{info['CFBundleIconFile']}.icns"
    assert icns.read_bytes()[:4] == b"icns"
    # The HFS+ side keeps the /Applications symlink users drag the app onto.
    links = _run(["xorriso", "-indev", str(dmg), "-lsl", "/"]).stdout
    assert "'Applications' -> '/Applications'" in links, links
    assert "ad-hoc signed only" in desktop.outputs  # no Developer ID configured: said plainly


def _verify(path: Path, k: Keys) -> subprocess.CompletedProcess:
    return _run(["osslsigncode", "verify", "-in", str(path), "-CAfile", str(k.dir / "code.pem")])


def _tampered(src: Path, dest: Path) -> Path:
    data = bytearray(src.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dest.write_bytes(bytes(data))
    return dest


def test_msi_files_shortcut_upgrade_code_and_signature(desktop: Desktop, tmp_path: Path) -> None:
    msi = desktop.dist / MSI
    files = _run(["msiextract", "-l", str(msi)]).stdout.splitlines()
    assert any(f.endswith("Wavry Demo/wavry-demo.exe") for f in files), files
    shortcut = _run(["msiinfo", "export", str(msi), "Shortcut"]).stdout
    assert "[INSTALLDIR]wavry-demo.exe" in shortcut and "ProgramMenuFolder" in shortcut
    props = dict(line.split("\t", 1) for line in _run(["msiinfo", "export", str(msi), "Property"]).stdout.splitlines()[3:])
    manifest = json.loads((desktop.dist / "manifest.json").read_text())
    assert props["UpgradeCode"].strip("{}") and props["ProductVersion"] == "0.1.0"
    entry = next(a for a in manifest["artifacts"] if a["path"] == MSI)
    assert (entry["kind"], entry["authenticode"]) == ("msi", True)
    done = _verify(msi, desktop.keys)
    assert done.returncode == 0 and "Signature verification: ok" in done.stdout, done.stdout + done.stderr
    assert _verify(_tampered(msi, tmp_path / "t.msi"), desktop.keys).returncode != 0


def test_nsis_setup_is_a_signed_pe32_with_an_uninstaller(desktop: Desktop, tmp_path: Path) -> None:
    setup = desktop.dist / SETUP
    described = _run(["file", str(setup)]).stdout
    assert "PE32 executable" in described and "Nullsoft Installer" in described, described
    listing = _run(["7z", "l", str(setup)]).stdout
    assert "wavry-demo.exe" in listing and "wavry-hello.exe" in listing and "uninstall.exe" in listing, listing
    done = _verify(setup, desktop.keys)
    assert done.returncode == 0 and "Signature verification: ok" in done.stdout, done.stdout + done.stderr
    assert _verify(_tampered(setup, tmp_path / "t.exe"), desktop.keys).returncode != 0


def test_linux_packages_carry_a_valid_desktop_entry_and_icons(desktop: Desktop, tmp_path: Path) -> None:
    deb = desktop.dist / DEB
    listing = _run(["dpkg-deb", "-c", str(deb)]).stdout
    for size in (16, 32, 48, 128, 256, 512):
        assert f"./usr/share/icons/hicolor/{size}x{size}/apps/wavry-demo.png" in listing
    assert _run(["dpkg-deb", "-x", str(deb), str(tmp_path)]).returncode == 0
    entry = tmp_path / "usr/share/applications/com.example.wavry-demo.desktop"
    done = _run(["desktop-file-validate", str(entry)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Exec=wavry-demo\n" in entry.read_text() and "Icon=wavry-demo\n" in entry.read_text()
    icon = tmp_path / "usr/share/icons/hicolor/256x256/apps/wavry-demo.png"
    assert icon.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rpm_files = _run(["rpm", "-qlp", str(desktop.dist / RPM)]).stdout
    assert "/usr/share/applications/com.example.wavry-demo.desktop" in rpm_files


def test_listed_checked_verified_and_in_the_notes(desktop: Desktop) -> None:
    manifest = json.loads((desktop.dist / "manifest.json").read_text())
    kinds = {a["path"]: a["kind"] for a in manifest["artifacts"]}
    assert (kinds[DMG], kinds[MSI], kinds[SETUP]) == ("dmg", "msi", "setup")
    sums = (desktop.dist / "SHA256SUMS").read_text()
    assert all(name in sums for name in INSTALLERS)
    notes = (desktop.dist / "RELEASE_NOTES.md").read_text()
    assert f"| {DMG} | macOS universal (x86_64 + arm64) | macOS app (.dmg) |" in notes
    assert f"| {MSI} | Windows x86_64 | Windows installer (.msi) |" in notes
    done = invoke("verify", cwd=desktop.root, env=desktop.env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{MSI}" in done.stdout and f"{SETUP}" in done.stdout
    assert PASS not in desktop.outputs


def test_every_copy_of_a_binary_is_the_same_bytes(desktop: Desktop) -> None:
    """The .exe inside the MSI (msiextract) and the NSIS setup.exe (7z) is the one codesign signed,
    the same bytes as in the .zip; the .app's binary in the .dmg, and the .deb's and .rpm's, are the
    archive's too (verify/copies.py, which `invoke verify` runs)."""
    from wavrybuild.verify import copies

    manifest = json.loads((desktop.dist / "manifest.json").read_text())
    found = copies.collect(desktop.dist, manifest["artifacts"])
    assert not found.unread, found.unread
    for key, holders in {("x86_64-pc-windows-gnu", "wavry-demo"): {MSI, SETUP, "wavry-demo-0.1.0-x86_64-pc-windows-gnu.zip"},
                         ("universal2-apple-darwin", "wavry-demo"): {DMG},
                         ("x86_64-unknown-linux-gnu", "wavry-demo"): {DEB, RPM}}.items():
        assert holders <= {c.artifact for c in found.copies[key]}, found.copies[key]
        assert len({c.sha256 for c in found.copies[key]}) == 1, found.copies[key]
    signed = desktop.dist / ".wavrybuild" / "codesigned" / "x86_64-pc-windows-gnu" / "wavry-demo.exe"
    assert {c.sha256 for c in found.copies[("x86_64-pc-windows-gnu", "wavry-demo")]} == {
        hashlib.sha256(signed.read_bytes()).hexdigest()}
    assert all(v.ok for v in copies.compare(found))


def test_rerun_changes_nothing(desktop: Desktop) -> None:
    before = {p.name: p.read_bytes() for p in desktop.dist.iterdir() if p.is_file()}
    done = invoke("release", "--no-publish", cwd=desktop.root, env=desktop.env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert {p.name: p.read_bytes() for p in desktop.dist.iterdir() if p.is_file()} == before


def test_second_clone_gives_the_same_bytes(desktop: Desktop, tmp_path: Path) -> None:
    root = _project(tmp_path / "clone", desktop.keys)
    done = invoke("release", "--no-publish", cwd=root, env=desktop.env)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in (DMG, MSI, SETUP, DEB):
        assert (root / "dist" / name).read_bytes() == (desktop.dist / name).read_bytes(), name
    # A command-line app installed per machine: on PATH instead of in the Start menu.
    text = (root / "targets.toml").read_text().replace('category = "public', 'gui = false\ncategory = "public')
    (root / "targets.toml").write_text(text + '\n[desktop.windows]\nscope = "per-machine"\n')
    done = invoke("desktop", cwd=root, env=desktop.env)
    assert done.returncode == 0, done.stdout + done.stderr
    msi = root / "dist" / MSI
    assert "=-*PATH\t[~];[INSTALLDIR]" in _run(["msiinfo", "export", str(msi), "Environment"]).stdout
    assert "ProgramFiles64Folder" in _run(["msiinfo", "export", str(msi), "Directory"]).stdout
    assert "menu_shortcut" not in _run(["msiinfo", "export", str(msi), "Shortcut"]).stdout
    assert os.path.getsize(root / "dist" / SETUP) > 0


def test_bad_icon_is_refused_before_anything_runs(tmp_path: Path, keys: Keys) -> None:  # noqa: F811
    root = _project(tmp_path / "bad", keys)
    (root / "icon.png").write_bytes(b"not a png")
    done = invoke("release", "--no-publish", "--dry", cwd=root)
    assert done.returncode == 2 and "desktop.icon" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (root / "dist").exists() or not any((root / "dist").iterdir())

