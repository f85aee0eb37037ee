"""The OCI image format, pure: a layer tar of the binaries, the image config, the manifest per
platform, the image index, and the OCI image layout that holds them.

Reproducible by construction: tar entries sorted, with fixed mtime (0), uid/gid (0, no names) and
modes; gzip with mtime 0 and no file name; JSON with sorted keys and no spaces; no `created`
time. The same binaries (and base) give the same bytes, so the same index digest.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ...fsutil import state_dir

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = (MT_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (MT_MANIFEST, DOCKER_MANIFEST)
BIN_DIR = "/usr/local/bin"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
REF_NAME = "org.opencontainers.image.ref.name"
GZIP_LEVEL = 9
LAYOUT_DIR = "container"


def layout_dir(dist: Path, bundle_name: str) -> Path:
    """Where the container stage writes a bundle's image layout (and publishing reads it)."""
    return state_dir(dist) / LAYOUT_DIR / bundle_name


def canonical(obj: Any) -> bytes:
    """The JSON bytes of `obj`, the same for the same value."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Blob:
    """A content-addressed blob and its media type."""

    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return digest_of(self.data)

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    def as_json(self) -> dict[str, str]:
        out = {"os": self.os, "architecture": self.architecture}
        return out | ({"variant": self.variant} if self.variant else {})

    def __str__(self) -> str:
        return f"{self.os}/{self.architecture}" + (f"/{self.variant}" if self.variant else "")


@dataclass(frozen=True)
class Base:
    """A base image's config (parsed JSON) and its layers (blobs as the registry holds them)."""

    config: dict[str, Any]
    layers: tuple[Blob, ...]


def _tarinfo(name: str, *, size: int = 0, mode: int = 0o755, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name + ("/" if directory else ""))
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.size, info.mode, info.mtime = size, mode, 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def layer(files: Sequence[tuple[str, bytes, int]]) -> tuple[Blob, str]:
    """A gzipped layer tar of `files` ((absolute path, bytes, mode)) with every parent directory;
    returns the blob and its diff_id (the digest of the uncompressed tar)."""
    dirs: set[str] = set()
    for path, _, _ in files:
        p = PurePosixPath(path)
        if not p.is_absolute() or ".." in p.parts or len(p.parts) < 2:
            raise ValueError(f"{path!r}: not an absolute path inside the image")
        dirs |= {str(q.relative_to("/")) for q in p.parents if str(q) != "/"}
    entries = sorted([(d, None, 0o755) for d in dirs] + [(str(PurePosixPath(p).relative_to("/")), data, mode)
                                                           for p, data, mode in files], key=lambda e: e[0])
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode in entries:
            if data is None:
                tar.addfile(_tarinfo(name, directory=True))
            else:
                tar.addfile(_tarinfo(name, size=len(data), mode=mode), io.BytesIO(data))
    tar_bytes = raw.getvalue()
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0, compresslevel=GZIP_LEVEL) as gz:
        gz.write(tar_bytes)
    return Blob(MT_LAYER, packed.getvalue()), digest_of(tar_bytes)


def image_config(platform: Platform, diff_id: str, entrypoint: str, base: Base | None) -> dict[str, Any]:
    """The image config: the base's environment and layers (if any), then ours, run as `entrypoint`.
    The base's Cmd is dropped: it would become our binary's arguments."""
    run: dict[str, Any] = {"Env": [PATH_ENV]}
    diff_ids: list[str] = []
    history: list[dict[str, Any]] = []
    if base is not None:
        inherited = base.config.get("config") or {}
        run = {k: v for k, v in inherited.items() if k in ("Env", "User", "WorkingDir", "Labels") and v}
        run.setdefault("Env", [PATH_ENV])
        diff_ids = list(base.config["rootfs"]["diff_ids"])
        history = [h for h in base.config.get("history") or [] if isinstance(h, dict)]
    run["Entrypoint"] = [entrypoint]
    return {**platform.as_json(), "config": run, "rootfs": {"type": "layers", "diff_ids": [*diff_ids, diff_id]},
            "history": [*history, {"created_by": "wavrybuild: binaries into " + BIN_DIR}]}


