"""`init --from cargo-dist`: `[dist]` of dist-workspace.toml, or `[workspace.metadata.dist]` of
Cargo.toml, as targets.toml pieces (the keys of cargo-dist's config reference, "dist" book,
reference/config). `read` finds and parses the file; `migrate` is pure."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .report import CARRIED, DIFFERS, MAX_BYTES, NONE, Draft, Facts, Migration, release_url, tl, tv

# cargo-dist's archive spellings (".tar.zstd" is its own alias of ".tar.zst").
ARCHIVE_ALIASES = {".tar.gz": "tar.gz", ".tar.xz": "tar.xz", ".tar.zst": "tar.zst", ".tar.zstd": "tar.zst", ".zip": "zip"}
INSTALLERS = ("shell", "powershell", "npm", "homebrew", "msi", "pkg")

# Keys with no counterpart: why, in one line.
NO_EQUIVALENT = {
    "cargo-dist-version": "the CI file pins wavrybuild's own version (pip install wavrybuild==…)",
    "pr-run-mode": "the generated workflow runs on tags; `invoke release --dry` plans a pull request's release",
    "install-path": "install.sh takes --prefix (default ~/.local/bin)",
    "install-updater": "no updater program: install.sh again, or the package managers",
    "precise-builds": "wavrybuild builds the configured packages per target, one cargo invocation a group",
    "merge-tasks": "one CI job per target (invoke plan), then one merge job",
    "fail-fast": "invoke build --fail-fast (a flag, not a setting)",
    "auto-includes": "[package] include names the extra files",
    "create-release": "[publish.github] creates the release, or fills a draft of the same tag",
    "github-release": "[publish.github] creates the release when every file is uploaded",
    "dispatch-releases": "the generated workflow runs on tags (and workflow_dispatch)",
    "plan-jobs": "no custom jobs in the generated workflow: add them to it",
    "local-artifacts-jobs": "no custom jobs in the generated workflow: add them to it",
    "global-artifacts-jobs": "no custom jobs in the generated workflow: add them to it",
    "host-jobs": "no custom jobs in the generated workflow: add them to it",
    "post-announce-jobs": "no custom jobs in the generated workflow: add them to it",
    "github-build-setup": "no custom steps in the generated workflow: add them to it",
    "dependencies": "system packages: install them in the CI file (invoke toolchain --install installs the toolchain)",
    "cargo-auditable": "no cargo-auditable; [sbom] writes a CycloneDX SBOM per target",
    "bin-aliases": "no aliases: the binaries as cargo builds them",
    "binaries": "the binaries come from cargo metadata ([project] binaries chooses)",
    "min-glibc-version": "a glibc floor is a target of its own: [targets.\"x86_64-unknown-linux-gnu.2.17\"]",
    "release-branch": "the generated workflow runs on tags",
    "publish-prereleases": "a prerelease version is published like any other ([publish.github] marks it)",
    "dist": "every package of targets.toml's [project] is released ([project] packages chooses)",
    "build-local-artifacts": "each CI job builds its target (invoke release --part)",
    "hosting": "[publish.github] (with the repository from Cargo.toml) or [publish.gitlab]",
}
DIFFERENT = {
    "github-attestations": "the generated workflow always attests the release (actions/attest-build-provenance)",
    "cargo-cyclonedx": "add [sbom] (docs/sbom-provenance.md): a CycloneDX SBOM per target",
    "ssldotcom-windows-sign": "Windows signing is [sign] methods = [\"authenticode\"] with your certificate (docs/signing.md)",
    "macos-sign": "macOS signing is [desktop.macos] identity (docs/desktop.md)",
    "rust-toolchain-version": "pin the compiler with rust-toolchain.toml or [project] rustc",
    "tap": "the formula is a release artifact ([channels.homebrew]); commit it to the tap yourself",
    "npm-scope": "part of [channels.npm] name",
    "npm-package": "[channels.npm] name",
    "publish-jobs": "see installers: [channels.npm] publish, the Homebrew formula as an artifact",
    "allow-dirty": "nothing is refused for a changed CI file; `python -m wavrybuild init --check` reports one",
}


def read(root: Path) -> tuple[str, str, dict[str, Any]]:
    """(file name, where the table is, the table): dist-workspace.toml's [dist] first (cargo-dist's
    newer home for it), else Cargo.toml's [workspace.metadata.dist]."""
    for name, path in (("dist-workspace.toml", ("dist",)), ("Cargo.toml", ("workspace", "metadata", "dist"))):
        file = root / name
        if not file.is_file():
            continue
        try:
            raw = file.read_bytes()
            if len(raw) > MAX_BYTES:
                raise ConfigError(f"{file}: larger than {MAX_BYTES} bytes: not a cargo-dist config")
            data: Any = tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ConfigError(f"{file}: not UTF-8 text") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
        for part in path:
            data = data.get(part) if isinstance(data, dict) else None
        if data is None:
            continue
        if not isinstance(data, dict):
            raise ConfigError(f"{file}: {'.'.join(path)}: expected a table, got {type(data).__name__}")
        return name, ".".join(path), data
    raise ConfigError(f"{root}: no cargo-dist config: neither dist-workspace.toml [dist] nor Cargo.toml "
                      "[workspace.metadata.dist]", hint="run init --from cargo-dist where cargo-dist's config is")


