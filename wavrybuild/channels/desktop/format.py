"""Desktop app formats, pure: the .app bundle's layout and Info.plist, the freedesktop.org entry,
the WiX source wixl turns into an MSI, the NSIS script makensis turns into setup.exe, and the
icon sizes each needs. The desktop stage runs the tools; nothing here touches the disk except
`write_app`, which lays out a bundle in a directory it is given."""

from __future__ import annotations

import io
import os
import plistlib
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from ...config.desktop import DesktopConfig
from ...errors import ToolMissing
from ...icon import open_icon

HICOLOR_SIZES = (16, 32, 48, 64, 128, 256, 512)
ICNS_SIZES = ((16, 16), (32, 32), (64, 64), (128, 128), (256, 256), (512, 512), (1024, 1024))


def bundle_version(version: str) -> str:
    """CFBundleShortVersionString and the MSI ProductVersion take numbers only: 1.2.0-rc.1 → 1.2.0."""
    return re.split(r"[-+]", version, maxsplit=1)[0]


def info_plist(d: DesktopConfig, version: str, *, icon: bool) -> bytes:
    data: dict[str, object] = {
        "CFBundleDevelopmentRegion": "en",
        "CFBundleDisplayName": d.name,
        "CFBundleName": d.name[:15],  # Apple's limit for the short name
        "CFBundleExecutable": d.binary,
        "CFBundleIdentifier": d.bundle_id,
        "CFBundleInfoDictionaryVersion": "6.0",
        "CFBundlePackageType": "APPL",
        "CFBundleShortVersionString": bundle_version(version),
        "CFBundleVersion": version,
        "LSMinimumSystemVersion": d.minimum_macos,
        "NSHighResolutionCapable": True,
    }
    if icon:
        data["CFBundleIconFile"] = d.file_stem  # Resources/<stem>.icns
    if d.category:
        data["LSApplicationCategoryType"] = d.category
    if d.copyright:
        data["NSHumanReadableCopyright"] = d.copyright
    if not d.gui:
        data["LSUIElement"] = True  # a command-line tool: no Dock icon
    return plistlib.dumps(data, sort_keys=True)


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise ToolMissing("[desktop] icon: Pillow is not installed (it converts the PNG to .icns and the icon sizes)",
                          hint="pip install 'wavrybuild[desktop]'") from None
    return Image


def _png(image: Any, size: int) -> bytes:
    out = io.BytesIO()
    # No metadata chunks: the same icon gives the same bytes.
    image.resize((size, size), _pillow().Resampling.LANCZOS).save(out, format="PNG", optimize=False)
    return out.getvalue()


def icon_sizes(icon: Path, sizes: tuple[int, ...] = HICOLOR_SIZES) -> dict[int, bytes]:
    """The icon as PNGs of each size not larger than the source (hicolor theme sizes)."""
    image = open_icon(icon).convert("RGBA")
    return {s: _png(image, s) for s in sizes if s <= image.width}


def icns(icon: Path) -> bytes:
    """An Apple icon file: PNG-compressed entries (ic07 … ic10), which macOS 10.7+ reads."""
    image = open_icon(icon).convert("RGBA")
    out = io.BytesIO()
    image.save(out, format="ICNS", sizes=[s for s in ICNS_SIZES if s[0] <= image.width])
    return out.getvalue()


def ico(icon: Path) -> bytes:
    image = open_icon(icon).convert("RGBA")
    out = io.BytesIO()
    image.save(out, format="ICO", sizes=[(s, s) for s in (16, 32, 48, 256) if s <= image.width])
    return out.getvalue()


@dataclass(frozen=True)
class AppLayout:
    """Where things go inside <name>.app."""

    name: str

    @property
    def root(self) -> str:
        return f"{self.name}.app"

    def macos(self, binary: str) -> str:
        return f"{self.root}/Contents/MacOS/{binary}"

    @property
    def plist(self) -> str:
        return f"{self.root}/Contents/Info.plist"

    def resource(self, name: str) -> str:
        return f"{self.root}/Contents/Resources/{name}"


