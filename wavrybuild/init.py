"""`python -m wavrybuild init` (and `invoke init`, the same function): a project's first
targets.toml, tasks.py and thin CI files, from what `cargo metadata` says of the crate.

Plan first, then write: `plan` is pure (cargo's metadata and the options in, (path, text) pairs
out), the written targets.toml is parsed by config/ before anything is written, and every file is
written atomically, never over a different one without --force. The CI files depend on nothing but
wavrybuild's version (the matrix comes from `invoke plan` when they run), so `init --check` can tell
whether the ones in the repository are what init writes now without asking cargo.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .config.values import Component
from .dist import PART_FILES
from .errors import ConfigError, WavryError
from .fsutil import write_atomic
from .migrate import TOOLS, Migration
from .tomltext import commented as _line
from .tomltext import one_line, toml_key, toml_string
from .tomltext import toml_list as _list
from .ui import UI

CI_CHOICES = ("github", "gitlab", "both")
# The flag's name → the [channels.*] table it writes (a wheel is the pypi channel).
CHANNELS = {"npm": "npm", "wheel": "pypi", "deb": "deb", "rpm": "rpm"}
GITHUB_FILE = ".github/workflows/release.yml"
GITHUB_BUILD_FILE = ".github/workflows/build.yml"  # pushes and pull requests, with the cargo cache
GITLAB_FILE = ".gitlab-ci.yml"
CI_FILES = {"github": GITHUB_FILE, "gitlab": GITLAB_FILE}


@dataclass(frozen=True)
class Options:
    ci: tuple[str, ...]  # "github", "gitlab"
    musl: bool = False
    glibc_floor: str | None = None
    universal2: bool = False
    channels: tuple[str, ...] = ()  # keys of CHANNELS, in that order
    force: bool = False
    check: bool = False
    dry: bool = False
    source: str | None = None  # --from: a peer's config to carry over (migrate.TOOLS)

    @classmethod
    def parse(cls, *, ci: str | None = None, musl: bool = False, glibc_floor: str | None = None,
              universal2: bool = False, channels: Sequence[str] = (), force: bool = False, check: bool = False,
              dry: bool = False, source: str | None = None) -> Options:
        """The flags, checked once: ConfigError (exit 2) naming the flag."""
        if source is not None and source not in TOOLS:
            raise ConfigError(f"init --from {one_line(source, 40)!r}: expected one of {', '.join(TOOLS)}")
        if source is not None and (musl or glibc_floor or universal2 or channels or check):
            raise ConfigError(f"init --from {source} takes the targets and channels from {source}'s config: it takes "
                              "no --musl, --glibc-floor, --universal2, --channel or --check",
                              hint="run it without them, then edit targets.toml")
        if ci is not None and ci not in CI_CHOICES:
            raise ConfigError(f"init --ci {ci!r}: expected one of {', '.join(CI_CHOICES)}")
        if glibc_floor is not None and not _glibc_ok(glibc_floor):
            raise ConfigError(f"init --glibc-floor {glibc_floor!r}: expected a glibc version like 2.17",
                              hint="the oldest glibc the Linux binaries should run on (cargo-zigbuild links against it)")
        for ch in channels:
            if ch not in CHANNELS:
                raise ConfigError(f"init --channel {ch!r}: expected one of {', '.join(CHANNELS)}",
                                  hint="repeat --channel for several")
        if check and (force or dry):
            raise ConfigError("init --check only compares the CI files: it takes no --force or --dry")
        kinds = ("github", "gitlab") if ci == "both" else (ci,) if ci else ()
        return cls(kinds, musl, glibc_floor, universal2, tuple(c for c in CHANNELS if c in channels), force, check, dry,
                   source)


def _glibc_ok(value: str) -> bool:
    """What targets.toml's `glibc` accepts, so the written file takes it."""
    from .config.checks import glibc

    try:
        return glibc(value) is not None
    except ValueError:
        return False


@dataclass(frozen=True)
class Planned:
    """One file init writes: its path relative to the project root ('/'-separated) and its text."""

    path: str
    text: str


