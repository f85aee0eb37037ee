"""Parts of a CI matrix in S3-compatible object storage ([storage]), keyed by commit:
`s3://<bucket>/<prefix>/<commit>/<part>/<file>`. boto3 does the transfers; credentials come from
its usual environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile, an instance role).

Uploading a part is idempotent: a file already there with the same sha256 (kept as object
metadata) is skipped, other bytes under an artifact's name are refused (the build is not
reproducible: the message names the file), and new parts may be added at any time. Downloading
checks every file against that sha256 and against the part manifest, and keeps names inside the
parts directory.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .checksum import sha256_file
from .config.storage import StorageConfig
from .errors import ToolMissing, WavryError
from .fsutil import unsafe_name
from .net import API_TIMEOUT

META = "sha256"


class StorageError(WavryError):
    exit_code = 1


@dataclass(frozen=True)
class Where:
    bucket: str
    prefix: str  # up to and including the commit: <prefix>/<commit>

    def key(self, part: str, name: str) -> str:
        return f"{self.prefix}/{part}/{name}"

    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@contextlib.contextmanager
def _errors(what: str) -> Iterator[None]:
    try:
        import botocore.exceptions as be
    except ImportError:
        raise ToolMissing("[storage] needs boto3", hint="pip install 'wavrybuild[storage]' (or boto3)") from None
    try:
        yield
    except be.NoCredentialsError:
        raise StorageError(f"storage: {what}: no credentials",
                           hint="export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or configure a profile)") from None
    except be.ClientError as exc:
        err = exc.response.get("Error", {})
        raise StorageError(f"storage: {what}: {err.get('Code', '?')}: {err.get('Message', '')}".rstrip(": "),
                           hint="check the bucket, [storage] endpoint-url and the credentials") from None
    except be.BotoCoreError as exc:
        raise StorageError(f"storage: {what}: {exc}", hint="check [storage] endpoint-url and the network") from None


def client(sc: StorageConfig) -> Any:
    try:
        import boto3
    except ImportError:
        raise ToolMissing("[storage] needs boto3", hint="pip install 'wavrybuild[storage]' (or boto3)") from None
    from botocore.config import Config as BotoConfig

    # boto3 is S3's HTTP client (SigV4: the secret key itself never travels); it keeps the HTTP
    # layer's timeouts (net.API_TIMEOUT) instead of its own 60 s and 5 attempts.
    timeouts = BotoConfig(connect_timeout=API_TIMEOUT[0], read_timeout=API_TIMEOUT[1],
                          retries={"total_max_attempts": 3, "mode": "standard"})
    return boto3.client("s3", endpoint_url=sc.endpoint_url, region_name=sc.region or "us-east-1", config=timeouts)


def where(sc: StorageConfig, commit: str) -> Where:
    if not commit or commit == "nocommit" or "/" in commit:
        raise StorageError("storage: parts are kept by commit, and this release has none",
                           hint="release from a git checkout")
    return Where(sc.bucket, f"{sc.prefix}/{commit}".lstrip("/"))


def _remote_sha(s3: Any, w: Where, key: str) -> str | None:
    import botocore.exceptions as be

    try:
        head = s3.head_object(Bucket=w.bucket, Key=key)
    except be.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return str(head.get("Metadata", {}).get(META, ""))


def upload_part(sc: StorageConfig, w: Where, part: str, dist: Path, names: list[str], manifest_name: str,
                log: Callable[[str], None]) -> list[tuple[str, str]]:
    """The part's files, then its manifest (last: a part is complete when its manifest is there)."""
    s3 = client(sc)
    rows = []
    for name in [*names, manifest_name]:
        path = dist / name
        sha = sha256_file(path)
        key = w.key(part, name)
        with _errors(f"s3://{w.bucket}/{key}"):
            there = _remote_sha(s3, w, key)
            if there == sha:
                rows.append((name, "skipped"))
                continue
            if there is not None and name != manifest_name:
                raise StorageError(
                    f"storage: {name}: s3://{w.bucket}/{key} already holds other bytes for this commit "
                    f"(sha256 {there[:16]}…, this build's {sha[:16]}…)",
                    hint="the build is not reproducible: find what differs (invoke verify, diffoscope); "
                         "a part of a commit is never replaced")
            s3.upload_file(str(path), w.bucket, key, ExtraArgs={"Metadata": {META: sha}})
        rows.append((name, "uploaded" if there is None else "replaced"))
        log(f"storage: {name} → s3://{w.bucket}/{key}")
    return rows


def parts(sc: StorageConfig, w: Where) -> dict[str, list[dict[str, Any]]]:
    """{part: [{"name", "size"}]} of every object under the commit's prefix."""
    s3 = client(sc)
    out: dict[str, list[dict[str, Any]]] = {}
    with _errors(f"list {w.url()}"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=w.bucket, Prefix=w.prefix + "/"):
            for obj in page.get("Contents", []):
                rest = obj["Key"][len(w.prefix) + 1:]
                part, _, name = rest.partition("/")
                if part and name:
                    out.setdefault(part, []).append({"name": name, "size": obj["Size"]})
    return out


def download(sc: StorageConfig, w: Where, dest: Path, log: Callable[[str], None]) -> int:
    """Every part of the commit into dest/<part>/, each file checked against its stored sha256."""
    s3 = client(sc)
    found = parts(sc, w)
    if not found:
        raise StorageError(f"storage: no parts under {w.url()}",
                           hint="run `invoke release --part --target T` for each target of this commit first")
    count = 0
    for part, files in sorted(found.items()):
        for f in files:
            name = f["name"]
            if unsafe_name(part) or unsafe_name(name) or "/" in name:
                raise StorageError(f"storage: {w.url()}/{part}/{name}: not a name a part can have")
            target = dest / part / name
            target.parent.mkdir(parents=True, exist_ok=True)
            key = w.key(part, name)
            with _errors(f"s3://{w.bucket}/{key}"):
                want = _remote_sha(s3, w, key)
                s3.download_file(w.bucket, key, str(target))
            if want and sha256_file(target) != want:
                raise StorageError(f"storage: {name}: downloaded bytes differ from the sha256 stored with it",
                                   hint="rerun; if it persists the object was changed after upload")
            count += 1
        log(f"storage: {part}: {len(files)} files from {w.url()}/{part}/")
    return count


def status_rows(found: dict[str, list[dict[str, Any]]]) -> list[tuple[str, str, str]]:
    rows = []
    for part, files in sorted(found.items()):
        manifest = next((f for f in files if f["name"].startswith("manifest-part-")), None)
        rows.append((part, str(len(files)), "complete" if manifest else "incomplete (no part manifest yet)"))
    return rows


def part_files(dist: Path, manifest_path: Path) -> list[str]:
    data = json.loads(manifest_path.read_text())
    return [a["path"] for a in data["artifacts"] if (dist / a["path"]).is_file()]
