"""The package-managers stage ([channels.homebrew], [channels.scoop], [channels.winget]): a
Homebrew formula, a Scoop manifest and winget manifests for the release's archives and Windows
installers, each URL the release's own and each sha256 the manifest's."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar

from ...config import Bundle, Config
from ...config.downloads import download_base, homepage, license_of
from ...dist import Transaction, writes
from ...errors import WavryError
from ...manifest import Artifact, Manifest
from ...pipeline.stage import Run, Step
from ...ui import human_size
from ..desktop.format import product_code
from . import format as fmt

KINDS = ("homebrew", "scoop", "winget")


class PackageManagersStage:
    name: ClassVar[str] = "package-managers"

    def applies(self, run: Run) -> bool:
        return any(ch.homebrew or ch.scoop or ch.winget for _, ch in run.cfg.bundle_channels)

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return {}

    def steps(self, run: Run, todo: Sequence[str] | None) -> Sequence[Step]:
        cfg = run.cfg
        if run.dry and run.state.manifest is None:  # nothing packaged yet: the archives are not known
            return [Step.write("would write the Homebrew formula / Scoop / winget manifests ([channels.*])")]
        manifest = run.state.require_manifest()
        tx = Transaction(run.state, None, manifest)
        rows: list[tuple[str, str, str]] = []
        out: list[Step] = []
        for bundle in cfg.bundles:
            view = cfg.view(bundle)
            for kind, name, text in files(view, bundle, manifest, several=len(cfg.bundles) > 1):

                def add(bundle: Bundle = bundle, kind: str = kind, name: str = name, text: str = text) -> None:
                    a = tx.add(name, writes(text.encode()), target="", triple="", kind=kind,
                               fmt=name.rsplit(".", 1)[1], binaries=list(bundle.binaries), packages=bundle.packages)
                    rows.append((kind, name, human_size(a.size)))

                out.append(Step.write(f"would write {run.state.dist / name}", add))

        def commit() -> bool:
            changed = tx.commit(lambda a: a.kind in KINDS)
            run.ui.table("Package managers", ["channel", "file", "size"], rows)
            return changed

        return [*out, Step.finish(commit)]


def _downloads(view: Config, manifest: Manifest, base: str, kinds: tuple[str, ...],
               mine: Callable[[Artifact], bool]) -> list[fmt.Download]:
    targets = {t.id: t for t in view.targets}
    return [fmt.Download(targets[a.target], a.path, a.format, a.sha256, fmt.url_of(base, view, a.path))
            for a in manifest.artifacts if a.kind in kinds and a.target in targets and mine(a)]


def files(view: Config, bundle: Bundle, manifest: Manifest, *, several: bool) -> list[tuple[str, str, str]]:
    """(kind, file name, text) of every configured package-manager file of one bundle."""
    ch, p = view.channels, view.project

    # One bundle: every archive (manifests older than `packages` included); several: its own.
    def mine(a: Artifact) -> bool:
        return not several or a.packages == list(bundle.packages)

    out: list[tuple[str, str, str]] = []
    if ch.homebrew is not None:
        base = download_base(view, "channels.homebrew", ch.homebrew.base_url)
        archives = _downloads(view, manifest, base, ("archive",), mine)
        if not fmt.brew_downloads(archives):
            raise WavryError(f"channels.homebrew: no macOS or Linux (x86_64, aarch64) archive of {p.name} in the "
                             "manifest", hint="add such a target, or run `invoke package` first")
        # Homebrew's audit wants a homepage; the formula installs without one.
        out.append(("homebrew", f"{p.name}.rb", fmt.formula(view, archives, _homepage(view, "channels.homebrew"))))
    if ch.scoop is not None:
        base = download_base(view, "channels.scoop", ch.scoop.base_url)
        archives = _downloads(view, manifest, base, ("archive",), mine)
        if not fmt.scoop_downloads(archives):
            raise WavryError(f"channels.scoop: no Windows (x86_64, aarch64, i686) archive of {p.name} in the manifest",
                             hint="add a Windows target, or run `invoke package` first")
        gh = view.publish.github
        checkver = fmt.scoop_checkver(view, base, str(gh.tag) if gh else None,
                                      str(ch.scoop.checkver_url) if ch.scoop.checkver_url else None, archives)
        out.append(("scoop", f"{p.name}.json", fmt.scoop_manifest(
            view, archives, base, homepage=homepage(view, "channels.scoop"),
            license=license_of(view, "channels.scoop"), checkver=checkver)))
    if ch.winget is not None:
        out += [("winget", name, text) for name, text in _winget(view, manifest, mine).items()]
    return out


def _homepage(view: Config, key: str) -> str | None:
    try:
        return homepage(view, key)
    except WavryError:
        return None


def _winget(view: Config, manifest: Manifest, mine: Callable[[Artifact], bool]) -> dict[str, str]:
    wc, d, p = view.channels.winget, view.desktop, view.project
    assert wc is not None
    base = download_base(view, "channels.winget", wc.base_url)
    chosen = view.release.publish  # an installer left out of the release has no download URL
    kinds = tuple(k for k in ("msi", "setup") if chosen is None or k in chosen)
    installers = _downloads(view, manifest, base, kinds, mine)
    if d is None or not installers:
        raise WavryError(f"channels.winget: no MSI or setup.exe of {p.name} in the manifest",
                         hint="[desktop.windows] formats makes them: run `invoke desktop` first")
    hp = _homepage(view, "channels.winget")  # PackageUrl is optional
    pkg = fmt.WingetPackage(
        identifier=str(wc.package_identifier).replace("{name}", p.name), publisher=str(wc.publisher or d.manufacturer),
        name=str(d.name), license=license_of(view, "channels.winget"), homepage=hp,
        scope="machine" if d.scope == "per-machine" else "user",
        # The ProductCode each architecture's MSI itself carries (channels/desktop/format.wix_source).
        product_codes={a: "{" + product_code(d, p.version, a) + "}" for a in sorted(set(fmt.WINGET_ARCH.values()))})
    return fmt.winget_manifests(view, pkg, installers)