@dataclass(frozen=True)
class Package:
    """A package with binaries, as cargo metadata names it (checked: it becomes TOML text)."""

    name: Component
    has_authors: bool


@dataclass(frozen=True)
class Target:
    id: str
    comment: str
    npm: str | None = None  # the npm platform it would ship as (None: npm has no name for it)
    linux_arch: str | None = None  # the .deb/.rpm architecture (None: not packaged)
    floor: bool = False  # a glibc floor: preferred where a channel takes one target per platform


# -- what cargo says -------------------------------------------------------------------------------


def usable(name: Any) -> bool:
    """One file name (config/'s Component) that UTF-8, and so TOML, can hold (no lone surrogate)."""
    return isinstance(name, str) and Component.valid(name) and not any(0xD800 <= ord(ch) <= 0xDFFF for ch in name)


def binary_packages(meta: dict[str, Any], manifest: Path) -> tuple[Package, ...]:
    """The workspace's packages with a binary target, the manifest's own package first, then by
    name. The boundary for cargo's answer: a name must be one file name (no control characters,
    '/', leading '-'), as config/ requires of it later."""
    members = meta.get("workspace_members")
    raw = meta.get("packages")
    if not isinstance(raw, list):
        raise ConfigError(f"{manifest}: cargo metadata gave no package list")
    found: list[tuple[bool, str, Package]] = []
    for pkg in raw:
        if not isinstance(pkg, dict) or (isinstance(members, list) and pkg.get("id") not in members):
            continue
        targets: list[Any] = pkg["targets"] if isinstance(pkg.get("targets"), list) else []
        bins = [t.get("name") for t in targets if isinstance(t, dict) and isinstance(t.get("kind"), list)
                and "bin" in t["kind"]]
        if not bins:
            continue
        name = pkg.get("name")
        if not isinstance(name, str) or not usable(name):
            raise ConfigError(f"{manifest}: package name {name!r} from cargo metadata is not "
                              "usable: it names files and goes into targets.toml",
                              hint="a package name of letters, digits, '-' and '_' (cargo's own rule)")
        for b in bins:
            if not usable(b):
                raise ConfigError(f"{manifest}: binary name {b!r} of package {name!r} is not "
                                  "a usable file name", hint="rename the [[bin]] (letters, digits, . _ + -)")
        authors = pkg.get("authors")
        path = pkg.get("manifest_path")
        own = isinstance(path, str) and "\0" not in path and Path(path).resolve() == manifest.resolve()
        found.append((not own, name, Package(Component.parse(name), isinstance(authors, list) and bool(authors))))
    if not found:
        raise ConfigError(f"{manifest}: no package of this crate or workspace has a binary target",
                          hint="wavrybuild releases binaries: add src/main.rs or a [[bin]] table, then run init again")
    return tuple(p for _, _, p in sorted(found, key=lambda f: (f[0], f[1])))


# -- the files -------------------------------------------------------------------------------------


def targets(opts: Options) -> tuple[Target, ...]:
    """The default five (Linux x86_64 and arm64 gnu, macOS x86_64 and arm64, Windows x86_64 MSVC)
    and what the flags add, in the order targets.toml lists them."""
    out = [Target("x86_64-unknown-linux-gnu", "Linux x86_64 (glibc): plain cargo on an x86_64 Linux machine",
                  "linux-x64-glibc", "x86_64"),
           Target("aarch64-unknown-linux-gnu", "Linux arm64 (glibc): cargo-zigbuild; smoke-run under qemu-aarch64",
                  "linux-arm64-glibc", "aarch64")]
    if opts.glibc_floor:
        floor = opts.glibc_floor
        out += [Target(f"x86_64-unknown-linux-gnu.{floor}", f"Linux x86_64 linked against glibc {floor}: runs on "
                       "older distributions", "linux-x64-glibc", "x86_64", floor=True),
                Target(f"aarch64-unknown-linux-gnu.{floor}", f"Linux arm64 linked against glibc {floor}",
                       "linux-arm64-glibc", "aarch64", floor=True)]
    if opts.musl:
        out += [Target("x86_64-unknown-linux-musl", "Linux x86_64, static (musl): any distribution, Alpine too",
                       "linux-x64-musl"),
                Target("aarch64-unknown-linux-musl", "Linux arm64, static (musl)", "linux-arm64-musl")]
    out += [Target("x86_64-apple-darwin", "macOS Intel: cargo-zigbuild (smoke runs skip it off a Mac)", "darwin-x64"),
            Target("aarch64-apple-darwin", "macOS Apple Silicon: cargo-zigbuild", "darwin-arm64")]
    if opts.universal2:
        out.append(Target("universal2-apple-darwin", "macOS: both architectures joined into one binary"))
    out.append(Target("x86_64-pc-windows-msvc", "Windows x86_64 (MSVC): built on a Windows runner (invoke plan)",
                      "win32-x64"))
    return tuple(out)


