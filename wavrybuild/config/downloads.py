"""What the package-manager channels ([channels.homebrew], [channels.scoop], [channels.winget];
models in pkgmanagers.py) take from the rest of targets.toml and Cargo.toml: the download URL of
the release's files, the homepage, the license. Apart from pkgmanagers.py because it reads the
whole Config, which holds the channels (pkgmanagers.py importing it would be a cycle)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError
from .values import HttpUrl

if TYPE_CHECKING:
    from .publish import GitHubConfig
    from .whole import Config

GITHUB_API = "https://api.github.com"


def download_base(cfg: Config, key: str, base: HttpUrl | None) -> str:
    """The URL template ({version}, {name}) of the directory holding the release's files: the
    channel's own base-url, else the download URL of the [publish.github] release on github.com."""
    if base is not None:
        return str(base)
    gh = cfg.publish.github
    hint = (f'set {key}.base-url = "https://…/{{version}}" (where the release files are served), or publish '
            "to github.com with [publish.github]")
    if gh is None or str(gh.api_url).rstrip("/") != GITHUB_API:
        raise ConfigError(f"{cfg.project.config_path}: {key}: no download URL: no base-url and no [publish.github] "
                          "on github.com", hint=hint)
    if any(f in gh.tag for f in ("{commit}", "{date}")):
        raise ConfigError(f"{cfg.project.config_path}: {key}: publish.github.tag {str(gh.tag)!r} holds a commit or "
                          "date, which a package manager's next-version URL cannot know", hint=hint)
    return f"https://github.com/{gh.repo}/releases/download/{gh.tag}"


def github_repo(gh: GitHubConfig | None) -> str | None:
    return f"https://github.com/{gh.repo}" if gh is not None and str(gh.api_url).rstrip("/") == GITHUB_API else None


def homepage(cfg: Config, key: str) -> str:
    """Cargo.toml's homepage, else its repository, else the GitHub repository released to."""
    for url in (cfg.project.homepage, cfg.project.repository, github_repo(cfg.publish.github)):
        if url is not None:
            try:
                return str(HttpUrl.parse(str(url)))
            except ValueError:
                continue
    raise ConfigError(f"{cfg.project.config_path}: {key}: needs a homepage (an http(s) URL)",
                      hint="set homepage or repository in Cargo.toml's [package]")


def license_of(cfg: Config, key: str) -> str:
    lic = cfg.project.license
    if lic is None or len(lic) < 3:
        raise ConfigError(f"{cfg.project.config_path}: {key}: needs the license (Cargo.toml's license is "
                          f"{'missing' if lic is None else repr(str(lic))})",
                          hint='set license = "MIT" (an SPDX expression) in Cargo.toml\'s [package]')
    return str(lic)


def check_package_managers(cfg: Config) -> None:
    """Everything the three channels take from other sections, for each bundle, before anything is built."""
    for bundle in cfg.bundles:
        view = cfg.view(bundle)
        ch = view.channels
        if ch.homebrew is not None:
            download_base(view, "channels.homebrew", ch.homebrew.base_url)
        if ch.scoop is not None:
            download_base(view, "channels.scoop", ch.scoop.base_url)
            if ch.scoop.checkver_url is None and (ch.scoop.base_url is not None or github_repo(view.publish.github) is None):
                raise ConfigError(f"{cfg.project.config_path}: channels.scoop: Scoop's checkver needs a page that "
                                  "names the newest version", hint='set channels.scoop.checkver-url = "https://…" '
                                  "(a listing of the release files), or publish to github.com without base-url")
        if ch.winget is not None:
            download_base(view, "channels.winget", ch.winget.base_url)
            if len(cfg.bundles) > 1 and "{name}" not in ch.winget.package_identifier:
                raise ConfigError(f"{cfg.project.config_path}: channels.winget.package-identifier: each package of "
                                  "the release needs its own identifier", hint='put {name} in it: "Example.{name}"')