def image(platform: Platform, binaries: Sequence[tuple[str, bytes]], entrypoint: str,
          base: Base | None) -> tuple[Blob, list[Blob]]:
    """One platform's image: its manifest and every blob it refers to (config, layers)."""
    ours, diff_id = layer([(f"{BIN_DIR}/{name}", data, 0o755) for name, data in binaries])
    config = Blob(MT_CONFIG, canonical(image_config(platform, diff_id, f"{BIN_DIR}/{entrypoint}", base)))
    layers = [*(base.layers if base else ()), ours]
    manifest = {"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": config.descriptor(),
                "layers": [b.descriptor() for b in layers]}
    return Blob(MT_MANIFEST, canonical(manifest)), [config, *layers]


def index(manifests: Sequence[tuple[Platform, Blob]], annotations: dict[str, str]) -> Blob:
    """The image index: one manifest per platform, in the order given."""
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": MT_INDEX,
                           "manifests": [m.descriptor(platform=p.as_json()) for p, m in manifests]}
    if annotations:
        doc["annotations"] = dict(annotations)
    return Blob(MT_INDEX, canonical(doc))


def layout_index(top: Blob, tags: Iterable[str]) -> bytes:
    """The layout's index.json: the image index once per tag (skopeo's `oci:DIR:TAG`)."""
    return canonical({"schemaVersion": 2, "mediaType": MT_INDEX,
                      "manifests": [top.descriptor(annotations={REF_NAME: t}) for t in tags]})


def write_layout(dest: Path, blobs: Iterable[Blob], index_json: bytes, tmp: Path) -> bool:
    """The OCI image layout at `dest`, swapped in whole (made under `tmp` first). False when `dest`
    already holds the same index.json and blobs (nothing is written)."""
    by_digest = {b.digest: b for b in blobs}
    if (dest / "index.json").is_file() and (dest / "index.json").read_bytes() == index_json and all(
            (dest / "blobs" / "sha256" / d.split(":")[1]).is_file() for d in by_digest):
        return False
    tmp.mkdir(parents=True, exist_ok=True)
    work = tmp / (dest.name + ".new")
    shutil.rmtree(work, ignore_errors=True)
    (work / "blobs" / "sha256").mkdir(parents=True)
    for d, b in sorted(by_digest.items()):
        (work / "blobs" / "sha256" / d.split(":")[1]).write_bytes(b.data)
    (work / "oci-layout").write_bytes(canonical({"imageLayoutVersion": "1.0.0"}))
    (work / "index.json").write_bytes(index_json)
    dest.parent.mkdir(parents=True, exist_ok=True)
    old = tmp / (dest.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        os.replace(dest, old)
    os.replace(work, dest)
    shutil.rmtree(old, ignore_errors=True)
    return True


@dataclass(frozen=True)
class Layout:
    """An OCI image layout read back: the image index, its tags, and a way to read each blob."""

    root: Path
    top: Blob
    tags: tuple[str, ...]

    def blob(self, digest: str, media_type: str) -> Blob:
        algo, _, hexd = digest.partition(":")
        if algo != "sha256" or len(hexd) != 64 or not all(ch in "0123456789abcdef" for ch in hexd):
            raise ValueError(f"{self.root}: {digest!r} is not a sha256 digest")
        data = (self.root / "blobs" / "sha256" / hexd).read_bytes()
        if digest_of(data) != digest:
            raise ValueError(f"{self.root}: blob {digest} does not match its digest (changed since it was written)")
        return Blob(media_type, data)

    def manifests(self) -> list[tuple[Blob, list[Blob]]]:
        """Each platform's manifest and the blobs it refers to, in the index's order."""
        out = []
        for m in json.loads(self.top.data)["manifests"]:
            manifest = self.blob(m["digest"], m["mediaType"])
            doc = json.loads(manifest.data)
            refs = [doc["config"], *doc["layers"]]
            out.append((manifest, [self.blob(r["digest"], r["mediaType"]) for r in refs]))
        return out


def read_layout(root: Path) -> Layout:
    """The layout written by `write_layout`; ValueError when it is missing or not one."""
    try:
        doc = json.loads((root / "index.json").read_bytes())
        entries = doc["manifests"]
        first = entries[0]
        tags = tuple(e["annotations"][REF_NAME] for e in entries)
        if any(e["digest"] != first["digest"] for e in entries) or first["mediaType"] != MT_INDEX:
            raise ValueError
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        raise ValueError(f"{root}: no OCI image layout written by the container stage") from None
    layout = Layout(root, Blob(MT_INDEX, b""), tags)
    return Layout(root, layout.blob(first["digest"], MT_INDEX), tags)
