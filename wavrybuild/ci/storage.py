"""Parts of a CI matrix in S3-compatible object storage ([storage]), keyed by commit:
`s3://<bucket>/<prefix>/<commit>/<part>/<file>`. boto3 does the transfers; credentials come from
its usual environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile, an instance role).

Uploading a part is idempotent: a file already there with the same sha256 (kept as object
metadata) is skipped, other bytes under an artifact's name are refused (the build is not
reproducible: the message names the file), and new parts may be added at any time.

A listing is the server's answer: every key is parsed where it comes in (`parse_listing`) into a
part name (one path component) and a file name (an artifact path or a part manifest's name), with
a size that is a plain integer; anything else is refused with the key. Downloading writes only new
files under a fresh directory, never through a link (nofollow), each file checked against its
listed size and stored sha256 while it is written; the merge then checks it against the part
manifest. With [ci] part-key, each part's manifest and signature come first and the signature is
checked (and the part bound to the commit of the prefix) before any other file of that part is
fetched: a part that is not signed by the configured key or identity is refused, naming it, and a
part with no manifest yet is not downloaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..checksum import sha256_file
from ..config.storage import StorageConfig
from ..config.values import ArtifactPath, CommitId, Component
from ..errors import ToolMissing, WavryError
from ..manifest import MAX_MANIFEST_BYTES, MAX_SIZE, SchemaError, parse_manifest, strict_json
from ..net import API_TIMEOUT
from ..nofollow import Refused, close_root, create_file, open_root, read_file
from . import partsign

if TYPE_CHECKING:
    from ..config.ci import PartTrust

META = "sha256"
PART_MANIFEST = ("manifest-part-", ".json")
MAX_OBJECTS = 100_000  # a commit's parts are tens of files: a bigger listing is not ours


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
    if not commit or commit == "nocommit":
        raise StorageError("storage: parts are kept by commit, and this release has none",
                           hint="release from a git checkout")
    try:
        sha = CommitId.parse(commit)
    except ValueError:
        raise StorageError(f"storage: {commit[:80]!r} is not a commit: parts are kept by the full commit id",
                           hint="give the whole 40 (or 64) hex digits, e.g. `git rev-parse HEAD`") from None
    return Where(sc.bucket, f"{sc.prefix}/{sha}".lstrip("/"))


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
            if there is not None and not name.startswith(manifest_name):  # the manifest or its signature
                raise StorageError(
                    f"storage: {name}: s3://{w.bucket}/{key} already holds other bytes for this commit "
                    f"(sha256 {there[:16]}…, this build's {sha[:16]}…)",
                    hint="the build is not reproducible: find what differs (invoke verify, diffoscope); "
                         "a part of a commit is never replaced")
            s3.upload_file(str(path), w.bucket, key, ExtraArgs={"Metadata": {META: sha}})
        rows.append((name, "uploaded" if there is None else "replaced"))
        log(f"storage: {name} → s3://{w.bucket}/{key}")
    return rows


@dataclass(frozen=True)
class Obj:
    """One object of a commit's parts, as parsed from the listing: <prefix>/<part>/<name>."""

    part: str  # a Component
    name: str  # an ArtifactPath, or a part manifest's name
    size: int


def _object_name(name: str) -> str:
    # A part manifest, or its signature or bundle ([ci] part-key, ci/partsign.py): one name beside the files.
    if name.startswith(PART_MANIFEST[0]) and name.removesuffix(partsign.MINISIG_SUFFIX).endswith(PART_MANIFEST[1]):
        return Component.parse(name)
    return ArtifactPath.parse(name)


