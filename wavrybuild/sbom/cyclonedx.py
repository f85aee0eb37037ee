"""CycloneDX SBOMs: per target, the crates compiled into its binaries.

The graph is cargo's own (`cargo metadata --filter-platform <triple>`), so a dependency behind
`[target.'cfg(windows)'.dependencies]` is listed for Windows targets only; versions are the ones
Cargo.lock pins, and a registry crate carries the SHA-256 of its .crate file from Cargo.lock.
Build-only and dev-only dependencies are not compiled into the binaries and are left out.
Licenses are SPDX expressions (spdx.py): a dependency's that cannot be normalised is kept as a
license name (the caller warns), the project's own is an error. No machine path reaches the
document: a path crate's cargo id (`path+file:///home/…/crate#name@1.0.0`) is made relative to the
workspace root, so checkouts at different paths give the same bytes. The
released binaries themselves are components with the SHA-256 of their bytes, which ties the SBOM
to the artifacts that ship them. Deterministic: the serial number is derived from the content and
the timestamp is the release's SOURCE_DATE_EPOCH, so a rerun gives the same bytes.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import tomllib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from .. import __version__
from ..errors import ConfigError, ToolMissing
from ..spdx import OWN_HINT, License

Metadata = Callable[[Path, str], dict[str, Any]]


@dataclass(frozen=True)
class Crate:
    id: str
    name: str
    version: str
    license: License | None
    source: str | None  # None: a path or workspace crate
    checksum: str | None  # the .crate file's SHA-256 (registry crates)
    repository: str | None
    deps: tuple[str, ...]  # ids


def lock_checksums(lock: Path) -> dict[tuple[str, str], str]:
    """(name, version) -> checksum, from Cargo.lock."""
    try:
        data = tomllib.loads(lock.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return {(p["name"], p["version"]): p["checksum"] for p in data.get("package", [])
            if isinstance(p, dict) and isinstance(p.get("checksum"), str)}


_FILE_URL = re.compile(r"file://(/[^#?)\s]*)")


def portable_id(pid: str, workspace_root: str) -> str:
    """A cargo package id without the machine's path: a path crate's `file:///abs/dir` becomes
    `file:<dir relative to the workspace root>` (registry and git ids have no local path)."""
    def relative(m: re.Match[str]) -> str:
        path = unquote(m.group(1))
        path = path[1:] if re.match(r"/[A-Za-z]:/", path) else path  # file:///C:/src: the path is C:/src
        rel = os.path.relpath(path, workspace_root) if workspace_root else path
        return "file:" + quote(Path(rel).as_posix(), safe="/.-_~+@")
    return _FILE_URL.sub(relative, pid)


def _license(p: dict[str, Any], own: bool) -> License | None:
    text = p.get("license")
    if not isinstance(text, str) or not text:
        return None
    lic = License.parse(text)
    if lic.spdx is None and own:
        raise ConfigError(f"{p.get('manifest_path', 'Cargo.toml')}: package.license = {text!r} is not an SPDX license "
                          f"expression ({lic.problem})", hint=OWN_HINT)
    return lic


def compiled_in(meta: dict[str, Any], roots: Iterable[str], checksums: dict[tuple[str, str], str]) -> dict[str, Crate]:
    """Every crate reachable from the released packages through normal dependencies, keyed by
    portable id. A workspace member's license that is not SPDX is the project's own: an error."""
    packages = {p["id"]: p for p in meta.get("packages", [])}
    members = set(meta.get("workspace_members", []))
    ws = str(meta.get("workspace_root") or "")
    nodes = {n["id"]: n for n in (meta.get("resolve") or {}).get("nodes", [])}
    todo = [r for r in roots if r in packages]
    seen: dict[str, Crate] = {}
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        p = packages[pid]
        deps = []
        for d in nodes.get(pid, {}).get("deps", []):
            # kind None is a normal dependency ("build" and "dev" are not linked into the binary).
            if any(k.get("kind") is None for k in d.get("dep_kinds", [{"kind": None}])):
                deps.append(d["pkg"])
        seen[pid] = Crate(id=portable_id(pid, ws), name=p["name"], version=p["version"],
                          license=_license(p, pid in members),
                          source=p.get("source"), checksum=checksums.get((p["name"], p["version"])),
                          repository=p.get("repository"), deps=tuple(sorted(portable_id(d, ws) for d in deps)))
        todo += deps
    return {c.id: c for c in seen.values()}


def unnormalised(crates: Iterable[Crate]) -> list[Crate]:
    """The dependencies whose license is kept as a name, not an SPDX expression (to warn about)."""
    return sorted((c for c in crates if c.license and c.license.spdx is None), key=lambda c: (c.name, c.version))


def _lib() -> Any:
    try:
        from cyclonedx import model  # noqa: F401
    except ImportError:
        raise ToolMissing("[sbom]: cyclonedx-python-lib is not installed",
                          hint="pip install 'wavrybuild[sbom]'") from None
    import cyclonedx

    return cyclonedx


def document(name: str, version: str, target: str, triples: tuple[str, ...], crates: dict[str, Crate],
             roots: list[str], binaries: dict[str, Path], epoch: int, spec: str = "1.6") -> str:
    """The CycloneDX JSON document for one target."""
    _lib()
    from cyclonedx.model import ExternalReference, ExternalReferenceType, HashAlgorithm, HashType, Property, XsUri
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
    from cyclonedx.output.json import JsonV1Dot5, JsonV1Dot6
    from packageurl import PackageURL

    def component(c: Crate) -> Component:
        comp = Component(name=c.name, version=c.version, type=ComponentType.LIBRARY, bom_ref=c.id,
                         purl=PackageURL("cargo", name=c.name, version=c.version) if c.source else None)
        if c.license and c.license.spdx:
            comp.licenses.add(LicenseExpression(c.license.spdx))
        elif c.license:
            # Not an expression: as a name it keeps the document valid and says what Cargo.toml says.
            comp.licenses.add(DisjunctiveLicense(name=c.license.text))
        if c.checksum:
            comp.hashes.add(HashType(alg=HashAlgorithm.SHA_256, content=c.checksum))
        if c.repository:
            comp.external_references.add(ExternalReference(type=ExternalReferenceType.VCS, url=XsUri(c.repository)))
        if c.source is None:
            comp.properties.add(Property(name="cargo:source", value="path"))
        return comp

    by_id = {cid: component(c) for cid, c in crates.items()}
    app = Component(name=name, version=version, type=ComponentType.APPLICATION, bom_ref=f"{name}@{version}#{target}")
    app.properties.add(Property(name="wavrybuild:target", value=target))
    for t in triples:
        app.properties.add(Property(name="rust:triple", value=t))
    for b, path in sorted(binaries.items()):
        exe = Component(name=b, version=version, type=ComponentType.APPLICATION, bom_ref=f"bin:{b}")
        exe.hashes.add(HashType(alg=HashAlgorithm.SHA_256, content=hashlib.sha256(path.read_bytes()).hexdigest()))
        app.components.add(exe)
    tool = Component(name="wavrybuild", version=__version__, type=ComponentType.APPLICATION)
    seed = json.dumps([name, version, target, sorted((c.id, c.checksum) for c in crates.values()),
                       sorted((b, hashlib.sha256(p.read_bytes()).hexdigest()) for b, p in binaries.items())])
    meta = BomMetaData(component=app, timestamp=datetime.datetime.fromtimestamp(epoch, datetime.UTC))
    meta.tools.components.add(tool)
    bom = Bom(serial_number=uuid.uuid5(uuid.NAMESPACE_URL, "wavrybuild-sbom:" + seed), metadata=meta)
    for comp in by_id.values():
        bom.components.add(comp)
    bom.register_dependency(app, [by_id[r] for r in roots if r in by_id])
    for cid, c in crates.items():
        bom.register_dependency(by_id[cid], [by_id[d] for d in c.deps if d in by_id])
    writer = {"1.5": JsonV1Dot5, "1.6": JsonV1Dot6}[spec](bom)
    text: str = writer.output_as_string(indent=2)
    return text + "\n"


def for_target(manifest_path: Path, lock: Path, roots_by_name: list[str], triples: tuple[str, ...],
               metadata: Metadata) -> tuple[dict[str, Crate], list[str]]:
    """The crates compiled into a target (the union over universal2's slices) and the root ids."""
    crates: dict[str, Crate] = {}
    roots: list[str] = []
    checksums = lock_checksums(lock)
    for triple in triples:
        meta = metadata(manifest_path, triple)
        members = set(meta.get("workspace_members", []))
        ids = [p["id"] for p in meta.get("packages", []) if p["id"] in members and p["name"] in roots_by_name]
        if not ids:
            raise ConfigError(f"{manifest_path}: cargo metadata lists none of {', '.join(roots_by_name)}")
        ws = str(meta.get("workspace_root") or "")
        roots += [i for i in (portable_id(r, ws) for r in ids) if i not in roots]
        crates |= compiled_in(meta, ids, checksums)
    return crates, roots


def subjects(text: str) -> dict[str, str]:
    """binary name -> SHA-256, as an SBOM written here records them (for `invoke verify`)."""
    data = json.loads(text)
    out = {}
    for comp in (data.get("metadata", {}).get("component", {}) or {}).get("components", []):
        for h in comp.get("hashes", []):
            if h.get("alg") == "SHA-256":
                out[comp["name"]] = h["content"]
    return out
