"""Property tests of the config boundary (issue 26, item 9): hostile values for EVERY key of EVERY
section of targets.toml, and the contract each must meet —

- either one ConfigError (exit code 2) whose message names the key, with no raw line break or
  control character in it, and no other exception (never a traceback);
- or the value is accepted, and then confined: every boundary-typed value in the Config passes
  its type's check again, every path stays inside its root, and the formats written from the
  config (.desktop entry, Info.plist, WiX, NSIS, nfpm's package fields, tags) hold single lines.

Two guards keep it true as the project grows: KEYS must list every key the parser accepts (the
parser's own "allowed here" list is compared with it, so a new key fails until it is added here),
and every `str` field of every config dataclass must be a boundary type (values.Checked) or be in
FREE_TEXT with the reason it never reaches a path, URL or format field.

The tally (tried / clear error / accepted-and-safe / failures) is printed at the end of the
module: `python -m pytest tests/unit/test_boundary_properties.py -s -q -p no:cacheprovider`.
Configs are parsed with the unit tests' stand-in for `cargo metadata` (no Rust, no cargo).
"""

from __future__ import annotations

import dataclasses
import json
import plistlib
import typing
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_pipeline import fake_metadata
from wavrybuild.channels.desktop import format as fmt
from wavrybuild.channels.linux.nfpm import nfpm_config
from wavrybuild.config import Config, parse
from wavrybuild.config.artifacts import implied_names
from wavrybuild.config.checks import Template
from wavrybuild.config.values import Checked, GitRef, Line
from wavrybuild.env import Settings
from wavrybuild.errors import ConfigError

TARGET = "x86_64-unknown-linux-gnu"
SETTINGS = Settings()

# Where each section lives in targets.toml, the smallest table that lets the parser reach its keys,
# and every key it has. A key the parser accepts but this table lacks fails
# test_every_key_of_every_section_is_tried: add it here (with its base value if it needs one).
SECTIONS: dict[str, tuple[tuple[str | int, ...], dict[str, Any]]] = {
    "": ((), {}),
    "project": (("project",), {}),
    "defaults": (("defaults",), {}),
    f"targets.{TARGET}": (("targets", TARGET), {}),
    "package": (("package",), {}),
    "checksum": (("checksum",), {}),
    "sign": (("sign",), {}),
    **{f"sign.{m}": (("sign", m), {}) for m in ("gpg", "minisign", "ssh", "authenticode", "sigstore")},
    "cache": (("cache",), {}),
    "channels": (("channels",), {}),
    "channels.pypi": (("channels", "pypi"), {}),
    "channels.npm": (("channels", "npm"), {}),
    "channels.deb": (("channels", "deb"), {"maintainer": "W <w@example.invalid>"}),
    "channels.rpm": (("channels", "rpm"), {"maintainer": "W <w@example.invalid>"}),
    "channels.installer": (("channels", "installer"), {"base-url": "https://dl.example/v{version}"}),
    "channels.homebrew": (("channels", "homebrew"), {"base-url": "https://dl.example/v{version}",
                                                   "tap": "o/homebrew-tap"}),
    "channels.scoop": (("channels", "scoop"), {"base-url": "https://dl.example/v{version}",
                                               "checkver-url": "https://dl.example/"}),
    "channels.winget": (("channels", "winget"), {"base-url": "https://dl.example/v{version}",
                                                 "package-identifier": "Example.demo"}),
    # The unit tests' target is glibc: a base is needed; user-env and password-env come in pairs.
    "channels.container": (("channels", "container"), {"registry": "https://registry.example", "user-env": "U",
                                                       "password-env": "P",
                                                       "base": "registry.example/base@sha256:" + "0" * 64}),
    "publish": (("publish",), {}),
    "publish.github": (("publish", "github"), {"repo": "o/n"}),
    "publish.gitlab": (("publish", "gitlab"), {}),
    # user-env and password-env come in pairs: each is tried with the other one set.
    "publish.http": (("publish", "http"), {"url": "https://up.example/{name}", "user-env": "U", "password-env": "P"}),
    "publish.directory": (("publish", "directory"), {"path": "/srv/releases"}),
    "publish.pypi": (("publish", "pypi"), {}),
    "publish.crates": (("publish", "crates"), {"packages": ["demo"]}),
    "bindings": (("bindings",), {}),
    "release": (("release",), {}),
    "artifacts[0]": (("artifacts", 0), {"name": "site.tar.gz", "directory": "site"}),
    "storage": (("storage",), {"url": "s3://bucket/prefix"}),
    "desktop": (("desktop",), {"bundle-id": "com.example.demo"}),
    "desktop.linux": (("desktop", "linux"), {}),
    "desktop.windows": (("desktop", "windows"), {}),
    "desktop.macos": (("desktop", "macos"), {}),
    "sbom": (("sbom",), {}),
    "provenance": (("provenance",), {}),
    "ci": (("ci",), {"part-key": "minisign", "part-public-key": "keys/parts.pub"}),
}
_TARGET_KEYS = ("builder", "glibc", "features", "no-default-features", "all-features", "profile", "rustflags", "env",
                "toolchain", "std", "runner", "smoke-args", "smoke-expect", "archive", "strip", "lto", "codegen-units",
                "opt-level", "panic", "public-env", "runs-on", "tags", "image")
