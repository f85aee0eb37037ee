"""The publish feature: the package registries and the [publish] destinations.

upload.py (`publish`: the registries first — npm and crates from their files in dist/ — then every
chosen destination: all credentials read before the first byte, each file put, `finish`),
base.py (the files to publish, the Destination protocol, the HTTP client), github.py, gitlab.py,
pypi.py, destinations.py (HTTP PUT and a directory), npm.py (npm tarballs to their registry),
crates.py (the packaged crates to a cargo registry's web API), stage.py (PublishStage)."""

from __future__ import annotations

from typing import Any

__all__ = ["PublishError", "PublishResult", "publish"]


def __getattr__(name: str) -> Any:
    # The Python API (docs/publishing.md) as before the move: `from wavrybuild.publish import
    # publish`. Resolved on first use, so that importing one destination does not load them all.
    if name in __all__:
        from . import upload

        return getattr(upload, name)
    raise AttributeError(name)