def write_app(d: DesktopConfig, version: str, binaries: dict[str, Path], into: Path, mtime: int) -> Path:
    """Lay out <name>.app in `into` (plus the /Applications link a .dmg shows next to it); every
    file dated `mtime` so the image is reproducible. Returns the .app directory."""
    layout = AppLayout(d.name)
    files: dict[str, tuple[bytes, int]] = {}
    for name, path in binaries.items():
        files[layout.macos(name)] = (path.read_bytes(), 0o755)
    files[layout.plist] = (info_plist(d, version, icon=d.icon is not None), 0o644)
    files[f"{layout.root}/Contents/PkgInfo"] = (b"APPL????", 0o644)
    if d.icon is not None:
        files[layout.resource(f"{d.file_stem}.icns")] = (icns(d.icon), 0o644)
    for rel, (data, mode) in files.items():
        dest = into / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        os.chmod(dest, mode)
    link = into / "Applications"
    if not link.is_symlink():
        link.symlink_to("/Applications")
    for path in [*sorted(into.rglob("*"), reverse=True), into]:
        os.utime(path, (mtime, mtime), follow_symlinks=False)
    return into / layout.root


def desktop_entry(d: DesktopConfig, icon: bool) -> str:
    """The freedesktop.org .desktop file (Version=1.0: the keys used here are all in 1.0, and
    older validators refuse newer version numbers)."""
    lines = ["[Desktop Entry]", "Type=Application", "Version=1.0", f"Name={d.name}"]
    if d.comment:
        lines.append(f"Comment={d.comment.splitlines()[0]}")
    lines.append(f"Exec={d.binary}")
    if icon:
        lines.append(f"Icon={d.binary}")
    lines.append(f"Terminal={'false' if d.gui else 'true'}")
    lines.append("Categories=" + "".join(f"{c};" for c in d.linux_categories))
    if d.keywords:
        lines.append("Keywords=" + "".join(f"{k};" for k in d.keywords))
    return "\n".join(lines) + "\n"


def desktop_files(d: DesktopConfig) -> dict[str, tuple[bytes, int]]:
    """Files a .deb/.rpm carries for the app: destination -> (bytes, mode)."""
    out = {f"/usr/share/applications/{d.bundle_id}.desktop": (desktop_entry(d, d.icon is not None).encode(), 0o644)}
    if d.icon is not None:
        for size, png in icon_sizes(d.icon).items():
            out[f"/usr/share/icons/hicolor/{size}x{size}/apps/{d.binary}.png"] = (png, 0o644)
    return out


# --- Windows ---------------------------------------------------------------------------------------

def product_code(d: DesktopConfig, version: str, arch: str) -> str:
    """Each version's and architecture's own ProductCode (`arch`: wixl's and winget's x64, x86,
    arm64), derived (not random) so that the MSI is reproducible. Two MSIs of one version for two
    architectures must not share one: Windows Installer would take the one installed for the
    other, and winget matches an installed product by it. x64 keeps the code it always had."""
    what = f"product {version}" if arch == "x64" else f"product {version} {arch}"
    return str(uuid.uuid5(uuid.UUID(d.upgrade_code), what)).upper()


def package_code(d: DesktopConfig, version: str, arch: str) -> str:
    """The MSI's package code (its summary's revision number), derived like the ProductCode."""
    return str(uuid.uuid5(uuid.UUID(d.upgrade_code), f"product {version} package {arch}")).upper()


def _guid(d: DesktopConfig, what: str) -> str:
    # A component's GUID is stable across versions (Windows Installer's component rules).
    return str(uuid.uuid5(uuid.UUID(d.upgrade_code), what)).upper()


def _id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "_", text)


