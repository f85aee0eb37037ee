"""The container images ([channels.container]) pushed to their registry by the OCI distribution
API (channels/container/registry.py): every blob checked with a HEAD and sent only when missing,
each platform's manifest by digest, then the image index under every tag — the tags last, so a
tag never names an image whose parts are not there. A second push sends nothing.

The image comes from the layout the container stage wrote (dist/.wavrybuild/container/<bundle>/),
every blob checked against its digest as it is read. The login comes from the variables
channels.container names, read before the first request; it never appears in a message."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..channels.container.format import Layout, layout_dir, read_layout
from ..channels.container.registry import Login, Registry, read_login
from ..config import Config
from ..config.container import ContainerConfig
from ..ui import mask_for_ci
from .base import HttpClient, PublishError, PublishResult, auth_hints


def _images(cfg: Config) -> list[tuple[ContainerConfig, str]]:
    """Each bundle's [channels.container] and its layout's bundle name."""
    out: list[tuple[ContainerConfig, str]] = []
    for bundle in cfg.bundles:
        vc = cfg.view(bundle).channels.container
        if vc is not None:
            out.append((vc, bundle.name))
    return out


def publish_container(cfg: Config, dist: Path, *, dry: bool, log: Callable[[str], None]) -> list[PublishResult]:
    """Push every bundle's image; rows for the results table. `dry`: what would be pushed, no
    credential read, nothing contacted."""
    if dry:
        return _dry(cfg, dist)
    layouts = []
    for vc, name in _images(cfg):
        try:
            layouts.append((vc, read_layout(layout_dir(dist, name))))
        except ValueError as exc:
            raise PublishError(str(exc), hint="run `invoke container` (or `invoke release`) first") from None
    logins = [read_login(cfg.project.config_path, vc) for vc, _ in layouts]  # all before the first byte
    results: list[PublishResult] = []
    for (vc, layout), login in zip(layouts, logins, strict=True):
        try:
            results += _push(vc, layout, login, log)
        except PublishError as exc:
            exc.results = results + exc.results
            raise
    return results


def _dry(cfg: Config, dist: Path) -> list[PublishResult]:
    """Before the container stage has run (a release's dry run): the image it would make."""
    results: list[PublishResult] = []
    for vc, name in _images(cfg):
        try:
            detail = f"index {read_layout(layout_dir(dist, name)).top.digest}"
        except ValueError:
            detail = "the image `invoke container` makes"
        results += [PublishResult("container", vc.reference(t), "would upload", detail) for t in vc.tags]
    return results


def _push(vc: ContainerConfig, layout: Layout, login: Login, log: Callable[[str], None]) -> list[PublishResult]:
    """One image: every blob and platform manifest, the index by digest, then each tag."""
    mask_for_ci([login.password or "", login.token or ""])
    client = HttpClient("container", hints=auth_hints(None, f"{vc.host}/{vc.repository}"))
    results: list[PublishResult] = []
    try:
        reg = Registry(client, vc.registry, vc.repository, login)
        sent = kept = 0
        for manifest, blobs in layout.manifests():
            for blob in blobs:
                if reg.put_blob(blob):
                    sent += 1
                else:
                    kept += 1
            reg.put_manifest(manifest.digest, manifest)
        reg.put_manifest(layout.top.digest, layout.top)
        for tag in vc.tags:
            changed = reg.put_manifest(tag, layout.top)
            row = PublishResult("container", vc.reference(tag), "uploaded" if changed or sent else "skipped",
                                f"index {layout.top.digest}; {sent} blobs sent, {kept} already there")
            results.append(row)
            log(row.line())
    except PublishError as exc:
        exc.results = results + exc.results
        raise
    except ValueError as exc:  # a layout blob changed since the stage wrote it
        raise PublishError(str(exc), hint="run `invoke container` again") from None
    finally:
        client.close()
    return results