KEYS: dict[str, tuple[str, ...]] = {
    "": ("project", "defaults", "targets", "package", "checksum", "sign", "publish", "channels", "bindings", "cache",
         "release", "artifacts", "storage", "desktop", "sbom", "provenance", "ci"),
    "project": ("crate", "package", "packages", "binaries", "dist", "name", "pass-env", "rustc"),
    "defaults": _TARGET_KEYS,
    f"targets.{TARGET}": (*_TARGET_KEYS, "triple"),
    "package": ("format", "windows-format", "include", "compression-level", "group", "crate-docs"),
    "checksum": ("sidecars",),
    "sign": ("methods", "artifacts", "gpg", "minisign", "ssh", "authenticode", "sigstore"),
    "sign.gpg": ("key", "homedir", "public-key", "passphrase-env"),
    "sign.minisign": ("key", "public-key", "passphrase-env"),
    "sign.ssh": ("key", "allowed-signers", "identity", "namespace"),
    "sign.authenticode": ("pkcs12", "password-env", "ca", "description", "timestamp-url"),
    "sign.sigstore": ("identity", "issuer", "token-env"),
    "cache": ("sccache",),
    "channels": ("pypi", "npm", "deb", "rpm", "installer", "homebrew", "scoop", "winget", "container"),
    "channels.pypi": ("name", "summary", "license"),
    "channels.npm": ("name", "targets", "registry", "token-env", "access", "tag", "publish"),
    "channels.deb": ("targets", "name", "maintainer", "section", "depends", "contents", "release", "repository",
                     "repo-dir", "distribution", "component"),
    "channels.rpm": ("targets", "name", "maintainer", "depends", "contents", "release", "repository", "repo-dir"),
    "channels.installer": ("base-url", "targets"),
    "channels.homebrew": ("base-url", "tap", "tap-path", "tap-token-env", "tap-api-url", "tap-branch"),
    "channels.scoop": ("base-url", "checkver-url"),
    "channels.winget": ("base-url", "package-identifier", "publisher"),
    "channels.container": ("registry", "repository", "tags", "targets", "base", "user-env", "password-env", "token-env"),
    "publish": ("github", "gitlab", "http", "directory", "pypi", "crates"),
    "publish.github": ("repo", "tag", "api-url", "upload-url", "token-env", "draft", "prerelease", "rolling"),
    "publish.gitlab": ("project", "api-url", "token-env", "token-kind", "package", "package-version", "tag", "release"),
    "publish.http": ("url", "token-env", "user-env", "password-env"),
    "publish.directory": ("path", "layout"),
    "publish.pypi": ("repository-url", "index-url", "token-env", "trusted-publishing", "oidc-url", "id-token-env"),
    "publish.crates": ("packages", "registry", "index", "token-env"),
    "bindings": ("package-dir", "python", "targets", "output-dir", "install-rust"),
    "release": ("changelog", "notes", "notes-from", "notes-template", "publish"),
    "artifacts[0]": ("name", "command", "directory", "top", "tag"),
    "storage": ("url", "endpoint-url", "region"),
    "desktop": ("name", "binary", "bundle-id", "icon", "category", "minimum-macos", "gui", "copyright", "linux",
                "windows", "macos"),
    "desktop.linux": ("categories", "comment", "keywords"),
    "desktop.windows": ("scope", "upgrade-code", "manufacturer", "formats"),
    "desktop.macos": ("identity", "entitlements", "p12", "p12-password-env", "api-key", "api-key-id", "api-issuer",
                      "notarize", "signer"),
    "sbom": ("spec-version", "wheels"),
    "provenance": ("builder-id",),
    "ci": ("part-key", "part-public-key"),
}
PAIRS = [(section, key) for section, keys in KEYS.items() for key in keys]