def _one_per(ts: Sequence[Target], key: str) -> list[str]:
    """One target per npm platform / Linux architecture (a channel refuses two): the glibc-floor
    one where there is one (it runs on more machines), in targets.toml's order."""
    chosen: dict[str, Target] = {}
    for t in ts:
        k = getattr(t, key)
        if k is None:
            continue
        if k not in chosen or t.floor:
            chosen[k] = t
    picked = {t.id for t in chosen.values()}
    return [t.id for t in ts if t.id in picked]


def _migrated_targets(m: Migration) -> tuple[Target, ...]:
    """The peer's targets, with init's comment for the ones init knows."""
    known = {t.id: t.comment for t in targets(Options((), musl=True, universal2=True))}
    return tuple(Target(t, known.get(t, f"from {m.tool}")) for t in m.targets)


def targets_toml(packages: Sequence[Package], opts: Options, migration: Migration | None = None) -> str:
    """The commented targets.toml: init's defaults and flags, or what `migration` carried over from
    a peer's config (with its table of every key as a comment block at the end)."""
    m = migration
    ts = targets(opts) if m is None else _migrated_targets(m)
    src = "" if m is None else f"from {m.tool}'s {one_line(m.source)}"
    package = {"format": _line('format = "tar.gz"', "tar.gz, tar.xz, tar.zst or zip"),
               "windows-format": _line('windows-format = "zip"', "the format of Windows targets' archives")}
    for code in m.package if m else ():
        package[code.split(" =", 1)[0]] = _line(code, src)
    lines = [
        "# What wavrybuild releases, and for which targets. Reference: docs/targets-toml.md of wavrybuild.",
        "# Written by `python -m wavrybuild init`: edit it freely (init never overwrites it without --force).",
        "# `invoke doctor` checks this machine against it; `invoke release --target <id>` releases one target.",
        "",
        _line("[project]", "the crate, and which of its packages are released"),
        _line('crate = "."', "the directory holding Cargo.toml (a crate or a workspace root)"),
    ]
    if len(packages) == 1:
        lines.append(_line(f"package = {toml_string(packages[0].name)}", "the package whose binaries are released"))
    else:
        lines.append(_line(f"packages = {_list([p.name for p in packages])}",
                           "every package with binaries: one archive each per target"))
    lines += [_line(code, src) for code in (m.project if m else ())]
    lines += [
        _line('dist = "dist"', "where archives, SHA256SUMS and manifest.json are written"),
        "",
        _line("[defaults]", "what every target inherits; a target's table may override any key"),
        _line('profile = "release"', "the cargo profile built"),
        _line('smoke-args = ["--version"]', "`invoke smoke` runs every built binary with these arguments"),
        _line("smoke-expect = false", 'text its output must hold, e.g. "{version}"; false: exit status 0 is enough'),
        *(_line(code, src) for code in (m.defaults if m else ())),
        "",
        _line("[package]", "the archives: one per target (and package), reproducible"),
        *package.values(),
        "",
        "# One table per target: its name is the target id (a rustc triple; `.2.17` after a -gnu triple is a",
        "# glibc floor). A table takes the keys of [defaults] and more (features, env, runs-on, ...).",
    ]
    for t in ts:
        lines.append(_line(f"[targets.{toml_key(t.id)}]", t.comment))
        lines += [_line(code, src) for code in (m.target_keys.get(t.id, ()) if m else ())]
    for flag in opts.channels:
        lines.append("")
        lines += _channel(flag, ts)
    if m is not None:
        lines += m.sections
    if m is None or not any(s.startswith(("[publish.", "[sign]")) for s in m.sections):
        lines += [
            "",
            "# Publishing (GitHub releases, PyPI, crates.io, ...) and signing: [publish.*] and [sign], see",
            "# docs/publishing.md and docs/signing.md. Without them `invoke release` stops after dist/SHA256SUMS.",
        ]
    if m is not None:
        lines += ["", *m.comment_block()]
    return "\n".join(lines) + "\n"


