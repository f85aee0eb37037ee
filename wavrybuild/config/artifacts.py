"""[[artifacts]]: release files that are not Rust binaries (a website, docs, assets), made by a
command and packed by the same deterministic archiver as the binaries."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import checks as c
from .project import Core
from .sections import PackageConfig
from .values import ArtifactPath, Component, GitRef, Line

KEYS = ("name", "command", "directory", "top", "tag")
EXTENSIONS = {".tar.gz": "tar.gz", ".tar.xz": "tar.xz", ".tar.zst": "tar.zst", ".zip": "zip"}


@dataclass(frozen=True)
class ExtraArtifact:
    name: ArtifactPath  # its file name in dist/ (website-build.tar.gz); the extension says the format
    format: str
    directory: Path  # absolute: what is packed (made by `command`)
    command: tuple[Line, ...] = ()  # argv, run in targets.toml's directory; () when the directory is prebuilt
    top: Component = Component("x")  # the archive's top directory (default: the name without its extension)
    # A rolling tag (website-latest): released on its own (`invoke release --only artifacts`), not
    # in the versioned release's dist/ and assets. None: part of the versioned release.
    tag: RollingTag | None = None


class RollingTag(GitRef):
    """The tag a rolling artifact is published on: a git ref name that is also one URL path segment
    and one directory name (pull-deploy reads <download>/<tag>/SHA256SUMS; the set is kept in
    dist/.wavrybuild/rolling/<tag>/), and a fixed name, not a template: it never moves with the version."""

    expected = ("a fixed tag name such as \"website-latest\" (letters, digits, . _ + -; "
                "no '/', no {placeholders}, no '..'; at most 128 characters)")

    @classmethod
    def check(cls, value: str) -> str:
        try:
            GitRef.check(value)
        except ValueError:
            raise ValueError(cls.expected) from None
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}", value):
            raise ValueError(cls.expected)
        return value


def _format(where: str, name: Any) -> str:
    if (not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", name) or ".." in name
            or len(name) > 128):
        raise ConfigError(f"{where}.name: {name!r} is not a usable file name (letters, digits, . _ + -)")
    for ext, fmt in EXTENSIONS.items():
        if name.endswith(ext):
            return fmt
    raise ConfigError(f"{where}.name: {name!r}: the name says the archive format",
                      hint="end it with " + ", ".join(EXTENSIONS))


def _directory(cfg: Core, where: str, value: Any) -> Path:
    """What is packed: a directory inside the project that is neither the project itself, nor one
    holding .git or dist/, nor (through a symlink) anywhere outside the project."""
    if not isinstance(value, str) or not value or Path(value).is_absolute() or ".." in Path(value).parts:
        raise ConfigError(f"{where}.directory: {value!r}: expected a relative path inside the project",
                          hint='e.g. directory = "apps/website/dist"')
    root = cfg.project.config_path.parent.resolve()
    directory = c.local_path(cfg.project.config_path, f"{where.split(': ', 1)[1]}.directory", value)
    dist = cfg.project.dist_dir.resolve()
    if not directory.is_relative_to(root):
        raise ConfigError(f"{where}.directory: {value!r} leads outside the project (through a symlink)",
                          hint="point it at the build output itself, inside the project")
    problem = ("is the project itself" if directory == root
               else "is inside .git" if ".git" in directory.relative_to(root).parts
               else "holds .git" if c.is_dir(directory / ".git") or c.is_file(directory / ".git")
               else "holds the dist directory" if dist.is_relative_to(directory)
               else "is inside the dist directory" if directory.is_relative_to(dist) else None)
    if problem:
        raise ConfigError(f"{where}.directory: {value!r} {problem}: it would be packed into the release",
                          hint='name the build\'s output directory, e.g. directory = "apps/website/dist"')
    return directory


def _tag(where: str, value: Any) -> RollingTag:
    try:
        return RollingTag.parse(value)
    except ValueError as exc:
        raise ConfigError(f"{where}.tag: expected {exc}, got {value!r}",
                          hint='e.g. tag = "website-latest"; leave it out to ship the artifact in the versioned release'
                          ) from None


def implied_names(cfg: Core, package: PackageConfig) -> set[str]:
    """The archive names the binaries' bundles take in dist/ (<name>-<version>-<target>.<format>)."""
    return {f"{b.name}-{b.version}-{t.id}.{package.format_for(t)}"
            for b in cfg.project.bundles(package.group) for t in cfg.targets}


def parse_artifacts(cfg: Core, raw: Any, package: PackageConfig | None = None) -> tuple[ExtraArtifact, ...]:
    path = cfg.project.config_path
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: artifacts: expected [[artifacts]] tables")
    taken = implied_names(cfg, package or PackageConfig())
    out: list[ExtraArtifact] = []
    for i, item in enumerate(raw):
        where = f"{path}: artifacts[{i}]"
        table = c.check_table(path, f"artifacts[{i}].", item)
        c.reject_unknown(path, f"artifacts[{i}].", table, KEYS)
        for key in ("name", "directory"):
            if key not in table:
                raise ConfigError(f"{where}.{key}: missing", hint="[[artifacts]] needs name and directory")
        fmt = _format(where, table["name"])
        try:
            name = ArtifactPath.parse(table["name"])
        except ValueError as exc:
            raise ConfigError(f"{where}.name: expected {exc}, got {table['name']!r}") from None
        if name in taken:
            raise ConfigError(f"{where}.name: {name!r} is the name of a binary archive of this release",
                              hint="give the extra artifact a name of its own")
        directory = _directory(cfg, where, table["directory"])
        try:
            command = c.args(table.get("command", []))
        except ValueError as exc:
            raise ConfigError(f"{where}.command: expected {exc} (an argv, never a shell string)") from None
        if isinstance(table.get("command"), str):
            raise ConfigError(f"{where}.command: expected a list of strings (an argv, never a shell string)")
        top = table.get("top", "")
        if not isinstance(top, str) or (top and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", top)) or len(top) > 128:
            raise ConfigError(f"{where}.top: {top!r} is not a usable directory name")
        tag = _tag(where, table["tag"]) if "tag" in table else None
        if any(a.name == name for a in out):
            raise ConfigError(f"{where}.name: {name!r} is listed twice")
        stem = next(name.removesuffix(ext) for ext in EXTENSIONS if name.endswith(ext))
        out.append(ExtraArtifact(name, fmt, directory, tuple(command), Component.parse(top or stem), tag))
    return tuple(out)


def versioned(artifacts: tuple[ExtraArtifact, ...]) -> tuple[ExtraArtifact, ...]:
    """The artifacts of the versioned release (dist/, its manifest and SHA256SUMS)."""
    return tuple(a for a in artifacts if a.tag is None)


def rolling(artifacts: tuple[ExtraArtifact, ...]) -> dict[RollingTag, tuple[ExtraArtifact, ...]]:
    """The artifacts on rolling tags, by tag (in targets.toml's order)."""
    out: dict[RollingTag, tuple[ExtraArtifact, ...]] = {}
    for a in artifacts:
        if a.tag is not None:
            out[a.tag] = (*out.get(a.tag, ()), a)
    return out
