"""Homebrew formula, Scoop manifest, winget manifests (issue 30, item 3).

A release's dist/ is made here by hand (archives and installers of real bytes in a real
manifest.json); the package-managers stage writes its files from it. The formula is checked by
Ruby itself (`ruby -c`, and loaded under a stand-in `Formula` that records every call, so the
values Ruby sees are compared, not the text); the Scoop and winget files are validated against
those projects' own published JSON schemas (tests/schemas/, see its README)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.unit.test_pipeline import Recorder
from wavrybuild.channels.desktop.format import wix_source
from wavrybuild.channels.pkgmanagers.format import formula_class, ruby_str
from wavrybuild.channels.pkgmanagers.stage import PackageManagersStage
from wavrybuild.checksum import sha256_file
from wavrybuild.config import Config, parse
from wavrybuild.env import Settings
from wavrybuild.errors import ConfigError, WavryError
from wavrybuild.manifest import Artifact, Manifest
from wavrybuild.pipeline.runner import Pipeline
from wavrybuild.pipeline.stage import Run

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
TARGETS = ("x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu", "x86_64-unknown-linux-musl",
           "universal2-apple-darwin", "x86_64-pc-windows-gnu", "aarch64-pc-windows-msvc")
HOSTILE = 'Say "hi" #{`touch pwned`} \\#{x} \\n #$y #@z é\nsecond line: end"; system("id") #'
GITHUB = {"github": {"repo": "example/demo"}}
RUBY_STUB = """
require "json"
$calls = []
$path = []
class Formula
  def self.method_missing(name, *args, &block)
    $calls << [$path.join("/"), name.to_s, *args.map(&:to_s)]
    if block && name != :test
      $path.push(name.to_s)
      block.call
      $path.pop
    end
    nil
  end

  def self.respond_to_missing?(*)
    true
  end

  # Kernel#test exists (a private method of every object): the formula's `test do` must reach this.
  def self.test(*args)
    $calls << [$path.join("/"), "test", *args.map(&:to_s)]
    nil
  end