def _listed(w: Where, obj: Any) -> Obj | None:
    """One entry of a listing, or None for a directory marker (`<part>/`, size 0)."""
    key, size = (obj.get("Key"), obj.get("Size")) if isinstance(obj, dict) else (None, None)
    if not isinstance(key, str) or not key.startswith(w.prefix + "/"):
        raise StorageError(f"storage: listing {w.url()}/ answered the key {str(key)[:200]!r}, not under it",
                           hint="check [storage] endpoint-url: this is not an S3 listing of that prefix")
    if type(size) is not int or not 0 <= size <= MAX_SIZE:
        raise StorageError(f"storage: s3://{w.bucket}/{key[:200]!r}: listed with size {str(size)[:40]!r}, not a size")
    part, _, name = key[len(w.prefix) + 1:].partition("/")
    if not name and size == 0:
        return None
    try:
        return Obj(Component.parse(part), _object_name(name), size)
    except ValueError as exc:
        raise StorageError(f"storage: s3://{w.bucket}/{key[:200]!r}: not a name a part can have ({exc})",
                           hint="only `invoke release --part` should write under this prefix") from None


def parse_listing(w: Where, contents: Iterable[Any]) -> dict[str, list[Obj]]:
    """{part: [Obj]} from the objects a listing returned: the keys are the server's answer, parsed
    here into names confined to the part's directory (no two that would collide on disk)."""
    out: dict[str, list[Obj]] = {}
    files: dict[str, str] = {}  # case-folded path → path
    dirs: set[str] = set()
    for i, entry in enumerate(contents):
        if i >= MAX_OBJECTS:
            raise StorageError(f"storage: {w.url()}: more than {MAX_OBJECTS} objects; not the parts of one commit")
        o = _listed(w, entry)
        if o is None:
            continue
        path = f"{o.part}/{o.name}"
        above = ["/".join(path.split("/")[:n]) for n in range(1, path.count("/") + 1)]
        clash = files.get(path.casefold()) or (path if path.casefold() in dirs else None) or next(
            (d for d in above if d.casefold() in files), None)
        if clash is not None:
            raise StorageError(f"storage: {w.url()}/{path!r}: collides with {clash!r} (the same file on disk)",
                               hint="only `invoke release --part` should write under this prefix")
        files[path.casefold()] = path
        dirs.update(d.casefold() for d in above)
        out.setdefault(o.part, []).append(o)
    return out


def parts(sc: StorageConfig, w: Where) -> dict[str, list[Obj]]:
    """{part: [Obj]} of every object under the commit's prefix, parsed at the boundary."""
    s3 = client(sc)

    def contents() -> Iterator[Any]:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=w.bucket, Prefix=w.prefix + "/"):
            yield from page.get("Contents", []) if isinstance(page, dict) else [None]

    with _errors(f"list {w.url()}"):
        return parse_listing(w, contents())


class _Sink:
    """Where an object's bytes go: the new file, hashed as they come, never more than listed.
    Not seekable, so that the transfer writes in order."""

    def __init__(self, f: Any, o: Obj, url: str) -> None:
        self.f, self.o, self.url = f, o, url
        self.sha, self.count = hashlib.sha256(), 0

    def seekable(self) -> bool:
        return False

    def write(self, data: bytes) -> int:
        self.count += len(data)
        if self.count > self.o.size:
            raise StorageError(f"storage: {self.url}: more bytes than the {self.o.size} listed")
        self.sha.update(data)
        return int(self.f.write(data))


def _fetch(s3: Any, w: Where, root: int | Path, o: Obj) -> None:
    key = w.key(o.part, o.name)
    url = f"s3://{w.bucket}/{key}"
    with _errors(url):
        want = _remote_sha(s3, w, key)
    try:
        fd = create_file(root, f"{o.part}/{o.name}")
    except Refused as exc:
        raise StorageError(f"storage: {url}: cannot be written: {exc}") from None
    with os.fdopen(fd, "wb") as f, _errors(url):
        sink = _Sink(f, o, url)
        s3.download_fileobj(w.bucket, key, sink)
    if sink.count != o.size:
        raise StorageError(f"storage: {url}: {sink.count} bytes, listed as {o.size}", hint="rerun")
    if want and sink.sha.hexdigest() != want:
        raise StorageError(f"storage: {o.name}: downloaded bytes differ from the sha256 stored with it",
                           hint="rerun; if it persists the object was changed after upload")