def migrate(source: str, where: str, table: dict[str, Any], facts: Facts) -> Migration:
    """The cargo-dist table as targets.toml pieces, with a row for every key."""
    d = Draft("cargo-dist", source, f"{where}.")
    handlers: dict[str, Callable[[Draft, Any, dict[str, Any], Facts], None]] = {
        "targets": lambda d, v, t, f: _targets(d, v),
        "unix-archive": lambda d, v, t, f: None, "windows-archive": lambda d, v, t, f: None,
        "checksum": lambda d, v, t, f: _checksum(d, v),
        "ci": lambda d, v, t, f: _ci(d, v),
        "installers": _installers,
        "features": lambda d, v, t, f: _features(d, "features", v),
        "default-features": lambda d, v, t, f: _features(d, "default-features", v),
        "all-features": lambda d, v, t, f: _features(d, "all-features", v),
        "include": lambda d, v, t, f: _include(d, v, f.root),
        "github-custom-runners": lambda d, v, t, f: _runners(d, v),
    }
    if "targets" not in table:
        d.row("targets", DIFFERS, "not set: cargo-dist's defaults are its host targets; init's five are written")
        d.add_targets("targets", ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu", "x86_64-apple-darwin",
                                  "aarch64-apple-darwin", "x86_64-pc-windows-msvc"])
    order = ["targets", *(k for k in table if k != "targets")]  # runners and npm need the targets first
    for key in order:
        if key not in table:
            continue
        value = table[key]
        if key in handlers:
            handlers[key](d, value, table, facts)
        elif key in DIFFERENT:
            d.row(key, DIFFERS, DIFFERENT[key])
        elif key in NO_EQUIVALENT:
            d.row(key, NONE, NO_EQUIVALENT[key])
        else:
            d.row(key, NONE, "not a cargo-dist key init knows: left out")
    _archives(d, table)
    _publish(d, table, facts)
    return d.done()


def _targets(d: Draft, value: Any) -> None:
    d.add_targets("targets", value)
    d.row("targets", CARRIED, f"{len(d.targets)} [targets.*] tables")


def _archives(d: Draft, table: dict[str, Any]) -> None:
    """unix-archive / windows-archive → [package] format / windows-format (cargo-dist's defaults,
    .tar.xz and .zip, written out when not set)."""
    for key, ours, default in (("unix-archive", "format", ".tar.xz"), ("windows-archive", "windows-format", ".zip")):
        fmt = d.format_key(key, table.get(key, default), ARCHIVE_ALIASES)
        if fmt is None:
            continue
        d.package.append(tv(ours, fmt))
        d.row(key, CARRIED, f"[package] {ours} = \"{fmt}\"" + ("" if key in table else " (cargo-dist's default)"))


def _checksum(d: Draft, value: Any) -> None:
    if value is False:
        d.row("checksum", DIFFERS, "no per-file checksums; SHA256SUMS is always written")
    elif value == "sha256":
        d.section("checksum", "cargo-dist's per-archive .sha256 files", [("sidecars = true", "also <archive>.sha256")])
        d.row("checksum", CARRIED, "[checksum] sidecars = true (and one SHA256SUMS)")
    elif isinstance(value, str):
        d.row("checksum", DIFFERS, "wavrybuild writes SHA-256 only (SHA256SUMS; [checksum] sidecars for per-file)")
    else:
        raise d.error("checksum", 'a checksum name such as "sha256", or false', value)


def _ci(d: Draft, value: Any) -> None:
    for ci in d.strings("ci", value):
        if ci == "github":
            d.row("ci = github", DIFFERS, "init --ci github writes .github/workflows/release.yml (it replaces dist's: "
                  "--force)")
        else:
            d.row(f"ci = {ci}", NONE, "init writes CI files for github and gitlab")


def _features(d: Draft, key: str, value: Any) -> None:
    if key == "features":
        d.defaults.append(tl("features", d.strings(key, value)))
    elif key == "all-features":
        d.defaults.append(f"all-features = {str(d.flag(key, value)).lower()}")
    else:
        d.defaults.append(f"no-default-features = {str(not d.flag(key, value)).lower()}")
    d.row(key, CARRIED, "[defaults] " + d.defaults[-1])