end
load ARGV[0]
names = ObjectSpace.each_object(Class).select { |k| k < Formula }.map(&:name)
puts JSON.generate({"classes" => names, "calls" => $calls})
"""


def _metadata(description: str, license: str | None = "MIT", homepage: str | None = "https://example.com/demo"):
    def metadata(manifest: Path) -> dict[str, Any]:
        pkg = {"name": "demo", "version": "1.2.3", "manifest_path": str(manifest), "description": description,
               "license": license, "homepage": homepage,
               "targets": [{"name": "demo", "kind": ["bin"]}, {"name": "demo-helper", "kind": ["bin"]}]}
        return {"packages": [pkg], "workspace_root": str(manifest.parent),
                "target_directory": str(manifest.parent / "target")}
    return metadata


def _config(root: Path, channels: dict[str, Any], *, description: str = "A demo", publish: dict[str, Any] | None = None,
            extra: dict[str, Any] | None = None, **meta: Any) -> Config:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    data: dict[str, Any] = {"targets": {t: {} for t in TARGETS}, "channels": channels,
                            "publish": GITHUB if publish is None else publish,
                            "desktop": {"name": "Demo App", "bundle-id": "com.example.demo",
                                        "windows": {"formats": ["msi", "nsis"], "manufacturer": "Example Ltd"}},
                            **(extra or {})}
    return parse(root / "targets.toml", data, _metadata(description, **meta), Settings())


def _dist(cfg: Config) -> dict[str, Artifact]:
    """dist/ as a release leaves it before this stage: an archive per target, an MSI and a
    setup.exe per Windows target, each its own bytes."""
    dist = cfg.project.dist_dir
    dist.mkdir(exist_ok=True)
    arts = []
    for t in cfg.targets:
        files = [("archive", "zip" if t.triple.is_windows else "tar.gz", f"demo-1.2.3-{t.id}")]
        if t.triple.is_windows:
            files += [("msi", "msi", f"demo-1.2.3-{t.id}"), ("setup", "exe", f"demo-1.2.3-{t.id}-setup")]
        for kind, fmt, stem in files:
            path = dist / f"{stem}.{fmt}"
            path.write_bytes(f"{kind} of {t.id}".encode())
            arts.append(Artifact(target=t.id, triple=t.triple.name, kind=kind, format=fmt, path=path.name,
                                 size=path.stat().st_size, sha256=sha256_file(path), binaries=["demo", "demo-helper"],
                                 packages=["demo"]))
    Manifest("demo", "demo", "1.2.3", {"commit": "f00d" * 10, "dirty": False}, 0, "", {}, arts).save(dist)
    return {a.path: a for a in arts}


def _release(cfg: Config) -> dict[str, Artifact]:
    arts = _dist(cfg)
    Pipeline(Run(cfg, Recorder(), cfg.targets)).stage(PackageManagersStage())
    return arts


# Ruby reads -e and its output in the locale's encoding: UTF-8 whatever the machine's locale.
RUBY_ENV = {"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8"}


def _ruby(formula: Path) -> dict[str, Any]:
    check = subprocess.run(["ruby", "-c", str(formula)], capture_output=True, text=True, check=False, env=RUBY_ENV)
    assert check.returncode == 0 and "Syntax OK" in check.stdout, check.stderr
    out = subprocess.run(["ruby", "-e", RUBY_STUB, str(formula)], capture_output=True, encoding="utf-8", check=True,
                         cwd=formula.parent, env=RUBY_ENV)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


URL = "https://github.com/example/demo/releases/download/v1.2.3/"


def test_homebrew_formula_is_ruby_with_each_platforms_url_and_sha256(tmp_path: Path) -> None:
    cfg = _config(tmp_path / "p", {"homebrew": {}})
    arts = _release(cfg)
    rb = cfg.project.dist_dir / "demo.rb"
    seen = _ruby(rb)
    assert seen["classes"] == ["Demo"]
    calls = [tuple(c) for c in seen["calls"]]
    top = {c[1]: list(c[2:]) for c in calls if c[0] == ""}
    assert top["desc"] == ["A demo"] and top["version"] == ["1.2.3"] and top["license"] == ["MIT"]
    assert top["homepage"] == ["https://example.com/demo"]
    sha = {name: a.sha256 for name, a in arts.items()}
    urls = {(c[0], c[1]): c[2] for c in calls if c[1] in ("url", "sha256")}
    # One universal2 build serves both Macs; on Linux the glibc build comes before musl.
    mac, arm, intel = "demo-1.2.3-universal2-apple-darwin.tar.gz", "demo-1.2.3-aarch64-unknown-linux-gnu.tar.gz", \
        "demo-1.2.3-x86_64-unknown-linux-gnu.tar.gz"
    assert urls == {("on_macos", "url"): URL + mac, ("on_macos", "sha256"): sha[mac],
                    ("on_linux/on_arm", "url"): URL + arm, ("on_linux/on_arm", "sha256"): sha[arm],
                    ("on_linux/on_intel", "url"): URL + intel, ("on_linux/on_intel", "sha256"): sha[intel]}
    text = rb.read_text()
    assert '    bin.install "demo"\n    bin.install "demo-helper"\n' in text
    assert 'test do\n    system "#{bin}/demo", "--version"\n  end' in text
    # Listed in the manifest as the release's own artifact.
    listed = Manifest.load(cfg.project.dist_dir)
    assert listed is not None and [a.path for a in listed.artifacts if a.kind == "homebrew"] == ["demo.rb"]


def test_a_hostile_description_stays_a_literal(tmp_path: Path) -> None:
    cfg = _config(tmp_path / "p", {"homebrew": {"base-url": "https://dl.example.com/demo/{version}/"}},
                  description=HOSTILE)
    _release(cfg)
    seen = _ruby(cfg.project.dist_dir / "demo.rb")
    desc = [c[2:] for c in seen["calls"] if c[1] == "desc"]
    assert desc == [[HOSTILE]]
    assert not (cfg.project.dist_dir / "pwned").exists()
    urls = [c[2] for c in seen["calls"] if c[1] == "url"]
    assert urls and all(u.startswith("https://dl.example.com/demo/1.2.3/demo-1.2.3-") for u in urls)


@pytest.mark.parametrize("text", ["#{1}", '"', "\\", "a\tb", "\x7f", "\u2028", "é", "#", "\\#{"])
def test_ruby_str_is_the_text_itself(tmp_path: Path, text: str) -> None:
    out = subprocess.run(["ruby", "-e", f"print({ruby_str(text)}.unpack('U*').join(','))"], capture_output=True,
                         encoding="utf-8", check=True, env=RUBY_ENV)
    assert out.stdout == ",".join(str(ord(ch)) for ch in text)


def test_formula_class_names() -> None:
    assert [formula_class(n) for n in ("demo", "wavry-demo", "a_b.c", "x2")] == ["Demo", "WavryDemo", "ABC", "X2"]


def _validate(schema_file: str, doc: Any) -> None:
    schema = json.loads((SCHEMAS / schema_file).read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}"
              for e in cls(schema, format_checker=cls.FORMAT_CHECKER).iter_errors(doc)]
    assert not errors, errors


def test_scoop_manifest_follows_scoops_schema(tmp_path: Path) -> None:
    cfg = _config(tmp_path / "p", {"scoop": {}})
    arts = _release(cfg)
    doc = json.loads((cfg.project.dist_dir / "demo.json").read_text())
    _validate("scoop.schema.json", doc)
    x64, arm = "demo-1.2.3-x86_64-pc-windows-gnu.zip", "demo-1.2.3-aarch64-pc-windows-msvc.zip"
    assert doc["architecture"] == {
        "64bit": {"url": URL + x64, "hash": arts[x64].sha256, "extract_dir": "demo-1.2.3-x86_64-pc-windows-gnu"},
        "arm64": {"url": URL + arm, "hash": arts[arm].sha256, "extract_dir": "demo-1.2.3-aarch64-pc-windows-msvc"}}
    assert doc["bin"] == ["demo.exe", "demo-helper.exe"]
    assert doc["version"] == "1.2.3" and doc["license"] == "MIT" and doc["homepage"] == "https://example.com/demo"
    assert doc["checkver"] == {"github": "https://github.com/example/demo"}
    auto = doc["autoupdate"]["architecture"]["64bit"]
    assert auto["url"] == "https://github.com/example/demo/releases/download/v$version/demo-$version-x86_64-pc-windows-gnu.zip"
    assert auto["extract_dir"] == "demo-$version-x86_64-pc-windows-gnu"
    assert doc["autoupdate"]["hash"]["url"] == "$baseurl/SHA256SUMS"


def test_scoop_checkver_reads_another_tag_shape_and_a_listing_page(tmp_path: Path) -> None:
    cfg = _config(tmp_path / "a", {"scoop": {}}, publish={"github": {"repo": "example/demo", "tag": "demo-v{version}"}})
    _release(cfg)
    doc = json.loads((cfg.project.dist_dir / "demo.json").read_text())
    _validate("scoop.schema.json", doc)
    assert doc["checkver"]["regex"] == '/releases/tag/demo\\-v([\\w.+-]+)"'
    cfg = _config(tmp_path / "b", {"scoop": {"base-url": "https://dl.example.com/{version}",
                                             "checkver-url": "https://dl.example.com/"}}, publish={})
    _release(cfg)
    doc = json.loads((cfg.project.dist_dir / "demo.json").read_text())
    _validate("scoop.schema.json", doc)
    assert doc["checkver"]["url"] == "https://dl.example.com/"
    m = re.search(doc["checkver"]["regex"], "<a href='demo-1.10.0-rc.1-x86_64-pc-windows-gnu.zip'>")
    assert m is not None and m.group(1) == "1.10.0-rc.1"


def _winget(tmp_path: Path, **kw: Any) -> tuple[Config, dict[str, Any], dict[str, Artifact]]:
    cfg = _config(tmp_path / "p", {"winget": {"package-identifier": "Example.{name}", **kw}})
    arts = _release(cfg)
    dist = cfg.project.dist_dir
    docs = {kind: yaml.safe_load((dist / f"Example.demo{suffix}.yaml").read_text())
            for kind, suffix in (("version", ""), ("installer", ".installer"), ("defaultLocale", ".locale.en-US"))}
    for kind, doc in docs.items():
        _validate(f"winget.{kind}.1.6.0.json", doc)
    return cfg, docs, arts


def test_winget_manifests_follow_wingets_schemas_and_the_msis_product_code(tmp_path: Path) -> None:
    cfg, docs, arts = _winget(tmp_path)
    assert docs["version"]["DefaultLocale"] == "en-US" and docs["version"]["PackageVersion"] == "1.2.3"
    installers = docs["installer"]["Installers"]
    assert {(i["Architecture"], i["InstallerType"]) for i in installers} == {
        ("x64", "wix"), ("x64", "nullsoft"), ("arm64", "wix"), ("arm64", "nullsoft")}
    for i in installers:
        name = i["InstallerUrl"].removeprefix(URL)
        assert i["InstallerSha256"] == arts[name].sha256.upper() and i["Scope"] == "user"
    # The ProductCode the desktop stage puts in each architecture's MSI (WiX's Product/@Id, braced in
    # the MSI): the x64 and the arm64 MSI each have their own, never a shared one.
    assert cfg.desktop is not None
    codes = {}
    for arch in ("x64", "arm64"):
        product = ET.fromstring(wix_source(cfg.desktop, "1.2.3", ["demo.exe"], arch, icon=None)).find(
            "{http://schemas.microsoft.com/wix/2006/wi}Product")
        assert product is not None
        codes[arch] = "{" + product.get("Id", "") + "}"
    assert {i["Architecture"]: i["ProductCode"] for i in installers if i["InstallerType"] == "wix"} == codes
    assert codes["x64"] != codes["arm64"]
    locale = docs["defaultLocale"]
    assert (locale["Publisher"], locale["PackageName"], locale["License"], locale["PackageUrl"]) == (
        "Example Ltd", "Demo App", "MIT", "https://example.com/demo")


def test_winget_takes_only_the_installers_the_release_publishes(tmp_path: Path) -> None:
    cfg = _config(tmp_path / "p", {"winget": {"package-identifier": "Example.demo", "publisher": "Someone Else"}},
                  extra={"release": {"publish": ["msi"]}})
    _release(cfg)
    doc = yaml.safe_load((cfg.project.dist_dir / "Example.demo.installer.yaml").read_text())
    assert {i["InstallerType"] for i in doc["Installers"]} == {"wix"}
    locale = yaml.safe_load((cfg.project.dist_dir / "Example.demo.locale.en-US.yaml").read_text())
    assert locale["Publisher"] == "Someone Else"


def test_a_rerun_changes_nothing(tmp_path: Path) -> None:
    cfg = _config(tmp_path / "p", {"homebrew": {}, "scoop": {}, "winget": {"package-identifier": "Example.demo"}})
    _release(cfg)
    dist = cfg.project.dist_dir
    before = {p.name: p.read_bytes() for p in dist.iterdir() if p.is_file()}
    assert {"demo.rb", "demo.json", "Example.demo.yaml"} <= before.keys()
    Pipeline(Run(cfg, Recorder(), cfg.targets)).stage(PackageManagersStage())
    assert {p.name: p.read_bytes() for p in dist.iterdir() if p.is_file()} == before


BAD: list[tuple[dict[str, Any], dict[str, Any], str]] = [
    ({"homebrew": {"base-url": "http://dl.example.com/{version}"}}, GITHUB, "channels.homebrew.base-url"),
    ({"homebrew": {"base-url": 'https://dl.example.com/"#{x}'}}, GITHUB, "channels.homebrew.base-url"),
    ({"homebrew": {"base-url": "https://dl.example.com/{commit}"}}, GITHUB, "channels.homebrew.base-url"),
    ({"homebrew": {"base-url": "https://dl.example.com/\nx"}}, GITHUB, "channels.homebrew.base-url"),
    ({"homebrew": {"base-urll": "https://dl.example.com/"}}, GITHUB, "did you mean 'base-url'"),
    ({"homebrew": {}}, {}, "channels.homebrew: no download URL"),
    ({"homebrew": {}}, {"github": {"repo": "o/r", "tag": "v{version}-{commit}"}}, "holds a commit or date"),
    ({"homebrew": {}}, {"github": {"repo": "o/r", "api-url": "https://ghe.example.com/api/v3"}}, "no download URL"),
    ({"scoop": {"base-url": "https://dl.example.com/{version}"}}, {}, "checkver-url"),
    ({"scoop": {"checkver-url": "ftp://x"}}, GITHUB, "channels.scoop.checkver-url"),
    ({"winget": {}}, GITHUB, "channels.winget.package-identifier"),
    ({"winget": {"package-identifier": "NoDot"}}, GITHUB, "channels.winget.package-identifier"),
    ({"winget": {"package-identifier": "Ex.a b"}}, GITHUB, "channels.winget.package-identifier"),
    ({"winget": {"package-identifier": "Ex.{version}"}}, GITHUB, "channels.winget.package-identifier"),
    ({"winget": {"package-identifier": "Ex.demo\n"}}, GITHUB, "channels.winget.package-identifier"),
    ({"winget": {"package-identifier": "Ex.demo", "publisher": "x\ny"}}, GITHUB, "channels.winget.publisher"),
    ({"winget": {"package-identifier": "Ex.demo", "publisher": ["x"]}}, GITHUB, "channels.winget.publisher"),
    ({"winget": []}, GITHUB, "channels.winget"),
]


@pytest.mark.parametrize(("channels", "publish", "message"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_config_is_one_clear_error(tmp_path: Path, channels: dict[str, Any], publish: dict[str, Any],
                                       message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _config(tmp_path / "p", channels, publish=publish)
    assert message in info.value.message + (info.value.hint or ""), info.value.message
    assert info.value.exit_code == 2


def test_release_publish_without_archives_refuses_homebrew(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="leaves out 'archive'"):
        _config(tmp_path / "p", {"homebrew": {}}, extra={"release": {"publish": ["msi"]}})


def test_scoop_without_a_license_says_so_when_it_writes(tmp_path: Path) -> None:
    cfg = _config(tmp_path / "p", {"scoop": {}}, license=None)
    _dist(cfg)
    with pytest.raises(ConfigError, match="needs the license"):
        PackageManagersStage().steps(Run(cfg, Recorder(), cfg.targets), None)


def test_no_archive_for_homebrew_is_an_error_not_an_empty_formula(tmp_path: Path) -> None:
    cfg = _config(tmp_path / "p", {"homebrew": {}})
    _dist(cfg)
    m = Manifest.load(cfg.project.dist_dir)
    assert m is not None
    m.artifacts = [a for a in m.artifacts if not a.target.endswith(("linux-gnu", "linux-musl", "darwin"))]
    m.save(cfg.project.dist_dir)
    with pytest.raises(WavryError, match="no macOS or Linux"):
        PackageManagersStage().steps(Run(cfg, Recorder(), cfg.targets), None)
