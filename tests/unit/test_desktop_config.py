"""[desktop] (pure, no Rust): the config, the formats' texts, the universal2 join, and the macOS
signing plans — which cannot run here (no macOS, no rcodesign), so their commands and order are
checked as built."""

from __future__ import annotations

import plistlib
import struct
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_pipeline import fake_metadata
from wavrybuild.build import macho
from wavrybuild.channels.desktop import format as fmt
from wavrybuild.config import parse
from wavrybuild.config.desktop import MacSigning
from wavrybuild.env import Settings
from wavrybuild.errors import ConfigError, ToolMissing
from wavrybuild.manifest import Artifact
from wavrybuild.notes.changelog import platform_of
from wavrybuild.sign import apple as macsign


def png(path: Path, size: int) -> Path:
    """A real PNG of one colour, written without Pillow."""
    raw = b"".join(b"\0" + b"\x20\x60\xc0\xff" * size for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


def cfg(tmp_path: Path, desktop: dict[str, Any], targets: dict[str, Any] | None = None) -> Any:
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3-rc.1"\nauthors = ["Ann <a@x>"]\n')
    data = {"targets": targets or {"universal2-apple-darwin": {}, "x86_64-pc-windows-gnu": {}}, "desktop": desktop}
    return parse(tmp_path / "targets.toml", data, fake_metadata, Settings())


def test_defaults_and_derived_codes(tmp_path: Path) -> None:
    c = cfg(tmp_path, {"bundle-id": "com.example.demo"})
    d = c.desktop
    assert (d.name, d.binary, d.gui, d.scope, d.minimum_macos) == ("demo", "demo", True, "per-user", "11.0")
    assert d.windows_formats == ("msi", "nsis") and d.macos.identity is None
    # The UpgradeCode is the same for every version; ProductCode differs per version.
    assert d.upgrade_code == cfg(tmp_path, {"bundle-id": "com.example.demo"}).desktop.upgrade_code
    assert fmt.product_code(d, "1.0.0", "x64") != fmt.product_code(d, "1.0.1", "x64")
    assert next(t.triple.slices for t in c.targets) == ("x86_64-apple-darwin", "aarch64-apple-darwin")


@pytest.mark.parametrize(("desktop", "message"), [
    ({}, "desktop.bundle-id: missing"),
    ({"bundle-id": "nodots"}, "desktop.bundle-id: expected a reverse-DNS"),
    ({"bundle-id": "a.b", "binary": "nope"}, "desktop.binary: 'nope' is not a released binary"),
    ({"bundle-id": "a.b", "name": "../evil"}, "cannot name a file"),
    ({"bundle-id": "a.b", "icon": "missing.png"}, "desktop.icon: no file"),
    ({"bundle-id": "a.b", "colour": 1}, "desktop.colour"),
    ({"bundle-id": "a.b", "windows": {"scope": "everyone"}}, "desktop.windows.scope"),
    ({"bundle-id": "a.b", "windows": {"formats": ["exe"]}}, "desktop.windows.formats"),
    ({"bundle-id": "a.b", "macos": {"password": "hunter2"}}, "desktop.macos.password"),
    ({"bundle-id": "a.b", "macos": {"identity": "Developer ID Application: A (T)", "api-key": "k.p8"}}, "api-key-id"),
    ({"bundle-id": "a.b", "category": "games"}, "desktop.category: expected an Apple category"),
])
def test_bad_desktop_config(tmp_path: Path, desktop: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")) as exc:
        cfg(tmp_path, desktop)
    assert "hunter2" not in str(exc.value)


def test_icon_must_be_a_square_png(tmp_path: Path) -> None:
    png(tmp_path / "small.png", 64)
    with pytest.raises(ConfigError, match="64×64"):
        cfg(tmp_path, {"bundle-id": "a.b", "icon": "small.png"})
    (tmp_path / "fake.png").write_text("GIF89a")
    with pytest.raises(ConfigError, match="not a PNG"):
        cfg(tmp_path, {"bundle-id": "a.b", "icon": "fake.png"})


def test_universal2_target_spelling(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean 'universal2-apple-darwin'"):
        cfg(tmp_path, {"bundle-id": "a.b"}, {"universal-apple-darwin": {}})


def test_info_plist(tmp_path: Path) -> None:
    d = cfg(tmp_path, {"bundle-id": "com.example.demo", "name": "Demo App", "category": "public.app-category.utilities",
                       "minimum-macos": "12.0"}).desktop
    data = plistlib.loads(fmt.info_plist(d, "1.2.3-rc.1", icon=True))
    assert data["CFBundleExecutable"] == "demo" and data["CFBundleIdentifier"] == "com.example.demo"
    assert data["CFBundleShortVersionString"] == "1.2.3" and data["CFBundleVersion"] == "1.2.3-rc.1"
    assert data["LSMinimumSystemVersion"] == "12.0" and data["CFBundleIconFile"] == "Demo-App"
    assert data["CFBundlePackageType"] == "APPL" and data["LSApplicationCategoryType"] == "public.app-category.utilities"


def test_wix_source_per_user_gui_and_per_machine_cli(tmp_path: Path) -> None:
    gui = cfg(tmp_path, {"bundle-id": "com.example.demo", "name": "Demo App"}).desktop
    ns = {"w": "http://schemas.microsoft.com/wix/2006/wi"}
    root = ET.fromstring(fmt.wix_source(gui, "1.2.3", ["demo.exe"], "x64", icon=None))
    product = root.find("w:Product", ns)
    assert product is not None and product.get("UpgradeCode") == gui.upgrade_code and product.get("Version") == "1.2.3"
    assert root.find(".//w:Package", ns).get("InstallScope") == "perUser"  # type: ignore[union-attr]
    assert root.find(".//w:Directory[@Id='LocalAppDataFolder']", ns) is not None
    assert root.find(".//w:Shortcut", ns).get("Target") == "[INSTALLDIR]demo.exe"  # type: ignore[union-attr]
    cli = cfg(tmp_path, {"bundle-id": "com.example.demo", "gui": False, "windows": {"scope": "per-machine"}}).desktop
    text = fmt.wix_source(cli, "1.2.3", ["demo.exe"], "x64", icon=None)
    root = ET.fromstring(text)
    assert root.find(".//w:Shortcut", ns) is None and root.find(".//w:Directory[@Id='ProgramFiles64Folder']", ns) is not None
    assert root.find(".//w:Component[@Id='path']", ns) is not None
    assert "=-*PATH" in fmt.path_query(cli) and "[~];[INSTALLDIR]" in fmt.path_query(cli)


def test_nsis_script(tmp_path: Path) -> None:
    d = cfg(tmp_path, {"bundle-id": "com.example.demo", "name": "Demo $HOME", "gui": False}).desktop
    text = fmt.nsis_script(d, "1.2.3", ["demo.exe"], "out.exe", win64=True, icon=None)
    assert 'InstallDir "$LOCALAPPDATA\\Programs\\Demo $$HOME"' in text  # $ escaped: no NSIS variable
    assert "RequestExecutionLevel user" in text and 'File "demo.exe"' in text and "WriteUninstaller" in text
    assert text.index('Section "Uninstall"') < text.index('Delete "$INSTDIR\\demo.exe"')
    assert '"Path"' in text and "CreateShortcut" not in text
    assert "SetDateSave off" in text


def test_desktop_entry(tmp_path: Path) -> None:
    d = cfg(tmp_path, {"bundle-id": "com.example.demo", "name": "Demo", "linux": {"categories": ["Utility", "Audio"]}}).desktop
    entry = fmt.desktop_entry(d, icon=True)
    assert "Name=Demo\n" in entry and "Exec=demo\n" in entry and "Categories=Utility;Audio;\n" in entry
    assert "Terminal=false" in entry and entry.startswith("[Desktop Entry]\nType=Application\n")


def _thin(cputype: int, payload: bytes) -> bytes:
    return struct.pack("<IiIIIIII", macho.MH_MAGIC_64, cputype, 0, 2, 0, 0, 0, 0) + payload


def test_universal_join_layout() -> None:
    x86 = _thin(0x01000007, b"x" * 100)
    arm = _thin(0x0100000C, b"a" * 100)
    fat = macho.join([arm, x86])
    slices = macho.slices(fat)
    assert [s.arch for s in slices] == ["x86_64", "arm64"]  # as lipo orders them
    assert [s.data for s in slices] == [x86, arm]  # each slice's bytes unchanged
    offsets = [struct.unpack_from(">iIIII", fat, 8 + 20 * i)[2] for i in range(2)]
    assert offsets[0] % 4096 == 0 and offsets[1] % 16384 == 0
    with pytest.raises(macho.MachOError):
        macho.join([arm, arm])
    assert macho.signature_problems(slices[0]) == ["unsigned"]


def test_notes_name_universal() -> None:
    a = Artifact("universal2-apple-darwin", "universal2-apple-darwin", "dmg", "dmg", "x.dmg", 1, "ab" * 32)
    assert platform_of(a, {}) == "macOS universal (x86_64 + arm64)"


def test_codesign_plan_order(tmp_path: Path) -> None:
    s = MacSigning(identity="Developer ID Application: A (T)", entitlements=tmp_path / "e.plist",
                   api_key=tmp_path / "k.p8", api_key_id="KID", api_issuer="ISS")
    signer = macsign.signer(s, "universal2-apple-darwin", platform="darwin")
    assert isinstance(signer, macsign.Codesign)
    steps = signer.plan(tmp_path / "A.app", ["demo", "helper"], tmp_path / "a.dmg", None)
    argvs = [st.command.argv for st in steps]
    # Inside out, hardened runtime and entitlements on every signature, then the image, notarize, staple.
    assert argvs[0][-1].endswith("Contents/MacOS/demo") and argvs[2][-1].endswith("A.app")
    assert all("runtime" in a and "--entitlements" in a for a in argvs[:3])
    assert [a[:3] for a in argvs[3:]] == [("codesign", "--verify", "--deep"), ("codesign", "--force", "--timestamp"),
                                          ("xcrun", "notarytool", "submit"), ("xcrun", "stapler", "staple")]
    assert [st.when for st in steps] == ["app"] * 4 + ["dmg"] * 3


def test_rcodesign_plan_and_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = MacSigning(identity="Developer ID Application: A (T)", p12=tmp_path / "id.p12", api_key=tmp_path / "k.p8",
                   api_key_id="KID", api_issuer="ISS")
    # Linux without rcodesign: a clear refusal naming the target and both ways out.
    monkeypatch.setattr(macsign.proc, "which", lambda name: None)
    with pytest.raises(ToolMissing, match=r"universal2-apple-darwin: .*rcodesign") as exc:
        macsign.signer(s, "universal2-apple-darwin", platform="linux")
    assert "macOS runner" in (exc.value.hint or "")
    with pytest.raises(ToolMissing, match="needs a macOS runner"):
        macsign.signer(MacSigning(identity="X", signer="codesign"), "t", platform="linux")
    monkeypatch.setattr(macsign.proc, "which", lambda name: "/usr/bin/rcodesign")
    signer = macsign.signer(s, "t", platform="linux")
    assert isinstance(signer, macsign.Rcodesign)
    steps = signer.plan(tmp_path / "A.app", ["demo"], tmp_path / "a.dmg", tmp_path / "pw")
    sign, notarize = (st.command.argv for st in steps)
    assert sign[:2] == ("rcodesign", "sign") and "--p12-password-file" in sign and "runtime" in sign
    assert notarize[:2] == ("rcodesign", "notary-submit") and "--staple" in notarize
    assert all(st.when == "app" for st in steps)  # the stapled app goes into the image afterwards
    assert macsign.signer(MacSigning(), "t", platform="linux") is None  # no identity: ad-hoc only


def test_dry_run_with_a_developer_id_but_no_signer_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wavrybuild.channels.desktop.stage import DesktopStage
    from wavrybuild.dist import DistState
    from wavrybuild.pipeline.stage import Run

    c = cfg(tmp_path, {"bundle-id": "com.example.demo", "macos": {"identity": "Developer ID Application: A (T)"}})
    monkeypatch.setattr(macsign.proc, "which", lambda name: None)
    monkeypatch.setattr(macsign.sys, "platform", "linux")

    class Quiet:
        def __getattr__(self, name: str) -> Any:
            return lambda *a, **k: None

    run = Run(cfg=c, ui=Quiet(), targets=c.targets, dry=True)  # type: ignore[arg-type]
    monkeypatch.setattr(DistState, "built_ids", lambda self: {t.id for t in c.targets})
    lines = [s.planned.text for s in DesktopStage().steps(run, None) if s.planned]
    assert any("universal2-apple-darwin.dmg here:" in line and "macOS runner" in line
               for line in lines), lines
    # The Windows installers are still planned, with their commands.
    assert any(line.startswith("wixl -a x64") for line in lines) and any("makensis" in line for line in lines)


def test_truncated_slice_is_a_problem_not_a_crash() -> None:
    thin = struct.pack("<IiIIIIII", macho.MH_MAGIC_64, 0x0100000C, 0, 2, 5, 64, 0, 0)  # 5 load commands, none there
    assert macho.signature_problems(macho.read_thin(thin)) == ["the load commands or the signature are truncated"]
    with pytest.raises(macho.MachOError):
        macho.read_thin(b"\x7fELF" + b"\0" * 40)
