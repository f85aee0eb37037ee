"""wavrybuild: invoke tasks that turn a Rust crate into release artifacts for every target triple.

In your tasks.py::

    from wavrybuild import namespace
    ns = namespace()
    ns.configure({"wavrybuild": {"config": "release/targets.toml"}})
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "namespace", "ns"]

if TYPE_CHECKING:
    from invoke.collection import Collection


def namespace() -> Collection:
    """A fresh copy of the task collection (toolchain, doctor, build, smoke)."""
    from .tasks import namespace as make

    return make()


def __getattr__(name: str) -> Any:
    # `ns` is built on first use so that importing wavrybuild.config stays free of invoke.
    if name == "ns":
        value = namespace()
        globals()["ns"] = value
        return value
    raise AttributeError(name)