def _channel(flag: str, ts: Sequence[Target]) -> list[str]:
    if flag == "npm":
        return [_line("[channels.npm]", "npm packages: one per platform and a main one that runs the right one"),
                _line(f"targets = {_list(_one_per(ts, 'npm'))}", "one target per npm platform"),
                _line("publish = true", "invoke release publishes them (token from $NPM_TOKEN); false: write only")]
    if flag == "wheel":
        return [_line("[channels.pypi]", "Python wheels carrying the binaries (pip install puts them on PATH)")]
    return [_line(f"[channels.{flag}]", f".{flag} packages of the Linux binaries (nfpm; metadata from Cargo.toml)"),
            _line(f"targets = {_list(_one_per(ts, 'linux_arch'))}", "one target per architecture")]


TASKS_PY = '''\
"""Release tasks: wavrybuild's invoke collection (`invoke --list`); targets.toml says what is built."""

from wavrybuild import namespace

ns = namespace()
# Tasks of your own go beside them: ns.add_task(my_task)
# A targets.toml elsewhere: ns.configure({"wavrybuild": {"config": "release/targets.toml"}})
'''

HEADER = ("# Written by `python -m wavrybuild init`; `python -m wavrybuild init --check` fails when this file\n"
          "# differs from what init writes now (after an upgrade: `python -m wavrybuild init --ci {ci} --force`).\n")


def _install() -> str:
    return f"python -m pip install 'wavrybuild=={__version__}'"


def _github_setup(install: str, *, history: bool = False) -> str:
    """A job's first steps: the checkout (no persisted credentials; `history`: every commit and tag,
    for a job that writes the release notes), Python, wavrybuild."""
    depth = ("          fetch-depth: 0 # the whole history and tags: the release notes list the commits since "
             "the previous tag\n") if history else ""
    return """\
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
        with:
          persist-credentials: false
""" + depth + """\
      - uses: actions/setup-python@42375524e23c412d93fb67b49958b491fce71c38 # v5.4.0
        with:
          python-version: "3.11"
      - run: """ + install + "\n"


def _plan_and_build_jobs(setup: str, shell_note: str = "") -> str:
    """The `jobs:` both GitHub workflows open with: the plan job (the matrix from `invoke plan`) and
    the head of the build job, one per target, up to its toolchain; each workflow adds its own steps."""
    return """\
jobs:
  plan:
    runs-on: ubuntu-latest
    outputs:
      matrix: ${{ steps.plan.outputs.matrix }}
    steps:
""" + setup + """\
      - id: plan
        run: echo "matrix=$(python -m invoke plan --format github)" >> "$GITHUB_OUTPUT"

  build:
    needs: plan
    runs-on: ${{ matrix.runs-on }}
    strategy:
      fail-fast: false
      matrix: ${{ fromJSON(needs.plan.outputs.matrix) }}
    defaults:
      run:
        shell: bash""" + shell_note + """
    steps:
""" + setup + """\
      - if: runner.os == 'Linux'
        run: sudo -E env "PATH=$PATH" python -m invoke toolchain --install --target "$TARGET"
        env:
          TARGET: ${{ matrix.target }}
      - if: runner.os != 'Linux'
        run: python -m invoke toolchain --install --target "$TARGET"
        env:
          TARGET: ${{ matrix.target }}
"""


