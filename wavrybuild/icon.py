"""The [desktop] icon, read safely: the one place its file is opened.

The path comes from targets.toml, so the file may be anything: a FIFO (opening it would hang), a
device such as /dev/zero (reading it never ends), a file that says PNG but is not readable, or a
decompression bomb (a small file whose pixels fill the memory). Config loading checks the icon with
`check_icon` (a ConfigError naming desktop.icon); the channels decode it with `open_icon`, which
reads the bytes the same careful way again (the file may have changed since)."""

from __future__ import annotations

import io
import struct
import warnings
from pathlib import Path
from typing import Any

from .errors import ConfigError, ToolMissing
from .fsutil import Refused, read_regular

ICON_LIMIT = 16 << 20  # bytes: a 1024×1024 RGBA PNG is at most ~4 MiB
ICON_MIN = 256
ICON_MAX = 4096  # pixels a side: 16 Mpx, far below what could exhaust memory when converted to RGBA
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HINT = "a square PNG of at least 256×256 (512×512 or 1024×1024 is best), relative to targets.toml"


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        return None
    return Image


def _read(key: str, path: Path) -> bytes:
    try:
        return read_regular(path, ICON_LIMIT)
    except Refused as exc:
        if exc.why == "no such file":
            raise ConfigError(f"{key}: no file {path}", hint=HINT) from None
        raise ConfigError(f"{key}: {path} {exc.why}", hint=HINT) from None


def _size(key: str, path: Path, data: bytes) -> tuple[int, int]:
    """Width and height from the PNG header, checked before any pixel is decoded."""
    if data[:8] != PNG_MAGIC or data[12:16] != b"IHDR" or len(data) < 24:
        raise ConfigError(f"{key}: {path} is not a PNG file", hint="convert it to PNG")
    width, height = struct.unpack(">II", data[16:24])
    if width != height or width < ICON_MIN:
        raise ConfigError(f"{key}: {path} is {width}×{height}",
                          hint=f"the icon must be square and at least {ICON_MIN}×{ICON_MIN}")
    if width > ICON_MAX:
        raise ConfigError(f"{key}: {path} is {width}×{height}, larger than {ICON_MAX}×{ICON_MAX}",
                          hint="1024×1024 is the largest size any platform uses; scale it down")
    return width, height


def _decode(key: str, path: Path, data: bytes, image_module: Any) -> Any:
    """The decoded image; any way Pillow fails on the bytes is the icon's fault, said once."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", image_module.DecompressionBombWarning)
        try:
            image = image_module.open(io.BytesIO(data), formats=["PNG"])
            if image.width > ICON_MAX or image.height > ICON_MAX:
                raise ValueError(f"{image.width}×{image.height} pixels")
            image.load()
            return image
        except Exception as exc:  # a corrupt image raises many kinds: OSError, SyntaxError, ValueError, …
            raise ConfigError(f"{key}: {path} is not a readable PNG ({type(exc).__name__}: {exc})",
                              hint="export it again as a PNG") from None


def check_icon(where: Path, path: Path) -> None:
    """Refuse (a ConfigError naming targets.toml's desktop.icon) an icon that is not a regular file
    of a sane size holding a square PNG of 256..4096 pixels a side that decodes (when Pillow is
    installed; the channels that use the icon need it anyway and say so)."""
    key = f"{where}: desktop.icon"
    data = _read(key, path)
    _size(key, path, data)
    image_module = _pillow()
    if image_module is not None:
        _decode(key, path, data, image_module)


def open_icon(path: Path) -> Any:
    """The icon as a Pillow image, read and checked as `check_icon` does."""
    image_module = _pillow()
    if image_module is None:
        raise ToolMissing("[desktop] icon: Pillow is not installed (it converts the PNG to .icns and the icon sizes)",
                          hint="pip install 'wavrybuild[desktop]'")
    key = "[desktop] icon"
    data = _read(key, path)
    _size(key, path, data)
    return _decode(key, path, data, image_module)
