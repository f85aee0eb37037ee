"""The Homebrew formula, the Scoop manifest and the winget manifests of a release, from its
artifacts (name and sha256 from dist/manifest.json) and their download URLs. Pure: text in, text out.

Every configured or Cargo.toml string reaches these files only as a quoted literal: Ruby strings
escape `\\`, `"` and `#` (no `#{}` interpolation) and spell every other non-printable character as
`\\u{…}`; JSON and YAML values are written by json.dumps (a JSON string is a YAML double-quoted scalar)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ...config import Config, TargetConfig

WINGET_VERSION = "1.6.0"
WINGET_SCHEMA = "https://aka.ms/winget-manifest.{kind}.1.6.0.schema.json"
BREW_OS = {"macos": "on_macos", "linux": "on_linux"}
BREW_CPU = {"aarch64": "on_arm", "x86_64": "on_intel"}
SCOOP_ARCH = {"x86_64": "64bit", "aarch64": "arm64", "i686": "32bit"}
WINGET_ARCH = {"x86_64": "x64", "aarch64": "arm64", "i686": "x86"}


@dataclass(frozen=True)
class Download:
    """One release file as a package manager fetches it."""

    target: TargetConfig
    path: str  # its name in dist/ and in the release
    fmt: str  # tar.gz, zip, msi, exe
    sha256: str
    url: str

    @property
    def top(self) -> str:
        """An archive's top directory: its name without the extension (package/plan.archive_top)."""
        return self.path.removesuffix("." + self.fmt)


def url_of(base: str, view: Config, path: str, version: str | None = None) -> str:
    """`base` ({version}, {name}) filled in, and the file's name; `version` replaces the release's
    version in both (Scoop's "$version")."""
    p = view.project
    v = version or p.version
    return base.format(version=v, name=p.name).rstrip("/") + "/" + (path.replace(p.version, v) if version else path)


# --- Homebrew ---------------------------------------------------------------------------------------

def ruby_str(text: str) -> str:
    """A Ruby double-quoted literal of exactly `text`: nothing in it is interpolated or ends it."""
    out = []
    for ch in text:
        if ch in '\\"#':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif " " <= ch <= "~" or (ord(ch) > 0xA0 and ch.isprintable()):
            out.append(ch)
        else:
            out.append(f"\\u{{{ord(ch):x}}}")
    return '"' + "".join(out) + '"'


def formula_class(name: str) -> str:
    """Homebrew's class name for a formula name (Formulary.class_s): wavry-demo -> WavryDemo."""
    return re.sub(r"[-_.\s]([a-zA-Z0-9])", lambda m: m.group(1).upper(), name[:1].upper() + name[1:]).replace("+", "x")


def _floor(t: TargetConfig) -> tuple[int, ...]:
    return tuple(int(x) for x in t.glibc.split(".")) if t.glibc else (99,)


def brew_downloads(archives: Sequence[Download]) -> dict[tuple[str, str], Download]:
    """(os, cpu) -> the archive Homebrew installs there: a one-architecture build before universal2,
    the lowest glibc floor first (it runs on the most systems), glibc before musl."""
    chosen: dict[tuple[str, str], Download] = {}
    ordered = sorted(archives, key=lambda d: (d.target.triple.is_universal, _floor(d.target), d.target.triple.is_musl))
    for d in ordered:
        tr = d.target.triple
        if tr.os not in BREW_OS:
            continue
        for cpu in ("aarch64", "x86_64") if tr.is_universal else (tr.arch,):
            if cpu in BREW_CPU:
                chosen.setdefault((tr.os, cpu), d)
    return chosen


def formula(view: Config, archives: Sequence[Download], homepage: str | None) -> str:
    """`<name>.rb`: per-platform url/sha256, bin.install of every binary, a test that runs --version."""
    p = view.project
    chosen = brew_downloads(archives)
    desc = p.description.strip() or f"{p.name} command-line tool"
    lines = [f"# {p.name} {p.version}: written by wavrybuild from the release's download URLs and sha256s.",
             f"class {formula_class(p.name)} < Formula",
             f"  desc {ruby_str(desc)}"]
    if homepage:
        lines.append(f"  homepage {ruby_str(homepage)}")
    lines.append(f"  version {ruby_str(p.version)}")
    if p.license:
        lines.append(f"  license {ruby_str(str(p.license))}")
    for os_name, block in BREW_OS.items():
        here = {cpu: d for (o, cpu), d in chosen.items() if o == os_name}
        if not here:
            continue
        lines += ["", f"  {block} do"]
        if len({d.path for d in here.values()}) == 1 and len(here) == 2:  # one universal build for both
            d = next(iter(here.values()))
            lines += [f"    url {ruby_str(d.url)}", f"    sha256 {ruby_str(d.sha256)}"]
        else:
            for cpu, d in sorted(here.items()):
                lines += [f"    {BREW_CPU[cpu]} do", f"      url {ruby_str(d.url)}", f"      sha256 {ruby_str(d.sha256)}",
                          "    end"]
        lines.append("  end")
    lines += ["", "  def install"]
    lines += [f"    bin.install {ruby_str(b)}" for b in p.binaries]
    lines += ["  end", "", "  test do"]
    lines += [f'    system "#{{bin}}/{ruby_str(b)[1:-1]}", "--version"' for b in p.binaries[:1]]
    lines += ["  end", "end"]
    return "\n".join(lines) + "\n"


# --- Scoop ------------------------------------------------------------------------------------------