def github_workflow(name: str = "release", *, from_init: bool = True) -> str:
    """The matrix fan-out and merge. wavrybuild's own .github/workflows/release-matrix.yml is this
    text too (name "release-matrix", without init's header): tests/unit/test_ci_files.py checks that
    the two never drift apart."""
    checkout = _github_setup(_install())
    globs = "".join(f"            {g}\n" for g in (*PART_FILES, "dist/manifest-part-*"))
    return (HEADER.format(ci="github") if from_init else "") + """\
# Fan-out: one job per target of targets.toml (from `invoke plan`), then a merge job that never builds.
name: """ + name + """

on:
  push:
    tags: ["v*"]
  workflow_dispatch:

permissions:
  contents: read

concurrency:
  group: """ + name + """-${{ github.ref }}
  cancel-in-progress: false

""" + _plan_and_build_jobs(checkout, " # the same scripts on Linux, macOS and Windows runners (`invoke plan` picks them)") + """\
      - run: python -m invoke release --part --target "$TARGET"
        env:
          TARGET: ${{ matrix.target }}
      - uses: actions/upload-artifact@65c4c4a1ddee5b72f698fdd19549f0f0fb45cf08 # v4.6.0
        with:
          name: part-${{ matrix.target }}
          path: |
""" + globs + """\
          if-no-files-found: error

  merge:
    needs: build
    runs-on: ubuntu-latest
    permissions:
      contents: write # create the GitHub release and upload its assets
      id-token: write # Sigstore: the attestation below (and [sign] sigstore) sign with the job's OIDC identity
      attestations: write # store the build provenance attestation
    steps:
""" + _github_setup(_install(), history=True) + """\
      - uses: actions/download-artifact@fa0a91b85d4f404e444e00e005971372dc801d16 # v4.1.8
        with:
          pattern: part-*
          path: parts
      - run: python -m invoke release --merge parts
        env:
          GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}
          NPM_TOKEN: ${{ secrets.NPM_TOKEN }} # only used with [channels.npm]
          WAVRYBUILD_MINISIGN_PASSPHRASE: ${{ secrets.MINISIGN_PASSPHRASE }} # only used with [sign] minisign
      - uses: actions/attest-build-provenance@a2bbfa25375fe432b6a289bc6b6cd05ecd0c4c32 # v4.1.0
        with:
          subject-checksums: dist/SHA256SUMS # every released file, as SHA256SUMS lists it
"""


# actions/cache, pinned by commit (zizmor's unpinned-uses audit): only in the build workflow.
CACHE_ACTION = "actions/cache@5a3ec84eff668545956fd18022155c47e93e2684 # v4.2.3"
# The cache key before Cargo.lock's hash (also the restore prefix: an older lock's cache of the same
# target and toolchain, which cargo then brings up to date).
CACHE_KEY = "cargo-${{ matrix.target }}-${{ runner.os }}-${{ steps.toolchain.outputs.hash }}-"
TOOLCHAIN_HASH = ("python -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest()[:16])' "
                  '< "$RUNNER_TEMP/toolchain.txt"')


def github_build_workflow(install: str | None = None) -> str:
    """Pushes and pull requests: every target of targets.toml built and smoke-tested with a warm
    cargo cache (registry, git checkouts and the target dir, per target, keyed by Cargo.lock, the
    toolchain and the target). The release workflows never restore a cache (docs/ci.md, Caching).
    `install`: how the jobs install wavrybuild (init: this version from PyPI)."""
    setup = _github_setup(install or _install())
    head = HEADER.format(ci="github") if install is None else ""
    return head + """\
# Pushes to branches and pull requests: build and smoke-test every target of targets.toml (one job
# each, from `invoke plan`) with a warm cargo cache. Only these runs read or write the cache: the
# release workflow (tags) builds from scratch, so a poisoned cache cannot reach a release.
name: build

on:
  push:
    branches: ["**"] # branches only: a tag push is a release, which runs without any cache
  pull_request:

permissions:
  contents: read

concurrency:
  group: build-${{ github.ref }}
  cancel-in-progress: true

""" + _plan_and_build_jobs(setup) + """\
      - id: toolchain # the compilers the key names: every rustc installed, and the pins
        run: |
          {
            rustc -vV
            rustup toolchain list --verbose 2>/dev/null || true
          } > "$RUNNER_TEMP/toolchain.txt"
          echo "hash=$(""" + TOOLCHAIN_HASH + """)" >> "$GITHUB_OUTPUT"
      - uses: """ + CACHE_ACTION + """
        with:
          path: |
            ~/.cargo/registry/index/
            ~/.cargo/registry/cache/
            ~/.cargo/git/db/
            target/
          key: """ + CACHE_KEY + """${{ hashFiles('**/Cargo.lock', 'rust-toolchain', 'rust-toolchain.toml') }}
          restore-keys: |
            """ + CACHE_KEY + """
      - run: python -m invoke build --target "$TARGET"
        env:
          TARGET: ${{ matrix.target }}
      - run: python -m invoke smoke --target "$TARGET"
        env:
          TARGET: ${{ matrix.target }}
"""