def _include(d: Draft, value: Any, root: Path) -> None:
    """Extra files: carried when they are plain relative paths that exist (our loader refuses a
    pattern matching nothing, a '..' or an absolute path)."""
    kept = []
    for item in d.strings("include", value):
        parts = Path(item).parts
        if not item or Path(item).is_absolute() or ".." in parts or "\n" in item or not (root / item).exists():
            d.row(f"include: {item}", NONE, "not a file of the crate: left out")
        else:
            kept.append(item)
    if kept:
        d.package.append(tl("include", kept))
        d.row("include", CARRIED, f"[package] include ({len(kept)})")


def _runners(d: Draft, value: Any) -> None:
    """github-custom-runners: {target: "runner"} or {target: {runner = "…"}} → runs-on."""
    if not isinstance(value, dict):
        raise d.error("github-custom-runners", "a table of target = runner", value)
    for target, runner in value.items():
        label = runner.get("runner") if isinstance(runner, dict) else runner
        key = f"github-custom-runners.{target}"
        if target not in d.targets:
            d.row(key, NONE, "not one of the targets: left out")
        elif not isinstance(label, str) or not label or any(ch in label for ch in "\n\r\"\\") or len(label) > 100:
            raise d.error(key, "a runner label", label)
        else:
            d.target_keys.setdefault(target, []).append(tv("runs-on", label))
            d.row(key, CARRIED, f"[targets.{target}] runs-on")


def _installers(d: Draft, value: Any, table: dict[str, Any], facts: Facts) -> None:
    names = d.strings("installers", value)
    for name in names:
        key = f"installers = {name}"
        if name in ("shell", "powershell"):
            if "shell" in names and "powershell" in names and name == "powershell":
                d.row(key, CARRIED, "[channels.installer] writes install.ps1 beside install.sh for Windows targets")
                continue
            if facts.repo is None:
                d.row(key, DIFFERS, "[channels.installer] needs base-url: Cargo.toml has no github.com repository")
                continue
            d.section("channels.installer", "install.sh (and install.ps1 with Windows targets) that verify downloads",
                      [(tv("base-url", release_url(facts.repo)), "where the release serves its files")])
            d.row(key, CARRIED, "[channels.installer] (install.sh" + (", install.ps1)" if "powershell" in names else ")"))
        elif name == "npm":
            _npm(d, table, facts)
        elif name == "homebrew":
            if facts.repo is None:
                d.row(key, DIFFERS, "[channels.homebrew] needs base-url: Cargo.toml has no github.com repository")
                continue
            d.section("channels.homebrew", "a Homebrew formula (an artifact; commit it to your tap)")
            d.row(key, CARRIED, "[channels.homebrew]" + (" (tap: commit the formula yourself)" if "tap" in table else ""))
        elif name == "msi":
            d.row(key, DIFFERS, "an MSI comes with a [desktop] table (docs/desktop.md)")
        else:
            d.row(key, NONE, "not an installer wavrybuild makes")


def _npm(d: Draft, table: dict[str, Any], facts: Facts) -> None:
    from ..config.npm import npm_name_problem

    scope = table.get("npm-scope")
    package = table.get("npm-package", facts.name)
    if scope is not None and (not isinstance(scope, str) or not scope.startswith("@")):
        raise d.error("npm-scope", 'an npm scope such as "@acme"', scope)
    if not isinstance(package, str):
        raise d.error("npm-package", "an npm package name", package)
    name = f"{scope}/{package}" if scope else package
    problem = npm_name_problem(name)
    if facts.several and not problem:
        name = f"{scope}/{{name}}" if scope else "{name}"  # one npm package per package of the release
    if problem:
        raise d.error("npm-scope" if scope else "npm-package", f"a valid npm package name ({problem})", name)
    publish = "npm" in d.strings("publish-jobs", table.get("publish-jobs", []))
    d.section("channels.npm", "npm packages: one per platform and a main one that runs the right one",
              [(tv("name", name), "cargo-dist's npm-scope/npm-package"),
               (tl("targets", d.npm_targets()), "one target per npm platform"),
               (f"publish = {str(publish).lower()}", "publish-jobs has npm" if publish else "write only (no npm in "
                "publish-jobs)")])
    d.row("installers = npm", CARRIED, f"[channels.npm] name = {name}")


def _publish(d: Draft, table: dict[str, Any], facts: Facts) -> None:
    """cargo-dist hosts on GitHub releases of Cargo.toml's `repository`: [publish.github]."""
    if facts.repo is None:
        d.row("(hosting)", DIFFERS, "Cargo.toml has no github.com repository: add [publish.github] repo = \"owner/name\"")
        return
    d.section("publish.github", "the GitHub release of the tag v{version} (token from $GITHUB_TOKEN)",
              [(tv("repo", facts.repo), "from Cargo.toml's repository, as cargo-dist does")])
    d.row("(hosting)", CARRIED, f"[publish.github] repo = {facts.repo}")
