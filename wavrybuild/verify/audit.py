"""Check a directory of artifacts against its SHA256SUMS (and sidecars, and manifest.json if present)."""

from __future__ import annotations

import json
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..checksum import SIDECAR_SUFFIX, SIGNATURE_SUFFIXES, SUMS_NAME, SumsError, parse_sums, read_sums, sha256_many
from ..codesign import authenticode as ac
from ..config.release import published
from ..errors import WavryError
from ..fsutil import Refused
from ..manifest import MANIFEST_NAME
from ..package.archive import member_digests
from ..provenance import slsa as provenance
from ..sbom import cyclonedx as sbom
from ..sign import signatures as sg
from . import copies

if TYPE_CHECKING:
    from ..config import Config



@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | mismatch | missing | unexpected | bad-sidecar | manifest-disagrees
    detail: str = ""

    @property
    def ok(self) -> bool:
        # not-compared: an artifact whose copies of the binaries cannot be read here (no tool for its
        # format); said in the table, so nobody takes it for a comparison that passed.
        # not-published: made, listed in manifest.json, of a kind [release] publish leaves out; its
        # bytes are still checked against the manifest.
        return self.status in ("ok", "not-compared", "not-published")


def _describes(name: str, listed: set[str]) -> bool:
    if name in (SUMS_NAME, MANIFEST_NAME):
        return True
    for suffix in (SIDECAR_SUFFIX, *SIGNATURE_SUFFIXES):
        if name.endswith(suffix) and (name[: -len(suffix)] in listed or name[: -len(suffix)] == SUMS_NAME):
            return True
    return False


def _read_sums(directory: Path) -> dict[str, str]:
    sums_path = directory / SUMS_NAME
    if not directory.is_dir():
        raise WavryError(f"{directory}: no such directory")
    if not sums_path.is_file():
        raise WavryError(f"{sums_path}: missing", hint="run `invoke checksum` (after `invoke package`)")
    try:
        sums = parse_sums(read_sums(sums_path))
    except (SumsError, UnicodeDecodeError) as exc:
        raise WavryError(f"{sums_path}: {exc}") from None
    except Refused as exc:
        raise WavryError(str(exc)) from None
    if not sums:
        # `sha256sum -c` fails on a file with no checksum lines too: nothing verified is not a pass.
        raise WavryError(f"{sums_path}: no checksum lines", hint="run `invoke checksum` (after `invoke package`)")
    return sums


def _present(directory: Path) -> set[str]:
    """Release files in the directory: not hidden, and not the apt/rpm repositories under repo/
    (signed by their own indexes, InRelease and repomd.xml.asc)."""
    found = set()
    for p in directory.rglob("*"):
        rel = p.relative_to(directory)
        if p.is_file() and not any(part.startswith(".") for part in rel.parts) and rel.parts[0] != "repo":
            found.add(rel.as_posix())
    return found


def _sidecar_check(directory: Path, name: str, digest: str) -> Check | None:
    sidecar = directory / (name + SIDECAR_SUFFIX)
    if not sidecar.is_file():
        return None
    try:
        side = parse_sums(read_sums(sidecar))
    except (SumsError, UnicodeDecodeError, Refused):
        side = {}
    return None if side.get(Path(name).name) == digest else Check(sidecar.name, "bad-sidecar", "does not agree with SHA256SUMS")


def _signature_checks(present: set[str], data: dict[str, Any]) -> list[Check]:
    """Signature files the release's manifest does not record (a stray *.asc passes nothing)."""
    recorded = {s.get("file") for s in data.get("signatures", []) if isinstance(s, dict)}
    return [Check(name, "unexpected", "a signature file that manifest.json does not record")
            for name in sorted(present) if name.endswith(SIGNATURE_SUFFIXES) and name not in recorded]


def _manifest_checks(directory: Path, expected: dict[str, str], present: set[str]) -> list[Check]:
    manifest = directory / MANIFEST_NAME
    if not manifest.is_file():
        return []

    try:
        data = json.loads(manifest.read_text())
    except (ValueError, UnicodeDecodeError):
        return [Check(MANIFEST_NAME, "manifest-disagrees", "not valid JSON")]
    artifacts = data.get("artifacts", []) if isinstance(data, dict) else None
    if not isinstance(artifacts, list) or not all(isinstance(a, dict) for a in artifacts):
        return [Check(MANIFEST_NAME, "manifest-disagrees", "not a manifest (no list of artifacts)")]
    kinds = data.get("published")
    if kinds is not None and (not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds)):
        return [Check(MANIFEST_NAME, "manifest-disagrees", "`published` is not a list of kinds")]
    checks = [Check(str(a.get("path", "?")), "manifest-disagrees", "manifest.json and SHA256SUMS give different digests")
              for a in _released(artifacts, kinds) if expected.get(str(a.get("path"))) != a.get("sha256")]
    return checks + _signature_checks(present, data)