def gitlab_ci() -> str:
    """A plan job writing the child pipeline (one job per target and a merge job), as wavrybuild's
    own .gitlab-ci.yml."""
    return HEADER.format(ci="gitlab") + """\
# A plan job writes a child pipeline (one job per target of targets.toml, then a merge job) and
# triggers it. With the CI/CD variable WAVRYBUILD_STORAGE (s3://bucket/prefix) the parts travel
# through object storage instead (docs/ci.md of wavrybuild).
stages: [plan, release]

default:
  image: python:3.11-bookworm

plan:
  stage: plan
  rules:
    - if: $CI_COMMIT_TAG
  script:
    - """ + _install() + """
    - python -m invoke plan --format gitlab > release-pipeline.json
  artifacts:
    paths: [release-pipeline.json]

release:
  stage: release
  rules:
    - if: $CI_COMMIT_TAG
  needs: [plan]
  trigger:
    include:
      - artifact: release-pipeline.json
        job: plan
    strategy: depend
"""


def ci_files(opts: Options) -> tuple[Planned, ...]:
    make = {"github": github_workflow, "gitlab": gitlab_ci}
    out = []
    for k in opts.ci:
        out.append(Planned(CI_FILES[k], make[k]()))
        if k == "github":  # beside the release workflow: the cached build of pushes and pull requests
            out.append(Planned(GITHUB_BUILD_FILE, github_build_workflow()))
    return tuple(out)


def plan(meta: dict[str, Any], manifest: Path, opts: Options, *, have_tasks: bool,
         migration: Migration | None = None) -> tuple[Planned, ...]:
    """Every file init writes, from cargo's metadata and the flags (pure), and with --from what
    `migration` carried over from the peer's config."""
    packages = binary_packages(meta, manifest)
    for flag in opts.channels:
        if flag in ("deb", "rpm"):
            lacking = [p.name for p in packages if not p.has_authors]
            if lacking:
                raise ConfigError(f"{manifest}: package {lacking[0]!r} has no authors: --channel {flag} takes the "
                                  "package's maintainer from them",
                                  hint='add authors = ["Name <email>"] to its [package], or leave out --channel ' + flag)
    files = [Planned("targets.toml", targets_toml(packages, opts, migration))]
    if not have_tasks:
        files.append(Planned("tasks.py", TASKS_PY))
    return (*files, *ci_files(opts))


# -- running it ------------------------------------------------------------------------------------


def check_loads(root: Path, text: str, meta: dict[str, Any]) -> None:
    """The targets.toml init would write, parsed as every task will parse it (before writing it)."""
    from .config.load import parse
    from .env import Settings

    try:
        parse(root / "targets.toml", tomllib.loads(text), lambda _manifest: meta, Settings())
    except ConfigError as exc:
        raise ConfigError("init: the targets.toml it would write does not load, so nothing was written: "
                          f"{exc.message}", hint=exc.hint or "leave out the flag that adds that section") from None


def _git_top(root: Path) -> Path | None:
    for d in (root, *root.parents):
        if (d / ".git").exists():
            return d
    return None