# Free-text `str` fields of the config dataclasses: each never reaches a path, URL or file format
# field (or is checked by a pattern as strict as a boundary type, said here). Everything else that
# is a string must be a values.Checked type.
FREE_TEXT = {
    "Config.bundle_channels": "bundle names: Project/CratePackage names, already Components",
    "CratePackage.description": "Cargo.toml's description: nfpm folds it (multi-line is valid there); the .desktop "
                                "Comment and the PyPI summary take its first line as a Line",
    "SecretPolicy.named": "environment variable names, only compared against the environment",
    "SecretPolicy.passed": "environment variable names, only compared against the environment",
    "TargetConfig.id": "TARGET_ID pattern and Component-checked at load; str because it keys many dicts",
    "TargetConfig.builder": "one of BUILDERS", "TargetConfig.std": "one of STD_SOURCES",
    "TargetConfig.runner": "one of RUNNERS", "TargetConfig.archive": "one of ARCHIVE_FORMATS",
    "TargetConfig.glibc": 'the pattern 2.NN', "TargetConfig.smoke_expect": "compared with a smoke run's output",
    "TargetConfig.env": "names are [A-Za-z_][A-Za-z0-9_]*; values (NUL refused) are credentials for the build",
    "TargetConfig.profile_settings": "keys are PROFILE_KEYS; values checked bools, ints and fixed words",
    "TargetConfig.public_env": "names, each a key of env",
    "Triple.name": "a triple rustc knows (known_triples) or universal2",
    "PackageConfig.format": "one of ARCHIVE_FORMATS", "PackageConfig.windows_format": "one of ARCHIVE_FORMATS",
    "PackageConfig.group": "one of GROUPS",
    "PackageConfig.include": "globs: Lines that stay inside the crate (parse_package); plain str for pathlib's glob",
    "SignConfig.methods": "each one of SIGN_METHODS",
    "GpgSigning.passphrase_env": "an env var name (checks.env_name)",
    "MinisignSigning.passphrase_env": "an env var name", "AuthenticodeSigning.password_env": "an env var name",
    "SigstoreSigning.token_env": "an env var name",
    "NpmConfig.targets": "configured target ids", "LinuxPackageConfig.targets": "configured target ids",
    "InstallerConfig.targets": "configured target ids", "BindingsConfig.targets": "configured target ids",
    "NpmConfig.access": "one of ACCESS", "LinuxPackageConfig.format": "deb or rpm",
    "NpmConfig.token_env": "an env var name (checks.ENV_NAME)", "GitHubConfig.token_env": "an env var name",
    "GitLabConfig.token_env": "an env var name", "HttpConfig.token_env": "an env var name",
    "HttpConfig.user_env": "an env var name", "HttpConfig.password_env": "an env var name",
    "PypiConfig.token_env": "an env var name", "PypiConfig.id_token_env": "an env var name",
    "CratesConfig.token_env": "an env var name", "MacSigning.p12_password_env": "an env var name",
    "GitLabConfig.token_kind": "auto, job or private",
    "BindingsConfig.python": "build selectors matching (cp|pp|gp)[0-9*]+t?",
    "ExtraArtifact.format": "one of EXTENSIONS' formats",
    "StorageConfig.prefix": '"" or a values.RelPath (parse_s3_url)',
    "DesktopConfig.scope": "one of SCOPES", "DesktopConfig.windows_formats": "each one of WINDOWS_FORMATS",
    "MacSigning.signer": "one of SIGNERS", "SbomConfig.spec_version": "one of SPEC_VERSIONS",
    "CiConfig.part_key": "one of PART_KEYS",
    "TapConfig.token_env": "an env var name (checks.env_name)",
    "ContainerConfig.targets": "configured target ids", "ContainerConfig.user_env": "an env var name",
    "ContainerConfig.password_env": "an env var name", "ContainerConfig.token_env": "an env var name",
    "BaseImage.host": "HOST_RE (a domain or IPv4 address, an optional port), checked by parse_base",
    "BaseImage.digest": "DIGEST_RE (sha256:<64 hex>), checked by parse_base",
    "NotesTemplate.parts": "the notes template's own Markdown and its placeholder names (each one of PLACEHOLDERS): "
                           "the release notes' text, never a path, URL or format field",
}