def scoop_downloads(archives: Sequence[Download]) -> dict[str, Download]:
    """Scoop architecture (64bit, arm64, 32bit) -> the Windows archive for it (the first configured)."""
    chosen: dict[str, Download] = {}
    for d in archives:
        arch = SCOOP_ARCH.get(d.target.triple.arch)
        if d.target.triple.is_windows and arch:
            chosen.setdefault(arch, d)
    return chosen


def scoop_manifest(view: Config, archives: Sequence[Download], base: str, *, homepage: str, license: str,
                   checkver: dict[str, str]) -> str:
    """`<name>.json`: each architecture's archive, its binaries on PATH, and how Scoop's checkver and
    autoupdate find and fetch the next version (same URL pattern, sha256 read from SHA256SUMS)."""
    p = view.project
    chosen = scoop_downloads(archives)
    arch = {a: {"url": d.url, "hash": d.sha256, "extract_dir": d.top} for a, d in sorted(chosen.items())}
    auto = {a: {"url": url_of(base, view, d.path, "$version"), "extract_dir": d.top.replace(p.version, "$version")}
            for a, d in sorted(chosen.items())}
    doc = {
        "version": p.version,
        "description": (p.description.strip().splitlines() or [f"{p.name} command-line tool"])[0],
        "homepage": homepage,
        "license": license,
        "architecture": arch,
        "bin": [f"{b}.exe" for b in p.binaries],
        "checkver": checkver,
        "autoupdate": {"architecture": auto, "hash": {"url": "$baseurl/SHA256SUMS", "regex": r"$sha256\s+\*?$basename"}},
    }
    return json.dumps(doc, indent=4, ensure_ascii=True) + "\n"


def scoop_checkver(view: Config, base: str, tag: str | None, page: str | None, archives: Sequence[Download]) -> dict[str, str]:
    """From GitHub's latest release (its tag read with the tag template), or from a page that lists
    the archives (their names give the version)."""
    p = view.project
    if page is not None:
        chosen = scoop_downloads(archives)
        first = next(chosen[a] for a in SCOOP_ARCH.values() if a in chosen)  # 64bit's name if there is one
        before, _, after = first.path.partition(p.version)
        regex = re.escape(before) + r"([\w.+-]+?)" + re.escape(after)
        return {"url": page.format(version=p.version, name=p.name), "regex": regex}
    assert tag is not None
    repo = base.split("/releases/download/")[0]
    out = {"github": repo}
    prefix, _, suffix = tag.replace("{name}", p.name).partition("{version}")
    if (prefix, suffix) not in (("v", ""), ("", "")):  # Scoop's own regex reads v1.2.3 and 1.2.3 tags
        out["regex"] = "/releases/tag/" + re.escape(prefix) + r"([\w.+-]+)" + re.escape(suffix) + '"'
    return out


# --- winget -----------------------------------------------------------------------------------------

def yaml_doc(kind: str, fields: dict[str, object]) -> str:
    """A winget manifest: YAML whose every scalar is a JSON string (valid YAML, never a tag or anchor)."""
    out = ["# written by wavrybuild from the release's download URLs and sha256s",
           f"# yaml-language-server: $schema={WINGET_SCHEMA.format(kind=kind)}", ""]
    for key, value in fields.items():
        if isinstance(value, list):
            out.append(f"{key}:")
            for item in value:
                assert isinstance(item, dict)
                for i, (k, v) in enumerate(item.items()):
                    out.append(("- " if i == 0 else "  ") + f"{k}: {json.dumps(v)}")
        else:
            out.append(f"{key}: {json.dumps(value)}")
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class WingetPackage:
    identifier: str
    publisher: str
    name: str  # PackageName: the app's display name
    license: str
    homepage: str | None
    scope: str  # user | machine
    product_codes: Mapping[str, str]  # winget architecture (x64, arm64, x86) -> that MSI's ProductCode, {GUID}


def winget_manifests(view: Config, pkg: WingetPackage, installers: Sequence[Download]) -> dict[str, str]:
    """{file name: YAML}: the version, installer and default-locale manifests (schema 1.6.0)."""
    p = view.project
    head = {"PackageIdentifier": pkg.identifier, "PackageVersion": p.version}
    entries: list[dict[str, object]] = []
    for d in installers:
        arch = WINGET_ARCH.get(d.target.triple.arch)
        if arch is None or not d.target.triple.is_windows:
            continue
        entry: dict[str, object] = {"Architecture": arch, "InstallerType": "wix" if d.fmt == "msi" else "nullsoft",
                                    "Scope": pkg.scope, "InstallerUrl": d.url, "InstallerSha256": d.sha256.upper()}
        if d.fmt == "msi":
            entry["ProductCode"] = pkg.product_codes[arch]  # each architecture's MSI has its own
        entries.append(entry)
    desc = p.description.strip()
    short = (desc.splitlines() or [pkg.name])[0][:256]
    locale: dict[str, object] = {**head, "PackageLocale": "en-US", "Publisher": pkg.publisher, "PackageName": pkg.name}
    if pkg.homepage:
        locale["PackageUrl"] = pkg.homepage
    locale.update({"License": pkg.license, "ShortDescription": short})
    if desc and desc != short:
        locale["Description"] = desc[:10000]
    i = pkg.identifier
    return {
        f"{i}.yaml": yaml_doc("version", {**head, "DefaultLocale": "en-US", "ManifestType": "version",
                                          "ManifestVersion": WINGET_VERSION}),
        f"{i}.installer.yaml": yaml_doc("installer", {**head, "Installers": entries, "ManifestType": "installer",
                                                      "ManifestVersion": WINGET_VERSION}),
        f"{i}.locale.en-US.yaml": yaml_doc("defaultLocale", {**locale, "ManifestType": "defaultLocale",
                                                             "ManifestVersion": WINGET_VERSION}),
    }