def wix_source(d: DesktopConfig, version: str, exes: list[str], arch: str, *, icon: str | None) -> str:
    """WiX 3 XML for wixl: the binaries in a folder of their own, a Start-menu shortcut for a GUI
    app, the folder on PATH for a CLI, and an upgrade of any older version."""
    per_machine = d.scope == "per-machine"
    win64 = arch in ("x64", "arm64")
    program_files = ("ProgramFiles64Folder" if win64 else "ProgramFilesFolder") if per_machine else "LocalAppDataFolder"
    root = "HKLM" if per_machine else "HKCU"
    reg_key = f"Software\\{d.manufacturer}\\{d.name}"
    q = quoteattr
    w64 = ' Win64="yes"' if win64 else ""
    comp = []
    refs = []
    for exe in exes:
        cid = _id(f"bin_{exe}")
        refs.append(cid)
        # Per-user components must key on a registry value (ICE38); per-machine on the file.
        keypath_file = ' KeyPath="yes"' if per_machine else ""
        reg = "" if per_machine else (f'\n          <RegistryValue Root="HKCU" Key={q(reg_key)} Name={q(exe)} '
                                      'Type="integer" Value="1" KeyPath="yes"/>')
        comp.append(f'        <Component Id={q(cid)} Guid={q(_guid(d, "file " + exe))}{w64}>\n'
                    f'          <File Id={q(_id("file_" + exe))} Name={q(exe)} Source={q(exe)}{keypath_file}/>{reg}\n'
                    f'        </Component>')
    if not per_machine:
        comp.append(f'        <Component Id="remove_dir" Guid={q(_guid(d, "remove dir"))}{w64}>\n'
                    f'          <RemoveFolder Id="remove_installdir" On="uninstall"/>\n'
                    f'          <RegistryValue Root="HKCU" Key={q(reg_key)} Name="dir" Type="integer" Value="1" KeyPath="yes"/>\n'
                    f'        </Component>')
        refs.append("remove_dir")
    if not d.gui:
        # wixl has no <Environment>: the row is added to the MSI's Environment table afterwards
        # (see path_query), tied to this component.
        comp.append(f'        <Component Id="path" Guid={q(_guid(d, "path"))}{w64}>\n'
                    f'          <RegistryValue Root={q(root)} Key={q(reg_key)} Name="path" Type="integer" Value="1" '
                    'KeyPath="yes"/>\n'
                    f'        </Component>')
        refs.append("path")
    menu = ""
    if d.gui:
        refs.append("shortcut")
        menu = (f'      <Directory Id="ProgramMenuFolder">\n'
                f'        <Component Id="shortcut" Guid={q(_guid(d, "shortcut"))}{w64}>\n'
                f'          <Shortcut Id="menu_shortcut" Name={q(d.name)} Target={q("[INSTALLDIR]" + d.binary + ".exe")} '
                f'WorkingDirectory="INSTALLDIR"' + (' Icon="app_icon"' if icon else "") + '/>\n'
                f'          <RegistryValue Root={q(root)} Key={q(reg_key)} Name="shortcut" Type="integer" '
                'Value="1" KeyPath="yes"/>\n'
                f'        </Component>\n'
                f'      </Directory>\n')
    install_dir = (f'        <Directory Id="INSTALLDIR" Name={q(d.name)}>\n' + "\n".join(comp) + "\n        </Directory>\n")
    if not per_machine:
        install_dir = ('        <Directory Id="ProgramsDir" Name="Programs">\n'
                       + "\n".join("  " + line for line in install_dir.splitlines()) + "\n        </Directory>\n")
    icon_xml = (f'    <Icon Id="app_icon" SourceFile={q(icon)}/>\n    <Property Id="ARPPRODUCTICON" Value="app_icon"/>\n'
                if icon else "")
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">\n'
        f'  <Product Id={q(product_code(d, version, arch))} Name={q(d.name)} Language="1033" '
        f'Version={q(bundle_version(version))} Manufacturer={q(d.manufacturer)} UpgradeCode={q(d.upgrade_code)}>\n'
        f'    <Package Id={q(_guid(d, "package " + version + " " + arch))} InstallerVersion="500" Compressed="yes" '
        f'InstallScope={q("perMachine" if per_machine else "perUser")} '
        f'Description={q(d.name + " " + version)} Manufacturer={q(d.manufacturer)}/>\n'
        '    <MajorUpgrade DowngradeErrorMessage="A newer version is already installed."/>\n'
        '    <Media Id="1" Cabinet="app.cab" EmbedCab="yes"/>\n'
        + icon_xml +
        '    <Directory Id="TARGETDIR" Name="SourceDir">\n'
        f'      <Directory Id={q(program_files)}>\n'
        + install_dir +
        '      </Directory>\n'
        + menu +
        '    </Directory>\n'
        '    <Feature Id="main" Level="1">\n'
        + "".join(f'      <ComponentRef Id={q(r)}/>\n' for r in refs) +
        '    </Feature>\n'
        '  </Product>\n'
        '</Wix>\n'
    )