def _released(artifacts: list[dict[str, Any]], kinds: Any) -> list[dict[str, Any]]:
    """The manifest's artifacts of the kinds it records as published (all without `published`)."""
    return [a for a in artifacts if published(str(a.get("kind")), kinds if isinstance(kinds, list) else None)]


def _unpublished(directory: Path, names: set[str]) -> dict[str, Check]:
    """Files of `names` that manifest.json lists, with these bytes, as made but not published."""
    try:
        data = json.loads((directory / MANIFEST_NAME).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    artifacts = _manifest_artifacts(directory)
    kinds = data.get("published") if isinstance(data, dict) else None
    if not isinstance(kinds, list):
        return {}
    out = [a for a in artifacts if a.get("path") in names and a not in _released(artifacts, kinds)]
    actual = {p.relative_to(directory).as_posix(): d
              for p, d in sha256_many(directory / str(a["path"]) for a in out).items()}
    return {str(a["path"]): Check(str(a["path"]), "not-published", f"a {a.get('kind')} artifact: made, not published "
                                  "([release] publish)") for a in out if actual.get(str(a["path"])) == a.get("sha256")}


def verify_dir(directory: Path) -> list[Check]:
    expected = _read_sums(directory)
    listed = set(expected)
    checks: list[Check] = []
    existing = [directory / n for n in sorted(listed) if (directory / n).is_file()]
    actual = {p.relative_to(directory).as_posix(): d for p, d in sha256_many(existing).items()}
    for name in sorted(listed):
        if name not in actual:
            checks.append(Check(name, "missing", "listed in SHA256SUMS but not present"))
        elif actual[name] != expected[name]:
            checks.append(Check(name, "mismatch", f"sha256 {actual[name]}, SHA256SUMS says {expected[name]}"))
        else:
            checks.append(Check(name, "ok", actual[name]))
        bad_sidecar = _sidecar_check(directory, name, expected[name])
        if bad_sidecar:
            checks.append(bad_sidecar)
    present = _present(directory)  # one walk of the directory for both checks
    unlisted = {n for n in present - listed if not _describes(n, listed)}
    made = _unpublished(directory, unlisted)
    for name in sorted(unlisted):
        checks.append(made.get(name) or Check(name, "unexpected", "not listed in SHA256SUMS"))
    return checks + _manifest_checks(directory, expected, present) + supply_chain_checks(directory, expected)


def supply_chain_checks(directory: Path, expected: dict[str, str]) -> list[Check]:
    """The provenance statement's subjects are exactly SHA256SUMS' files with the same digests,
    and each SBOM's binaries are, byte for byte, the ones in its target's archives."""
    checks: list[Check] = []
    artifacts = _manifest_artifacts(directory)
    for name in sorted(expected):
        path = directory / name
        if not path.is_file():
            continue
        if name == provenance.NAME:
            try:
                problems = provenance.subject_problems(json.loads(path.read_text()), expected)
            except (ValueError, UnicodeDecodeError):
                problems = ["not valid JSON"]
            checks.append(Check(name, "bad-provenance" if problems else "ok",
                                "; ".join(problems[:3]) or f"{len(expected) - 1} subjects match SHA256SUMS"))
        elif name.endswith(".cdx.json"):
            checks.append(_sbom_check(directory, name, artifacts))
    return checks + copies_checks(directory, [a for a in artifacts if a.get("path") in expected])


def copies_checks(directory: Path, artifacts: list[dict[str, Any]]) -> list[Check]:
    """Every copy of a binary, in every artifact that holds one, is the same bytes (copies.py)."""
    return [Check(v.name, "ok" if v.ok else "copies-differ", v.detail) if v.compared
            else Check(v.name, "not-compared", v.detail)
            for v in copies.compare(copies.collect(directory, artifacts))]


def _manifest_artifacts(directory: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads((directory / MANIFEST_NAME).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return []
    arts = data.get("artifacts", []) if isinstance(data, dict) else []
    return [a for a in arts if isinstance(a, dict)] if isinstance(arts, list) else []


def _sbom_check(directory: Path, name: str, artifacts: list[dict[str, Any]]) -> Check:
    try:
        binaries = sbom.subjects((directory / name).read_text())
    except (ValueError, UnicodeDecodeError, AttributeError, KeyError, TypeError):
        return Check(name, "bad-sbom", "not a CycloneDX JSON document")
    me = next((a for a in artifacts if a.get("path") == name), None)
    archives = [a for a in artifacts if me and a.get("kind") == "archive" and a.get("target") == me.get("target")
                and a.get("packages") == me.get("packages") and (directory / str(a.get("path"))).is_file()]
    if not archives:
        return Check(name, "ok", f"{len(binaries)} binaries (no archive of its target here to compare)")
    for a in archives:
        inside = member_digests(directory / str(a["path"]), str(a.get("format")))
        for binary, digest in binaries.items():
            found = inside.get(binary) or inside.get(binary + ".exe")
            if found is None:
                return Check(name, "bad-sbom", f"{binary}: not in {a['path']}")
            if found != digest:
                return Check(name, "bad-sbom", f"{binary}: differs from the one in {a['path']}")
    return Check(name, "ok", f"{len(binaries)} binaries match {', '.join(str(a['path']) for a in archives)}")


def verify_signatures(directory: Path, cfg: Config) -> list[Check]:
    """Each configured signature must exist and verify with the real tool against the release key."""
    checks: list[Check] = []
    sums = directory / SUMS_NAME
    subjects = [sums]
    manifest = directory / MANIFEST_NAME
    artifacts: list[dict[str, Any]] = []
    if manifest.is_file():
        try:
            artifacts = json.loads(manifest.read_text()).get("artifacts", [])
        except ValueError:
            artifacts = []
    if cfg.sign.artifacts:  # the published ones: an artifact left out of SHA256SUMS is not signed either
        subjects += [directory / a["path"] for a in _released(artifacts, cfg.release.publish)
                     if (directory / a["path"]).is_file()]
    else:  # the provenance statement is always signed on its own (sign/stage.py)
        subjects += [directory / a["path"] for a in artifacts if a.get("kind") == "provenance"]
    for method in sg.detached_methods(cfg.sign):
        for subject in subjects:
            sig = directory / (subject.name + sg.SUFFIX[method])
            if not sig.is_file():
                checks.append(Check(sig.name, "missing-signature", f"no {method} signature for {subject.name}"))
                continue
            ok, said = sg.verify_detached(method, subject, sig, cfg)
            checks.append(Check(sig.name, "ok" if ok else "bad-signature", said))
    if "authenticode" in cfg.sign.methods:
        checks += _authenticode_checks(directory, cfg, artifacts)
    return checks


def _authenticode_checks(directory: Path, cfg: Config, artifacts: list[dict[str, Any]]) -> list[Check]:
    """The signed Windows executables: inside every artifact that carries them (.zip, wheel, npm
    package), and the [desktop] installers themselves."""
    checks = []
    for a in artifacts:
        if a.get("kind") in ("msi", "setup") and (directory / a["path"]).is_file():
            ok, said = ac.verify_authenticode(directory / a["path"], cfg)
            checks.append(Check(a["path"], "ok" if ok else "bad-signature", said))
            continue
        if "windows" not in a.get("triple", "") or not (directory / a["path"]).is_file():
            continue
        with tempfile.TemporaryDirectory(prefix="wavrybuild-pe-") as tmp:
            for name, data in _executables(directory / a["path"], str(a.get("format"))):
                exe = Path(tmp) / Path(name).name
                exe.write_bytes(data)
                ok, said = ac.verify_authenticode(exe, cfg)
                checks.append(Check(f"{a['path']}:{name}", "ok" if ok else "bad-signature", said))
    return checks


def _executables(path: Path, fmt: str) -> list[tuple[str, bytes]]:
    """The .exe members of a zip, a wheel or an npm tarball (member path, bytes)."""
    if fmt in ("zip", "whl"):
        with zipfile.ZipFile(path) as zf:
            return [(n, zf.read(n)) for n in zf.namelist() if n.endswith(".exe")]
    if fmt == "tgz":
        with tarfile.open(path, "r:gz") as tf:
            return [(m.name, f.read()) for m in tf.getmembers() if m.isreg() and m.name.endswith(".exe")
                    for f in (tf.extractfile(m),) if f is not None]
    return []