# --- hostile values ----------------------------------------------------------------------------------

FRAGMENTS = ["..", "/", "\\", "\0", "\r", "\n", "\u2028", "\u2029", "\x85", "\x0b", "\x1b", "\t", "-", "--x", " ",
             "a", "Z9", ".git", "dist", "{version}", "{name}", "{commit}", "{", "}", "@{", "~", "$(id)", '"', "'",
             ";", "*", ":", "%2e%2e", "x" * 3000, "https://", "s3://", "é"]
FIXED: list[Any] = [
    "", ".", "..", "../../../../docs", "a/b", "/etc", "x\0y", "x\ny", "W <w@x>\nDepends: evil", "x\rX: y",
    "x\u2028y", "x\u2029y", "x\x85y", "x\x0by", "-rf", "--help", "x" * 100_000, "v{version}/../../x", "{version}\n",
    "https://user:pw@host/", "http://h/\n", "s3://b/../x", " lead", "trail ", "$(id)", "!system id",
    0, -1, 2**70, 3.5, True, False, [], ["..", "x\ny"], [1], {}, {"a": "b"}, {"a": {"b": "\n"}}, [{"src": "../x"}],
]
hostile_text = st.one_of(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=5).map("".join),
                         st.text(max_size=40))
hostile = st.one_of(hostile_text, st.integers(), st.booleans(), st.floats(allow_nan=False),
                    st.lists(hostile_text, max_size=3), st.dictionaries(hostile_text, hostile_text, max_size=2),
                    st.lists(st.dictionaries(st.sampled_from(["src", "dst", "mode", "x"]), hostile_text, max_size=3),
                             max_size=2))