def check(root: Path, opts: Options, ui: UI) -> None:
    """--check: the CI files (those --ci names, else those present) are what init writes now."""
    kinds = opts.ci or tuple(k for k, f in CI_FILES.items() if (root / f).is_file())
    if not kinds:
        raise ConfigError(f"init --check: {root} has no {GITHUB_FILE} or {GITLAB_FILE} to check",
                          hint="write them with `python -m wavrybuild init --ci github|gitlab|both`")
    differ: list[str] = []
    for f in ci_files(Options(kinds)):
        try:
            now = (root / f.path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            differ.append(f"{f.path} (missing or unreadable)")
            continue
        if now != f.text:
            differ.append(f"{f.path} (differs)")
    if differ:
        ci = "both" if len(kinds) == 2 else kinds[0]
        raise WavryError("CI files differ from what init writes now: " + ", ".join(differ),
                         hint=f"`python -m wavrybuild init --ci {ci} --force` rewrites them (review the diff)")
    ui.success("CI files are what init writes: " + ", ".join(f.path for f in ci_files(Options(kinds))))


def run(root: Path, opts: Options, ui: UI) -> None:
    """init in `root`: plan, check the plan, then write (or print it with --dry)."""
    if opts.check:
        check(root, opts, ui)
        return
    manifest = root / "Cargo.toml"
    if not manifest.is_file():
        raise ConfigError(f"{root}: no Cargo.toml here", hint="run init in the directory of a crate or workspace root")
    top = _git_top(root)
    if opts.ci and top is not None and top.resolve() != root.resolve():
        raise ConfigError(f"init --ci: {root} is not the top of its git repository ({top}), where CI files belong",
                          hint="run init at the repository's top (with the crate there), or leave out --ci")
    from . import cargo

    meta = cargo.metadata(manifest)
    migration = _migrate(root, meta, opts.source) if opts.source else None
    files = plan(meta, manifest, opts, have_tasks=(root / "tasks.py").exists(), migration=migration)
    check_loads(root, files[0].text, meta)
    write(root, files, opts, ui)
    if migration is not None:
        ui.table(f"init --from {migration.tool}: {one_line(migration.source)}",
                 [f"{migration.tool} key", "outcome", "in targets.toml / why"], migration.table_rows())
        ui.info("the same table is at the end of targets.toml, as a comment")


def _migrate(root: Path, meta: dict[str, Any], tool: str) -> Migration:
    """The peer's config in `root`, mapped with what cargo says of the first binary package."""
    from .migrate import migrate

    packages = binary_packages(meta, root / "Cargo.toml")
    first = packages[0]
    pkg = next((p for p in meta.get("packages", []) if isinstance(p, dict) and p.get("name") == first.name), {})
    return migrate(tool, root, first.name, pkg.get("repository"), all(p.has_authors for p in packages),
                   len(packages) > 1)


def write(root: Path, files: Sequence[Planned], opts: Options, ui: UI) -> None:
    """The plan onto the disk: each file atomically; nothing at all when a file that exists and
    differs would be overwritten without --force (or with --dry, which prints the plan)."""
    refused: list[str] = []
    writes: list[Planned] = []
    for f in files:
        dest = root / f.path
        try:
            old = dest.read_text(encoding="utf-8") if dest.exists() else None
        except (OSError, UnicodeDecodeError):
            old = ""
        if old == f.text:
            ui.info(f"{f.path}: unchanged")
        elif old is not None and not opts.force:
            refused.append(f.path)
        else:
            writes.append(f)
    if opts.dry:
        for f in files:
            state = "refused (exists)" if f.path in refused else "write" if f in writes else "unchanged"
            ui.result(f"==> {f.path} ({state}) <==\n{f.text}\n")
        return
    if refused:
        raise WavryError("init would overwrite " + ", ".join(refused) + ": nothing was written",
                         hint="--force overwrites them (review the diff); --dry shows what init would write")
    for f in writes:
        write_atomic(root / f.path, f.text)
        ui.success(f"wrote {f.path}")
    if not any(f.path == "tasks.py" for f in files):
        ui.info("tasks.py: kept as it is (it should expose wavrybuild's tasks: from wavrybuild import namespace)")
    ui.info("next: `invoke doctor` (what this machine can build), then `invoke release --target <id>`")