def path_query(d: DesktopConfig) -> str:
    """The SQL (for msibuild -q) that puts INSTALLDIR at the end of PATH while the app is installed:
    WiX's <Environment Part="last" Permanent="no"> as the Environment table spells it."""
    name = "=-*PATH" if d.scope == "per-machine" else "=-PATH"
    return ("INSERT INTO `Environment` (`Environment`, `Name`, `Value`, `Component_`) "
            f"VALUES ('path', '{name}', '[~];[INSTALLDIR]', 'path')")


ENVIRONMENT_TABLE = ("CREATE TABLE `Environment` (`Environment` CHAR(72) NOT NULL, `Name` CHAR(255) NOT NULL "
                     "LOCALIZABLE, `Value` CHAR(255) LOCALIZABLE, `Component_` CHAR(72) NOT NULL "
                     "PRIMARY KEY `Environment`)")


def _nsis_str(text: str) -> str:
    """An NSIS string literal: $ and quotes escaped."""
    return '"' + text.replace("$", "$$").replace('"', '$\\"') + '"'


def nsis_script(d: DesktopConfig, version: str, exes: list[str], out: str, *, win64: bool, icon: str | None) -> str:
    """The NSIS script for setup.exe: install into its own folder, an uninstaller registered in
    Add/Remove Programs, a Start-menu entry (GUI) or the folder on the user's PATH (CLI)."""
    per_machine = d.scope == "per-machine"
    hive = "HKLM" if per_machine else "HKCU"
    base = ("$PROGRAMFILES64" if win64 else "$PROGRAMFILES") if per_machine else "$LOCALAPPDATA\\Programs"
    uninstall_key = f"Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{d.bundle_id}"
    env_key = ("SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment" if per_machine else "Environment")
    s = _nsis_str
    lines = [
        "Unicode true",
        "SetCompressor /SOLID lzma",
        # No file dates in the installer: the same inputs give the same setup.exe.
        "SetDateSave off",
        "!include WordFunc.nsh",
        "!include WinMessages.nsh",
        f"Name {s(d.name)}",
        f"OutFile {s(out)}",
        f'InstallDir "{base}\\{d.name.replace("$", "$$")}"',
        f"RequestExecutionLevel {'admin' if per_machine else 'user'}",
        f"VIProductVersion {s(_four(version))}",
        f"VIAddVersionKey ProductName {s(d.name)}",
        f"VIAddVersionKey ProductVersion {s(version)}",
        f"VIAddVersionKey CompanyName {s(d.manufacturer)}",
        f"VIAddVersionKey FileVersion {s(version)}",
        f"VIAddVersionKey FileDescription {s(d.name + ' installer')}",
        f"VIAddVersionKey LegalCopyright {s(d.copyright or d.manufacturer)}",
    ]
    if icon:
        lines += [f"Icon {s(icon)}", f"UninstallIcon {s(icon)}"]
    if per_machine and win64:
        lines += ["!include x64.nsh", "Function .onInit", "  SetRegView 64", "FunctionEnd",
                  "Function un.onInit", "  SetRegView 64", "FunctionEnd"]
    lines += ["Page directory", "Page instfiles", "UninstPage uninstConfirm", "UninstPage instfiles", ""]
    if per_machine:
        lines.insert(0, "ManifestSupportedOS all")
    lines += ['Section "Install"', "  SetShellVarContext " + ("all" if per_machine else "current"),
              '  SetOutPath "$INSTDIR"']
    lines += [f"  File {s(exe)}" for exe in exes]
    lines += [
        '  WriteUninstaller "$INSTDIR\\uninstall.exe"',
        f'  WriteRegStr {hive} {s(uninstall_key)} "DisplayName" {s(d.name)}',
        f'  WriteRegStr {hive} {s(uninstall_key)} "DisplayVersion" {s(version)}',
        f'  WriteRegStr {hive} {s(uninstall_key)} "Publisher" {s(d.manufacturer)}',
        f'  WriteRegStr {hive} {s(uninstall_key)} "InstallLocation" "$INSTDIR"',
        f'  WriteRegStr {hive} {s(uninstall_key)} "UninstallString" \'"$INSTDIR\\uninstall.exe"\'',
        f'  WriteRegDWORD {hive} {s(uninstall_key)} "NoModify" 1',
        f'  WriteRegDWORD {hive} {s(uninstall_key)} "NoRepair" 1',
    ]
    if d.gui:
        lines.append(f'  CreateShortcut "$SMPROGRAMS\\{d.name.replace("$", "$$")}.lnk" "$INSTDIR\\{d.binary}.exe"')
    else:
        lines += [
            f'  ReadRegStr $0 {hive} {s(env_key)} "Path"',
            '  ${WordFind} "$0" "$INSTDIR" "E+1{" $1',
            '  IfErrors 0 path_done',
            '  StrCmp $0 "" 0 +3',
            f'  WriteRegExpandStr {hive} {s(env_key)} "Path" "$INSTDIR"',
            '  Goto path_set',
            f'  WriteRegExpandStr {hive} {s(env_key)} "Path" "$0;$INSTDIR"',
            '  path_set:',
            '  SendMessage ${HWND_BROADCAST} ${WM_SETTINGCHANGE} 0 "STR:Environment" /TIMEOUT=5000',
            '  path_done:',
        ]
    lines += ["SectionEnd", "", 'Section "Uninstall"', "  SetShellVarContext " + ("all" if per_machine else "current")]
    lines += [f'  Delete "$INSTDIR\\{exe}"' for exe in exes]
    lines += ['  Delete "$INSTDIR\\uninstall.exe"', '  RMDir "$INSTDIR"']
    if d.gui:
        lines.append(f'  Delete "$SMPROGRAMS\\{d.name.replace("$", "$$")}.lnk"')
    else:
        lines += [
            f'  ReadRegStr $0 {hive} {s(env_key)} "Path"',
            '  ${WordReplace} "$0" ";$INSTDIR" "" "+" $1',
            '  ${WordReplace} "$1" "$INSTDIR" "" "+" $1',
            f'  WriteRegExpandStr {hive} {s(env_key)} "Path" "$1"',
            '  SendMessage ${HWND_BROADCAST} ${WM_SETTINGCHANGE} 0 "STR:Environment" /TIMEOUT=5000',
        ]
    lines += [f"  DeleteRegKey {hive} {s(uninstall_key)}", "SectionEnd", ""]
    return "\n".join(lines)


def _four(version: str) -> str:
    """VIProductVersion wants X.X.X.X."""
    nums = [int(x) for x in re.findall(r"\d+", bundle_version(version))][:4]
    return ".".join(str(n) for n in nums + [0] * (4 - len(nums)))
