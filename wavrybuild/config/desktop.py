"""[desktop]: the release is a desktop app — a macOS .app in a .dmg, Windows installers (MSI and
NSIS setup.exe), and a desktop entry with icons inside the .deb/.rpm.

Secrets (the Developer ID .p12's password, the App Store Connect key) are files or env vars only:
targets.toml names them, never holds them.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..icon import check_icon
from . import checks as c
from .project import Core
from .values import Component, Line

KEYS = ("name", "binary", "bundle-id", "icon", "category", "minimum-macos", "gui", "copyright", "linux",
        "windows", "macos")
LINUX_KEYS = ("categories", "comment", "keywords")
WINDOWS_KEYS = ("scope", "upgrade-code", "manufacturer", "formats")
MACOS_KEYS = ("identity", "entitlements", "p12", "p12-password-env", "api-key", "api-key-id", "api-issuer",
              "notarize", "signer")
WINDOWS_FORMATS = ("msi", "nsis")
SCOPES = ("per-user", "per-machine")
SIGNERS = ("auto", "codesign", "rcodesign")
BUNDLE_ID = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
GUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
MACOS_VERSION = re.compile(r"\d{2}(\.\d{1,2}){0,2}")
# Apple's LSApplicationCategoryType values are "public.app-category.<word>".
CATEGORY = re.compile(r"public\.app-category\.[a-z-]+")
FREEDESKTOP_CATEGORY = re.compile(r"[A-Za-z][A-Za-z0-9-]*")


@dataclass(frozen=True)
class MacSigning:
    """[desktop.macos]: Developer ID signing and notarization (None identity: ad-hoc only)."""

    identity: Line | None = None  # "Developer ID Application: Name (TEAMID)"
    entitlements: Path | None = None
    p12: Path | None = None  # the identity as a PKCS#12 file (rcodesign; a keychain import on a Mac)
    p12_password_env: str = "WAVRYBUILD_MACOS_P12_PASSWORD"
    api_key: Path | None = None  # App Store Connect API key (.p8), for notarytool / rcodesign
    api_key_id: Line | None = None
    api_issuer: Line | None = None
    notarize: bool = True
    signer: str = "auto"  # codesign (macOS) or rcodesign (anywhere it is installed)


@dataclass(frozen=True)
class DesktopConfig:
    # Every text here goes into Info.plist, the .desktop entry, WiX and NSIS sources: Line at least.
    name: Line  # the display name: "<name>.app", the Start-menu entry, the desktop entry's Name (also a file name)
    binary: Component  # which released binary is the app
    bundle_id: Component  # reverse DNS: com.example.app (names the .desktop file)
    icon: Path | None
    category: Line | None  # macOS LSApplicationCategoryType
    minimum_macos: Line
    gui: bool  # a windowed app (Start menu, Terminal=false) or a CLI (on PATH)
    copyright: Line | None
    linux_categories: tuple[Line, ...]
    comment: Line | None
    keywords: tuple[Line, ...]
    scope: str  # per-user or per-machine Windows install
    upgrade_code: Line  # the MSI UpgradeCode: the same for every version of the app
    manufacturer: Line
    windows_formats: tuple[str, ...]
    macos: MacSigning

    @property
    def file_stem(self) -> str:
        """The app's name as a file name: no spaces or punctuation that shells and URLs trip on."""
        return re.sub(r"[^A-Za-z0-9._-]+", "-", self.name).strip("-") or "app"


def _icon(where: Path, value: Any) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: desktop.icon: expected a path to a PNG file, got {value!r}")
    path = c.local_path(where, "desktop.icon", value)
    check_icon(where, path)  # a regular file, a square PNG of sane size that decodes (icon.py)
    return path


def _file(where: Path, key: str, value: Any) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: desktop.macos.{key}: expected a file path, got {value!r}")
    return c.local_path(where, f"desktop.macos.{key}", value)


def _macos(where: Path, raw: Any) -> MacSigning:
    table = c.check_table(where, "desktop.macos.", raw)
    c.reject_unknown(where, "desktop.macos.", table, MACOS_KEYS)
    v = c.values(where, "desktop.macos.", table, {
        "identity": (c.opt_line, None), "p12-password-env": (c.env_name, "WAVRYBUILD_MACOS_P12_PASSWORD"),
        "api-key-id": (c.opt_line, None), "api-issuer": (c.opt_line, None), "notarize": (c.bool_value, True),
        "signer": (c.choice(SIGNERS), "auto"), "entitlements": (str, None), "p12": (str, None), "api-key": (str, None)})
    files = {k: _file(where, k, table[k]) if k in table else None for k in ("entitlements", "p12", "api-key")}
    ent = files["entitlements"]
    if ent is not None and not c.is_file(ent):
        raise ConfigError(f"{where}: desktop.macos.entitlements: no file {ent}",
                          hint="an entitlements .plist, relative to targets.toml")
    if v["notarize"] and v["identity"] and files["api-key"] is not None and not (v["api-key-id"] and v["api-issuer"]):
        raise ConfigError(f"{where}: desktop.macos: notarizing with api-key needs api-key-id and api-issuer",
                          hint="both are on App Store Connect's Keys page; or set notarize = false")
    return MacSigning(identity=v["identity"], entitlements=ent, p12=files["p12"], p12_password_env=v["p12-password-env"],
                      api_key=files["api-key"], api_key_id=v["api-key-id"], api_issuer=v["api-issuer"],
                      notarize=v["notarize"], signer=v["signer"])