TALLY: Counter[str] = Counter()
FAILURES: list[str] = []


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One project for the whole module (parsing writes nothing: checked at the end)."""
    root = tmp_path_factory.mktemp("boundary") / "project"
    (root / "site").mkdir(parents=True)
    (root / "site/index.html").write_text("<p>hi</p>\n")
    (root / "docs").mkdir()
    (root / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    (root / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    before = sorted(str(p) for p in root.parent.rglob("*"))
    yield root
    assert sorted(str(p) for p in root.parent.rglob("*")) == before, "parsing targets.toml wrote files"
    print(f"\nboundary tally: tried {TALLY['tried']}, clear error {TALLY['clear']}, "
          f"accepted and safe {TALLY['safe']}, failures {TALLY['failures']} "
          f"({len(PAIRS)} keys in {len(KEYS)} sections)")
    for line in FAILURES[:20]:
        print("  FAIL", line)


_BASES = {path: base for path, base in SECTIONS.values()}


def _document(section: str, key: str, value: Any) -> dict[str, Any]:
    """targets.toml as data: the section's (and its parents') smallest valid tables, and key = value."""
    path, _ = SECTIONS[section]
    data: dict[str, Any] = {"targets": {TARGET: {}}}
    if not path:
        data[key] = value
        return data
    node: Any = data
    for i, step in enumerate(path):
        base = {**_BASES.get(path[:i + 1], {})}
        if step == 0:  # [[artifacts]]: a list of tables
            node.append(base)
            node = base
        elif path[i + 1:i + 2] == (0,):
            node = node.setdefault(step, [])
        else:
            node[step] = {**(node.get(step) or {}), **base}
            node = node[step]
    node[key] = value
    return data


def _key_name(section: str, key: str) -> str:
    return f"{section}.{key}" if section else key


def _bad_text(text: str) -> str | None:
    """A raw line break or control character in an error message (values must appear as repr)."""
    for ch in text:
        if ch in "\r\n\0\x0b\x0c\x85\u2028\u2029" or (ord(ch) < 0x20 and ch != "\t"):
            return repr(ch)
    return None


def _checked_values(value: Any, where: str = "config") -> Iterator[tuple[str, Checked]]:
    """Every boundary-typed value anywhere in the Config."""
    if isinstance(value, Checked):
        yield where, value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _checked_values(getattr(value, f.name), f"{where}.{f.name}")
    elif isinstance(value, tuple | list):
        for i, x in enumerate(value):
            yield from _checked_values(x, f"{where}[{i}]")


def _format_problems(cfg: Config) -> Iterator[str]:
    """What the formats written from this config would hold that they must not."""
    for where, v in _checked_values(cfg):
        try:
            type(v).check(str(v))
        except ValueError:
            yield f"{where}: {type(v).__name__} {str(v)[:60]!r} does not pass its own check"
        if isinstance(v, Template):
            try:
                v._render({"name": "demo", "version": "1.2.3", "commit": "0" * 40, "date": "2026-01-02"})
            except ValueError as exc:
                yield f"{where}: {exc}"
    d = cfg.desktop
    if d is not None:
        entry = fmt.desktop_entry(d, icon=True).splitlines()
        keys = [line.split("=", 1)[0] for line in entry[1:]]
        if len(keys) != len(set(keys)) or any(not k.isalpha() for k in keys):
            yield f".desktop entry has extra keys: {keys}"
        nsis = fmt.nsis_script(d, "1.2.3", ["demo.exe"], "setup.exe", win64=True, icon=None)
        if any(line.lstrip().startswith("!") and not line.startswith("!include") for line in nsis.splitlines()):
            yield "NSIS script has a ! directive of the config's making"
        ET.fromstring(fmt.wix_source(d, "1.2.3", ["demo.exe"], "x64", icon=None))
        if plistlib.loads(fmt.info_plist(d, "1.2.3", icon=False))["CFBundleDisplayName"] != d.name:
            yield "Info.plist does not round-trip the name"
    for lc in cfg.channels.linux:
        data = nfpm_config(cfg, lc, cfg.targets[0], [], 0)
        for field in ("name", "maintainer", "section", "release", "license", "homepage"):
            if _bad_text(str(data.get(field, ""))):
                yield f"nfpm {field} is not one line"
        if any(_bad_text(x) for x in data.get("depends", [])):
            yield "nfpm depends is not one line each"
        json.dumps(data)


def _path_problems(cfg: Config, root: Path) -> Iterator[str]:
    """Paths that leave their root, or land on the project, .git or dist/."""
    real = root.resolve()
    dist = cfg.project.dist_dir.resolve()
    if real.is_relative_to(dist):
        yield f"dist {dist} holds the project"
    for a in cfg.artifacts:
        if not a.directory.resolve().is_relative_to(real) or a.directory.resolve() == real:
            yield f"artifact directory {a.directory} is not inside the project"
        if a.name in implied_names(cfg, cfg.package) or "/" in a.name:
            yield f"artifact name {a.name} takes another file's place"
    for _, channels in cfg.bundle_channels:
        for lc in channels.linux:
            if real.is_relative_to(lc.repo_dir):
                yield f"repo-dir {lc.repo_dir} holds the project"
            for sub in (lc.repo_dir / "dists" / lc.distribution, lc.repo_dir / "pool" / lc.component):
                if not sub.resolve().is_relative_to(lc.repo_dir.resolve()) or sub.resolve() == lc.repo_dir.resolve():
                    yield f"apt path {sub} leaves the repository"
            for c in lc.contents:
                if not c.src.is_relative_to(real) or ".." in c.dst.split("/"):
                    yield f"contents {c.src} -> {c.dst} leaves its root"
    directory = cfg.publish.directory
    if directory is not None:
        if directory.path.resolve().is_relative_to(dist):
            yield f"publish.directory.path {directory.path} is inside dist/"
        out = (directory.path / directory.layout.render({"name": "demo", "version": "1.2.3", "commit": "0" * 40})).resolve()
        if not out.is_relative_to(directory.path.resolve()) or out == directory.path.resolve():
            yield "publish.directory.layout leaves the path"
    for pattern in cfg.package.include:
        if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            yield f"package.include {pattern!r} leaves the crate"
    for d in cfg.publish.destinations:
        tag = getattr(d, "tag", None)
        if tag is not None:
            GitRef.parse(tag.render({"name": "demo", "version": "1.2.3", "commit": "0" * 40, "date": "2026-01-02"}))


def _outcome(root: Path, section: str, key: str, value: Any) -> str | None:
    """Parse one document; None if the contract holds (and the tally says how), else the failure."""
    TALLY["tried"] += 1
    name = _key_name(section, key)
    try:
        cfg = parse(root / "targets.toml", _document(section, key, value), fake_metadata, SETTINGS)
    except ConfigError as exc:
        problem = ("exit code is not 2" if exc.exit_code != 2
                   else f"message does not name {name}" if name not in exc.message and not _names_parent(exc.message, name)
                   else f"raw {_bad_text(exc.message)} in the message" if _bad_text(exc.message) else None)
        if problem is None:
            TALLY["clear"] += 1
            return None
        return f"{name} = {str(value)[:80]!r}: {problem}: {exc.message[:200]!r}"
    except Exception as exc:  # the contract: never anything but a ConfigError
        return f"{name} = {str(value)[:80]!r}: {type(exc).__name__}: {str(exc)[:200]}"
    problems = [*_format_problems(cfg), *_path_problems(cfg, root)]
    if problems:
        return f"{name} = {str(value)[:80]!r}: accepted, but {problems[0]}"
    TALLY["safe"] += 1
    return None


def _names_parent(message: str, name: str) -> bool:
    """A table-valued key's error may name the key inside it (desktop.linux → desktop.linux.comment),
    and [[artifacts]] / the top level name the table they are in."""
    return name + "." in message or name + "[" in message


def _check(root: Path, section: str, key: str, value: Any) -> None:
    failure = _outcome(root, section, key, value)
    if failure is not None:
        TALLY["failures"] += 1
        FAILURES.append(failure)
        pytest.fail(failure)


@pytest.mark.parametrize(("section", "key"), PAIRS, ids=[_key_name(s, k) for s, k in PAIRS])
def test_fixed_hostile_values(root: Path, section: str, key: str) -> None:
    """Every named kind of hostile value, for every key."""
    failures = []
    for value in FIXED:
        failure = _outcome(root, section, key, value)
        if failure is not None:
            TALLY["failures"] += 1
            FAILURES.append(failure)
            failures.append(failure)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(("section", "key"), PAIRS, ids=[_key_name(s, k) for s, k in PAIRS])
@settings(max_examples=12, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=hostile)
def test_generated_hostile_values(root: Path, section: str, key: str, value: Any) -> None:
    _check(root, section, key, value)


def _probe(root: Path, section: str) -> set[str]:
    """The keys the parser itself accepts in a section: its "allowed here" list for an unknown key."""
    with pytest.raises(ConfigError) as info:
        parse(root / "targets.toml", _document(section, "zz-probe", 1), fake_metadata, SETTINGS)
    hint = info.value.hint or ""
    assert "allowed here: " in hint, (section, info.value.message)
    return set(hint.split("allowed here: ", 1)[1].split(", "))


@pytest.mark.parametrize("section", list(KEYS))
def test_every_key_of_every_section_is_tried(root: Path, section: str) -> None:
    """A key added to the parser fails here until KEYS (and so the property tests) has it."""
    assert _probe(root, section) == set(KEYS[section])


def test_every_table_is_a_section_here() -> None:
    """Every key that is itself a table of keys has its own entry in KEYS."""
    tables = {"project", "defaults", "package", "checksum", "sign", "cache", "channels", "publish", "bindings",
              "release", "storage", "desktop", "sbom", "provenance"}
    assert tables <= set(KEYS[""]) and all(t in KEYS for t in tables)
    assert all(f"channels.{k}" in KEYS for k in KEYS["channels"])
    assert all(f"publish.{k}" in KEYS for k in KEYS["publish"])
    assert all(f"sign.{k}" in KEYS for k in KEYS["sign"] if k not in ("methods", "artifacts"))
    assert all(f"desktop.{k}" in KEYS for k in ("linux", "windows", "macos"))


def _has_plain_str(tp: Any) -> bool:
    if tp is str or tp is Any:
        return True
    if isinstance(tp, type) and issubclass(tp, Checked):
        return False
    return any(_has_plain_str(a) for a in typing.get_args(tp))


def _hints(tp: Any) -> dict[str, Any]:
    # Config names its optional sections' types for the type checker only (config/whole.py).
    from wavrybuild.config import bindings, ci, container, desktop, npm, pkgmanagers, sbom, storage
    names = {k: v for m in (bindings, ci, container, desktop, npm, pkgmanagers, sbom, storage) for k, v in vars(m).items()}
    return typing.get_type_hints(tp, localns=names)


def _dataclasses(tp: Any, seen: list[type]) -> list[type]:
    if isinstance(tp, type) and dataclasses.is_dataclass(tp) and tp not in seen:
        seen.append(tp)
        for hint in _hints(tp).values():
            _dataclasses(hint, seen)
    for arg in typing.get_args(tp):
        _dataclasses(arg, seen)
    return seen


def test_every_string_field_is_a_boundary_type_or_free_text() -> None:
    """Walks every dataclass a Config holds (models, channels, desktop, publish, artifacts, release,
    storage, sbom …): a new `str` field fails here until it has a boundary type from
    config/values.py — or a line in FREE_TEXT saying why it never reaches a path, URL or format."""
    unchecked = []
    for cls in _dataclasses(Config, []):
        hints = _hints(cls)
        for f in dataclasses.fields(cls):
            name = f"{cls.__name__}.{f.name}"
            if _has_plain_str(hints[f.name]) and name not in FREE_TEXT:
                unchecked.append(f"{name}: {hints[f.name]}")
    assert not unchecked, "str fields without a boundary type:\n" + "\n".join(unchecked)
    stale = [k for k in FREE_TEXT if k.split(".")[0] not in {c.__name__ for c in _dataclasses(Config, [])}]
    assert not stale, stale


def test_format_fields_are_lines() -> None:
    """The fields the issue names as format fields carry the Line type (or a stricter one)."""
    from wavrybuild.config.channels import LinuxPackageConfig
    from wavrybuild.config.desktop import DesktopConfig

    linux = typing.get_type_hints(LinuxPackageConfig)
    assert linux["maintainer"] is Line and linux["section"] is Line and linux["depends"] == tuple[Line, ...]
    desk = typing.get_type_hints(DesktopConfig)
    assert desk["name"] is Line and desk["copyright"] == Line | None and desk["manufacturer"] is Line
