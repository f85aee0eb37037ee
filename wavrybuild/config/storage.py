"""[storage]: S3-compatible object storage where CI matrix parts live, keyed by commit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..env import Settings
from ..errors import ConfigError
from . import checks as c
from .values import Component, HttpUrl, RelPath

S3_URL = re.compile(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?")


@dataclass(frozen=True)
class StorageConfig:
    bucket: Component
    prefix: str  # "" or a values.RelPath (checked in parse_s3_url): the keys' common prefix
    endpoint_url: HttpUrl | None = None  # None: AWS itself (or $AWS_ENDPOINT_URL, which boto3 reads)
    region: Component | None = None


def parse_s3_url(value: Any, where: str) -> tuple[Component, str]:
    m = S3_URL.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise ConfigError(f"{where}: {value!r} is not an s3://bucket/prefix URL")
    prefix = (m.group(2) or "").strip("/")
    if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
        raise ConfigError(f"{where}: {value!r}: the prefix has an empty, '.' or '..' segment")
    try:
        return Component.parse(m.group(1)), RelPath.parse(prefix) if prefix else ""
    except ValueError as exc:
        raise ConfigError(f"{where}: {value!r}: the prefix is not {exc}") from None


KEYS = ("url", "endpoint-url", "region")


def parse_storage(path: Path, raw: Any, settings: Settings) -> StorageConfig | None:
    """[storage]; WAVRYBUILD_STORAGE and WAVRYBUILD_STORAGE_ENDPOINT override its url and endpoint."""
    if raw is None and settings.storage is None:
        return None
    table = dict(c.check_table(path, "storage.", raw if raw is not None else {}))
    c.reject_unknown(path, "storage.", table, KEYS)
    if settings.storage:
        table["url"] = settings.storage
    if settings.storage_endpoint:
        table["endpoint-url"] = settings.storage_endpoint
    if "url" not in table:
        raise ConfigError(f"{path}: storage.url: missing", hint='e.g. url = "s3://releases/myproject"')
    bucket, prefix = parse_s3_url(table["url"], f"{path}: storage.url")
    endpoint = table.get("endpoint-url")
    if endpoint is not None:
        try:
            endpoint = c.url(())(endpoint)
        except ValueError as exc:
            raise ConfigError(f"{path}: storage.endpoint-url: expected {exc}") from None
    region = table.get("region")
    if region is not None and (not isinstance(region, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", region)):
        raise ConfigError(f"{path}: storage.region: {region!r} is not a region name")
    return StorageConfig(bucket, prefix, endpoint, Component.parse(region) if region is not None else None)