def _category_list(v: Any) -> tuple[Line, ...]:
    items = c.line_list(v)
    for x in items:
        if not FREEDESKTOP_CATEGORY.fullmatch(x):
            raise ValueError("freedesktop.org category names such as \"Utility\" or \"AudioVideo\"")
    return items


def _app_name(v: Any) -> Line:
    """The app's name is written into Info.plist, the .desktop entry, WiX and NSIS, and names the
    .app and the install folder: one line, and a file name."""
    return Line.parse(c.text(v))



def _keywords(v: Any) -> tuple[Line, ...]:
    items = c.line_list(v)
    if any(";" in k for k in items):
        raise ValueError("keywords without ';' (the .desktop entry separates them with it)")
    return items


def _first_line(text: str) -> Line | None:
    """The .desktop Comment from Cargo.toml's description: its first line, if that is one clean line."""
    first = (text.splitlines() or [""])[0].strip()
    try:
        return Line.parse(first) if first else None
    except ValueError:
        return None


def parse_desktop(cfg: Core, raw: Any) -> DesktopConfig | None:
    if raw is None:
        return None
    where = cfg.project.config_path
    table = c.check_table(where, "desktop.", raw)
    c.reject_unknown(where, "desktop.", table, KEYS)
    p = cfg.project
    for key in ("linux", "windows", "macos"):
        c.check_table(where, f"desktop.{key}.", table.get(key, {}))

    def pattern(rx: re.Pattern[str], what: str, kind: type[Line] | type[Component] = Line) -> Any:
        def check(v: Any) -> Line | Component:
            if not isinstance(v, str) or not rx.fullmatch(v) or len(v) > 128:
                raise ValueError(what)
            return kind.parse(v)
        return check

    v = c.values(where, "desktop.", {k: x for k, x in table.items() if k not in ("linux", "windows", "macos", "icon")}, {
        "name": (_app_name, p.name), "binary": (c.text, p.binaries[0]),
        "bundle-id": (pattern(BUNDLE_ID, 'a reverse-DNS bundle id such as "com.example.app"', Component), c.REQUIRED),
        "category": (pattern(CATEGORY, 'an Apple category such as "public.app-category.developer-tools"'), None),
        "minimum-macos": (pattern(MACOS_VERSION, 'a macOS version such as "11.0"'), Line("11.0")),
        "gui": (c.bool_value, True), "copyright": (c.opt_line, None)})
    if v["binary"] not in p.binaries:
        raise ConfigError(f"{where}: desktop.binary: {v['binary']!r} is not a released binary",
                          hint="released binaries: " + ", ".join(p.binaries))
    if re.search(r'[/\\:*?"<>|]', v["name"]) or v["name"].strip() != v["name"] or not Component.valid(v["name"]):
        raise ConfigError(f"{where}: desktop.name: {v['name']!r} cannot name a file (.app, a Start-menu entry)",
                          hint='use letters, digits, spaces and "-", e.g. "Wavry Demo"')
    linux = c.values(where, "desktop.linux.", table.get("linux", {}), {
        "categories": (_category_list, (Line("Utility"),)), "comment": (c.opt_line, None),
        "keywords": (_keywords, ())})
    win = c.values(where, "desktop.windows.", table.get("windows", {}), {
        "scope": (c.choice(SCOPES), "per-user"),
        "upgrade-code": (pattern(GUID, "a GUID such as 12345678-1234-1234-1234-123456789abc"), None),
        "manufacturer": (c.opt_line, None), "formats": (c.str_list, WINDOWS_FORMATS)})
    bad = [f for f in win["formats"] if f not in WINDOWS_FORMATS]
    if bad or not win["formats"]:
        raise ConfigError(f"{where}: desktop.windows.formats: expected a non-empty list of "
                          + " and ".join(f'"{f}"' for f in WINDOWS_FORMATS) + (f", got {bad[0]!r}" if bad else ""))
    # The same app keeps one UpgradeCode for ever (it is how an MSI finds the version to replace):
    # derived from the bundle id unless given.
    upgrade = win["upgrade-code"] or str(uuid.uuid5(uuid.NAMESPACE_DNS, v["bundle-id"] + ".msi-upgrade-code"))
    manufacturer = win["manufacturer"] or (p.authors[0].split("<")[0].strip() if p.authors else "") or v["name"]
    return DesktopConfig(
        name=v["name"], binary=Component.parse(v["binary"]), bundle_id=v["bundle-id"],
        icon=_icon(where, table["icon"]) if "icon" in table else None, category=v["category"],
        minimum_macos=v["minimum-macos"], gui=v["gui"], copyright=v["copyright"],
        linux_categories=linux["categories"], comment=linux["comment"] or _first_line(p.description),
        keywords=linux["keywords"], scope=win["scope"], upgrade_code=Line(upgrade.upper()), manufacturer=Line.parse(manufacturer),
        windows_formats=tuple(win["formats"]), macos=_macos(where, table.get("macos", {})))
