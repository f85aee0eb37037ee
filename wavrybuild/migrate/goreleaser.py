"""`init --from goreleaser`: .goreleaser.yaml (rust builds, archives, checksum, nfpms, signs,
release) as targets.toml pieces, shaped on GoReleaser's customization pages (builds/rust, archive,
checksum, nfpm, sign, release). `read` parses the YAML with PyYAML's safe loader (plain data, no
tags, never evaluated); `migrate` is pure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from itertools import pairwise
from pathlib import Path
from typing import Any

from ..config.values import RepoSlug
from ..errors import ConfigError
from ..triple import Triple
from .report import CARRIED, DIFFERS, MAX_BYTES, NONE, Draft, Facts, Migration, tl, tv

FILES = (".goreleaser.yaml", ".goreleaser.yml", "goreleaser.yaml", "goreleaser.yml")
ARCHIVE_ALIASES = {"tgz": "tar.gz", "txz": "tar.xz", "tzst": "tar.zst"}
# GoReleaser's default targets of a rust build (customization/builds/rust).
DEFAULT_TARGETS = ("x86_64-unknown-linux-gnu", "x86_64-apple-darwin", "x86_64-pc-windows-gnu",
                   "aarch64-unknown-linux-gnu", "aarch64-apple-darwin")
GOOS = {"windows": "windows", "darwin": "macos", "linux": "linux", "freebsd": "freebsd"}
GPG_KEY_FLAGS = ("-u", "--local-user", "--default-key")

NO_EQUIVALENT = {
    "version": "the file's schema version",
    "before": "hooks: run them before `invoke release` (or as [[artifacts]] commands)",
    "env": "build environment: [targets.*] env / [project] pass-env (secrets are never in targets.toml)",
    "snapshot": "wavrybuild versions come from Cargo.toml",
    "dist": "wavrybuild writes dist/ ([project] dist)",
    "dockers": "not carried (container images are their own channel)",
    "docker_manifests": "not carried (container images are their own channel)",
    "announce": "no announcements",
    "source": "no source archive (`cargo package`: [publish.crates])",
    "report_sizes": "the build summary shows sizes",
    "universal_binaries": "add [targets.universal2-apple-darwin]",
}
DIFFERENT = {
    "changelog": "the release notes list the Conventional Commits since the previous tag ([release] notes-from)",
    "sboms": "add [sbom] (docs/sbom-provenance.md): a CycloneDX SBOM per target",
    "winget": "[channels.winget] needs package-identifier and a [desktop] MSI or setup.exe (docs/channels-package-managers.md)",
    "homebrew_casks": "[channels.homebrew] writes a formula (an artifact), not a cask",
}


def read(root: Path) -> tuple[str, dict[str, Any]]:
    """The first of GoReleaser's file names present, parsed (safe_load: plain YAML data only)."""
    import yaml

    for name in FILES:
        file = root / name
        if not file.is_file():
            continue
        raw = file.read_bytes()
        if len(raw) > MAX_BYTES:
            raise ConfigError(f"{file}: larger than {MAX_BYTES} bytes: not a GoReleaser config")
        try:
            data = yaml.safe_load(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ConfigError(f"{file}: not UTF-8 text") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" (line {mark.line + 1})" if mark is not None else ""
            raise ConfigError(f"{file}: not valid YAML{at}: {getattr(exc, 'problem', None) or 'parse error'}",
                              hint="goreleaser check says what is wrong") from None
        if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
            raise ConfigError(f"{file}: expected a YAML mapping of GoReleaser's keys at the top")
        return name, data
    raise ConfigError(f"{root}: no GoReleaser config ({', '.join(FILES)})",
                      hint="run init --from goreleaser where .goreleaser.yaml is")


def migrate(source: str, data: dict[str, Any], facts: Facts) -> Migration:
    """The GoReleaser config as targets.toml pieces, with a row for every key."""
    d = Draft("goreleaser", source)
    handlers: dict[str, Callable[[Draft, Any, Facts], None]] = {
        "project_name": _project_name, "builds": _builds, "archives": _archives, "checksum": _checksum,
        "nfpms": _nfpms, "signs": _signs, "release": _release, "brews": _brews, "scoops": _scoops,
    }
    facts = replace(facts, repo=_declared_repo(d, data.get("release")) or facts.repo)
    if isinstance(data.get("release"), dict) and data["release"].get("disable") is True:
        facts = replace(facts, repo=None)  # no GitHub release: nothing serves the package managers' downloads
    _builds(d, data.get("builds"), facts)
    for key, value in data.items():
        if key == "builds":
            continue
        if key in handlers:
            handlers[key](d, value, facts)
        elif key in DIFFERENT:
            d.row(key, DIFFERS, DIFFERENT[key])
        else:
            d.row(key, NONE, NO_EQUIVALENT.get(key, "not a GoReleaser key init carries: left out"))
    if "release" not in data:
        _release(d, {}, facts)
    return d.done()


def _items(d: Draft, key: str, value: Any) -> list[dict[str, Any]]:
    """A list of mappings (builds, archives, nfpms, signs …)."""
    if not isinstance(value, list) or not all(isinstance(v, dict) and all(isinstance(k, str) for k in v) for v in value):
        raise d.error(key, "a list of mappings", value)
    return value


def _project_name(d: Draft, value: Any, facts: Facts) -> None:
    from ..config.values import Component

    if not isinstance(value, str) or "{{" in value:
        d.row("project_name", NONE, "not a plain name: the artifacts are named after the package")
        return
    if not Component.valid(value):
        raise d.error("project_name", "a name that can name files (no '/', newline or leading '-')", value)
    d.project.append(tv("name", value))
    d.row("project_name", CARRIED, "[project] name (the artifacts' name)")


def _builds(d: Draft, value: Any, facts: Facts) -> None:
    if value is None:
        d.add_targets("builds", list(DEFAULT_TARGETS))
        d.row("builds", DIFFERS, "none: GoReleaser's default rust targets written")
        return
    rust = 0
    for i, b in enumerate(_items(d, "builds", value)):
        key = f"builds[{i}]"
        if b.get("builder") != "rust":
            d.row(key, NONE, f"builder {b.get('builder', 'go')!s:.40}: wavrybuild builds Rust crates")
            continue
        rust += 1
        if b.get("skip") is True:
            d.row(key, NONE, "skip: true")
            continue
        _rust_build(d, key, b)
    if not rust:
        raise ConfigError(f"{d.source}: builds: no build with builder: rust", hint="wavrybuild releases Rust crates")


def _rust_build(d: Draft, key: str, b: dict[str, Any]) -> None:
    before = len(d.targets)
    if "targets" in b:
        d.add_targets(f"{key}.targets", b["targets"])
        d.row(f"{key}.targets", CARRIED, f"{len(d.targets) - before} [targets.*] tables")
    else:
        d.add_targets(f"{key}.targets", list(DEFAULT_TARGETS))
        d.row(f"{key}.targets", DIFFERS, "not set: GoReleaser's default rust targets written")
    for k, v in b.items():
        where = f"{key}.{k}"
        if k in ("builder", "targets", "skip", "id"):
            continue
        if k == "flags":
            flags = d.strings(where, v)
            other = [f for f in flags if f != "--release"]
            d.row(where, CARRIED if not other else DIFFERS,
                  "--release: [defaults] profile = \"release\"" if not other else
                  f"{' '.join(other)[:60]}: use [defaults] features / profile / rustflags")
        elif k == "features":
            d.defaults.append(tl("features", d.strings(where, v)))
            d.row(where, CARRIED, "[defaults] features")
        elif k in ("command", "tool"):
            d.row(where, DIFFERS, "builder = \"auto\": cargo for the host, cargo-zigbuild for the other targets")
        elif k == "binary":
            d.row(where, DIFFERS, "the binaries come from cargo metadata")
        elif k == "dir":
            d.row(where, DIFFERS, "[project] crate = \".\" (the directory of Cargo.toml)")
        else:
            d.row(where, NONE, NO_EQUIVALENT.get(k, "not carried"))


def _formats(d: Draft, key: str, item: dict[str, Any]) -> str | None:
    """`formats: [tar.gz]` (GoReleaser 2.6+) or the older `format: tar.gz`: the first one."""
    raw = item.get("formats", item.get("format"))
    which = "formats" if "formats" in item else "format"
    values = d.strings(f"{key}.{which}", raw)
    if not values:
        return None
    for extra in values[1:]:
        d.row(f"{key}.{which}: {extra}", NONE, "one archive format per target")
    return d.format_key(f"{key}.{which}", values[0], ARCHIVE_ALIASES)


def _archives(d: Draft, value: Any, facts: Facts) -> None:
    items = _items(d, "archives", value)
    for i, a in enumerate(items):
        key = f"archives[{i}]"
        if i:
            d.row(key, NONE, "one archive per target: only archives[0] is carried")
            continue
        if "formats" in a or "format" in a:
            fmt = _formats(d, key, a)
            if fmt:
                d.package.append(tv("format", fmt))
                d.row(f"{key}.format", CARRIED, f"[package] format = \"{fmt}\"")
        for k, v in a.items():
            if k == "format_overrides":
                _overrides(d, f"{key}.format_overrides", v)
            elif k == "name_template":
                d.row(f"{key}.name_template", DIFFERS, "archives are named <name>-<version>-<target>.<ext>")
            elif k == "files":
                d.row(f"{key}.files", DIFFERS, "[package] include (relative paths of the crate)")
            elif k == "wrap_in_directory":
                d.row(f"{key}.wrap_in_directory", DIFFERS, "archives always hold one top directory")
            elif k not in ("formats", "format", "id", "builds", "ids"):
                d.row(f"{key}.{k}", NONE, "not carried")


def _overrides(d: Draft, key: str, value: Any) -> None:
    """format_overrides: goos windows → [package] windows-format; another goos → `archive` on each
    target of that OS."""
    for j, o in enumerate(_items(d, key, value)):
        where = f"{key}[{j}]"
        goos = o.get("goos")
        os_ = GOOS.get(goos) if isinstance(goos, str) else None
        fmt = _formats(d, where, o) if os_ else None
        if os_ is None:
            d.row(where, NONE, f"goos {str(goos)[:20]}: no such target here")
        elif fmt is None:
            continue
        elif os_ == "windows":
            d.package.append(tv("windows-format", fmt))
            d.row(where, CARRIED, f"[package] windows-format = \"{fmt}\"")
        else:
            hit = [t for t in d.targets if Triple(t).os == os_]
            for t in hit:
                d.target_keys.setdefault(t, []).append(tv("archive", fmt))
            d.row(where, DIFFERS, f"archive = \"{fmt}\" on {len(hit)} {goos} target(s)")


def _checksum(d: Draft, value: Any, facts: Facts) -> None:
    if not isinstance(value, dict):
        raise d.error("checksum", "a mapping", value)
    for k, v in value.items():
        where = f"checksum.{k}"
        if k == "algorithm":
            d.row(where, CARRIED if v == "sha256" else DIFFERS,
                  "SHA256SUMS" if v == "sha256" else "wavrybuild writes SHA-256 only (SHA256SUMS)")
        elif k == "name_template":
            d.row(where, DIFFERS, "the file is SHA256SUMS (sha256sum -c reads it)")
        elif k == "split" and v is True:
            d.section("checksum", "GoReleaser's split checksums", [("sidecars = true", "also <artifact>.sha256")])
            d.row(where, CARRIED, "[checksum] sidecars = true")
        elif k == "disable" and v is True:
            d.row(where, DIFFERS, "SHA256SUMS is always written")
        else:
            d.row(where, NONE, "not carried")


def _nfpms(d: Draft, value: Any, facts: Facts) -> None:
    done: set[str] = set()
    for i, n in enumerate(_items(d, "nfpms", value)):
        key = f"nfpms[{i}]"
        formats = d.strings(f"{key}.formats", n.get("formats", []))
        for fmt in formats:
            if fmt not in ("deb", "rpm"):
                d.row(f"{key}.formats: {fmt}", NONE, "wavrybuild makes .deb and .rpm")
            elif fmt in done:
                d.row(f"{key}.formats: {fmt}", NONE, f"one [channels.{fmt}]: the first nfpm's is carried")
            else:
                done.add(fmt)
                _linux(d, key, fmt, n, facts)
        for k in n:
            if k in ("description", "homepage", "license", "vendor"):
                d.row(f"{key}.{k}", DIFFERS, "from Cargo.toml's package metadata")
            elif k in ("bindir",):
                d.row(f"{key}.{k}", DIFFERS, "the binaries go to /usr/bin")
            elif k not in ("formats", "package_name", "maintainer", "section", "dependencies", "id", "builds", "ids"):
                d.row(f"{key}.{k}", NONE, "not carried")


def _linux(d: Draft, key: str, fmt: str, n: dict[str, Any], facts: Facts) -> None:
    keys: list[tuple[str, str]] = []
    if "package_name" in n and facts.several:
        d.row(f"{key}.package_name", DIFFERS, "several packages: each .{fmt} is named after its package")
    elif "package_name" in n:
        keys.append((tv("name", _text(d, f"{key}.package_name", n["package_name"])), "nfpm's package_name"))
    if "maintainer" in n:
        keys.append((tv("maintainer", _text(d, f"{key}.maintainer", n["maintainer"])), "nfpm's maintainer"))
    elif not facts.has_authors:
        d.row(f"{key}.formats: {fmt}", DIFFERS, f"[channels.{fmt}] needs a maintainer: none in the nfpm or Cargo.toml")
        return
    if fmt == "deb" and "section" in n:
        keys.append((tv("section", _text(d, f"{key}.section", n["section"])), "nfpm's section"))
    if "dependencies" in n:
        keys.append((tl("depends", d.strings(f"{key}.dependencies", n["dependencies"])), "nfpm's dependencies"))
    targets = d.linux_targets()
    if not targets:
        d.row(f"{key}.formats: {fmt}", NONE, "no Linux target to package")
        return
    d.section(f"channels.{fmt}", f".{fmt} packages of the Linux binaries (nfpm)",
              [(tl("targets", targets), "one target per architecture"), *keys])
    d.row(f"{key}.formats: {fmt}", CARRIED, f"[channels.{fmt}]")


def _text(d: Draft, key: str, value: Any) -> str:
    if not isinstance(value, str) or "{{" in value:
        raise d.error(key, "plain text (no {{ template }})", value)
    return value


def _signs(d: Draft, value: Any, facts: Facts) -> None:
    methods: list[str] = []
    artifacts = False
    gpg_key: str | None = None
    for i, s in enumerate(_items(d, "signs", value)):
        key = f"signs[{i}]"
        cmd = s.get("cmd", "gpg")
        what = s.get("artifacts", "none")
        if what == "none":
            d.row(key, NONE, "artifacts: none signs nothing")
            continue
        if cmd in ("gpg", "gpg2"):
            methods.append("gpg")
            artifacts = artifacts or what != "checksum"
            args = d.strings(f"{key}.args", s.get("args", []))
            for flag, nxt in pairwise(args):
                if flag in GPG_KEY_FLAGS:
                    if "{{" in nxt:
                        d.row(f"{key}.args {flag}", DIFFERS, "the key from a template: set $WAVRYBUILD_GPG_KEY")
                    else:
                        gpg_key = nxt
            d.row(key, CARRIED, "[sign] gpg, " + ("SHA256SUMS" if what == "checksum" else "SHA256SUMS and each file"))
        elif cmd == "cosign":
            d.row(key, DIFFERS, "[sign] methods = [\"sigstore\"] with identity and issuer (docs/signing.md)")
        elif cmd == "minisign":
            d.row(key, DIFFERS, "[sign] methods = [\"minisign\"] with its key (docs/signing.md)")
        else:
            d.row(key, NONE, f"cmd {str(cmd)[:30]}: wavrybuild signs with gpg, minisign, ssh, authenticode, sigstore")
    if not methods:
        return
    keys = [(tl("methods", ["gpg"]), "detached signature of SHA256SUMS (gpg --local-user: [sign.gpg] key)"),
            (f"artifacts = {str(artifacts).lower()}", "also every artifact" if artifacts else "SHA256SUMS only")]
    d.section("sign", "signatures (passphrases only from the environment)", keys)
    if gpg_key is not None:
        d.section("sign.gpg", "the signing key", [(tv("key", _text(d, "signs.args", gpg_key)), "gpg --local-user")])


def _declared_repo(d: Draft, value: Any) -> RepoSlug | None:
    """release.github owner/name when both are plain text (a hostile one is refused, naming the key)."""
    gh = value.get("github") if isinstance(value, dict) else None
    if not isinstance(gh, dict) or any("{{" in str(gh.get(k, "")) for k in ("owner", "name")):
        return None
    try:
        return RepoSlug.parse(f"{gh.get('owner')}/{gh.get('name')}")
    except ValueError:
        raise d.error("release.github", "owner and name of a GitHub repository", gh) from None


def _release(d: Draft, value: Any, facts: Facts) -> None:
    if not isinstance(value, dict):
        raise d.error("release", "a mapping", value)
    if value.get("disable") is True:
        d.row("release.disable", CARRIED, "no [publish.github]")
        return
    gh = value.get("github")
    if facts.repo is None:
        d.row("release", DIFFERS, "no github.com repository known: add [publish.github] repo = \"owner/name\"")
        return
    if gh is None:
        d.row("release", DIFFERS, "GoReleaser asks git for the repository: init takes Cargo.toml's")
    elif _declared_repo(d, value) is None:
        d.row("release.github", DIFFERS, "a template: the repository from Cargo.toml")
    else:
        d.row("release.github", CARRIED, f"[publish.github] repo = {facts.repo}")
    keys = [(tv("repo", facts.repo), "the GitHub repository (token from $GITHUB_TOKEN)")]
    for k, v in value.items():
        if k == "draft":
            keys.append((f"draft = {str(d.flag('release.draft', v)).lower()}", "leave the release a draft"))
            d.row("release.draft", CARRIED, "[publish.github] draft")
        elif k == "prerelease":
            if v == "auto":
                d.row("release.prerelease", CARRIED, "the default: a version with a pre-release part")
            else:
                keys.append((f"prerelease = {str(d.flag('release.prerelease', v)).lower()}", "mark it a prerelease"))
                d.row("release.prerelease", CARRIED, "[publish.github] prerelease")
        elif k == "gitlab":
            d.row("release.gitlab", DIFFERS, "[publish.gitlab] project (docs/publishing.md)")
        elif k not in ("github", "disable"):
            d.row(f"release.{k}", NONE, "not carried")
    d.section("publish.github", "the GitHub release of the tag v{version}", keys)


def _brews(d: Draft, value: Any, facts: Facts) -> None:
    _pkgmanager(d, "brews", "homebrew", "a Homebrew formula (an artifact; commit it to your tap)", value, facts)


def _scoops(d: Draft, value: Any, facts: Facts) -> None:
    _pkgmanager(d, "scoops", "scoop", "a Scoop manifest (an artifact; commit it to your bucket)", value, facts)


def _pkgmanager(d: Draft, key: str, channel: str, comment: str, value: Any, facts: Facts) -> None:
    items = _items(d, key, value)
    if not items:
        return
    if facts.repo is None:
        d.row(key, DIFFERS, f"[channels.{channel}] needs base-url (no github.com release known)")
        return
    d.section(f"channels.{channel}", comment)
    d.row(key, CARRIED, f"[channels.{channel}]; the tap/bucket commit is yours")