def _is_manifest(name: str) -> bool:
    return name.startswith(PART_MANIFEST[0]) and name.endswith(PART_MANIFEST[1]) and not partsign.is_signature(name)


def _prefix_commit(w: Where) -> str | None:
    last = w.prefix.rsplit("/", 1)[-1]
    return CommitId.parse(last) if CommitId.valid(last) else None


def _signed_first(s3: Any, w: Where, root: int | Path, part: str, objs: list[Obj], key: PartTrust,
                  log: Callable[[str], None]) -> tuple[int, list[Obj]]:
    """Fetch the part's manifests and their signatures, check them (and that the part was made
    for the prefix's commit): how many were fetched, and what is left to fetch. Nothing else of a
    part is fetched before."""
    manifests = [o for o in objs if _is_manifest(o.name)]
    if not manifests:
        log(f"storage: {part}: no part manifest yet; not downloaded (only signed parts are read)")
        return 0, []
    by_name = {o.name: o for o in objs}
    done: set[str] = set()
    commit = _prefix_commit(w)
    for m in manifests:
        where = f"storage: {w.url()}/{part}/{m.name}"
        sig = by_name.get(m.name + partsign.suffix(key))
        for o in (m, sig):
            if o is not None:
                _fetch(s3, w, root, o)
                done.add(o.name)
        try:
            data = read_file(root, f"{part}/{m.name}", MAX_MANIFEST_BYTES)
            signature = read_file(root, f"{part}/{sig.name}", partsign.max_signature_bytes(key)) if sig else None
        except Refused as exc:
            raise StorageError(f"{where}: not read: {exc}") from None
        why = partsign.verify_part(m.name, data, signature, key)
        if why is None and commit is not None:
            try:
                why = partsign.unbound(parse_manifest(strict_json(data)), commit)
            except (SchemaError, ValueError) as exc:
                why = f"not a part manifest: {exc}"
        if why is not None:
            raise StorageError(f"{where}: {why}", hint=partsign.HINT)
    return len(done), [o for o in objs if o.name not in done]


def download(sc: StorageConfig, w: Where, dest: Path, log: Callable[[str], None], key: PartTrust | None = None) -> int:
    """Every part of the commit into dest/<part>/ (a new directory; on failure it is removed),
    each file checked against its listed size and stored sha256; with a part key, only the files
    of parts whose manifest's signature verifies (and which were made for the prefix's commit)."""
    s3 = client(sc)
    found = parts(sc, w)
    if not found:
        raise StorageError(f"storage: no parts under {w.url()}",
                           hint="run `invoke release --part --target T` for each target of this commit first")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        dest.mkdir()
    except FileExistsError:
        raise StorageError(f"storage: {dest}: already exists; parts are downloaded into a new directory") from None
    count = 0
    try:
        root = open_root(dest)
        try:
            for part, objs in sorted(found.items()):
                first, rest = (0, objs) if key is None else _signed_first(s3, w, root, part, objs, key, log)
                for o in rest:
                    _fetch(s3, w, root, o)
                if first + len(rest):
                    count += first + len(rest)
                    log(f"storage: {part}: {first + len(rest)} files from {w.url()}/{part}/")
        finally:
            close_root(root)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)  # rmtree never follows a link out of it
        raise
    return count


def status_rows(found: dict[str, list[Obj]]) -> list[tuple[str, str, str]]:
    rows = []
    for part, files in sorted(found.items()):
        manifest = next((f for f in files if _is_manifest(f.name)), None)
        rows.append((part, str(len(files)), "complete" if manifest else "incomplete (no part manifest yet)"))
    return rows


def part_files(dist: Path, manifest_path: Path) -> list[str]:
    """The files this part uploads: its manifest's artifacts (read through the one schema)."""
    manifest = parse_manifest(strict_json(manifest_path.read_bytes()))
    return [a.path for a in manifest.artifacts if (dist / a.path).is_file()]
