"""SBOMs and provenance, for real: a crate whose dependencies differ per architecture (vendored,
with Cargo.lock checksums) is released for x86_64 and aarch64 Linux. Each CycloneDX SBOM is
validated against the schema and lists exactly what cargo compiled into that target; the wheel
carries it (PEP 770); the SLSA provenance names every file of SHA256SUMS and is minisign-signed;
`invoke verify` catches a provenance or SBOM that disagrees with the release; two checkouts of one
commit at different paths give the same SBOM, provenance and wheel bytes."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from tests.conftest import git_commit, invoke, write_files

PASS = "sbom-provenance-9d2c-passphrase"
X86 = "x86_64-unknown-linux-gnu"
ARM = "aarch64-unknown-linux-gnu"


def _crate(name: str, version: str, license_: str, body: str) -> dict[str, str]:
    d = f"vendor/{name}-{version}"
    # A registry-style vendored crate: its .crate checksum is what Cargo.lock records.
    checksum = hashlib.sha256(f"{name}-{version}".encode()).hexdigest()
    return {f"{d}/Cargo.toml": f'[package]\nname = "{name}"\nversion = "{version}"\nedition = "2021"\n'
                               f'license = "{license_}"\n',
            f"{d}/src/lib.rs": body,
            f"{d}/.cargo-checksum.json": json.dumps({"files": {}, "package": checksum})}


FILES = {
    "Cargo.toml": '[package]\nname = "sc-cli"\nversion = "1.4.0"\nedition = "2021"\nlicense = "MIT"\n'
                  'description = "supply-chain test"\n\n'
                  '[dependencies]\nwavry-common = "0.2"\n\n'
                  "[target.'cfg(target_arch = \"x86_64\")'.dependencies]\nwavry-x86dep = \"0.1\"\n\n"
                  "[target.'cfg(target_arch = \"aarch64\")'.dependencies]\nwavry-armdep = \"0.3\"\n\n"
                  '[build-dependencies]\nwavry-builddep = "0.5"\n\n[dev-dependencies]\nwavry-devdep = "0.6"\n',
    "build.rs": "fn main() { wavry_builddep::nothing(); }\n",
    "src/main.rs": 'fn main() { println!("sc-cli {} {} {}", env!("CARGO_PKG_VERSION"), wavry_common::name(), arch()); }\n'
                   '#[cfg(target_arch = "x86_64")] fn arch() -> &\'static str { wavry_x86dep::arch() }\n'
                   '#[cfg(target_arch = "aarch64")] fn arch() -> &\'static str { wavry_armdep::arch() }\n',
    **_crate("wavry-common", "0.2.7", "MIT OR Apache-2.0", 'pub fn name() -> &\'static str { "common" }\n'),
    **_crate("wavry-x86dep", "0.1.1", "MIT", 'pub fn arch() -> &\'static str { "x86" }\n'),
    **_crate("wavry-armdep", "0.3.2", "Apache-2.0", 'pub fn arch() -> &\'static str { "arm" }\n'),
    **_crate("wavry-builddep", "0.5.0", "MIT", "pub fn nothing() {}\n"),
    **_crate("wavry-devdep", "0.6.0", "MIT", "pub fn nothing() {}\n"),
    ".cargo/config.toml": '[source.crates-io]\nreplace-with = "vendored-sources"\n\n'
                          '[source.vendored-sources]\ndirectory = "vendor"\n',
    "tasks.py": "from wavrybuild import ns  # noqa: F401\n",
}


def _targets(keys: Path) -> str:
    return f"""[project]
crate = "."

[defaults]
smoke-expect = "sc-cli 1.4.0 common"

[targets.{X86}]
builder = "cargo"
[targets.{ARM}]

[channels.pypi]

[sbom]

[provenance]

[sign]
methods = ["minisign"]

[sign.minisign]
key = "{keys / 'minisign.key'}"
public-key = "{keys / 'minisign.pub'}"
"""


@dataclass
class Released:
    root: Path
    env: dict[str, str]

    @property
    def dist(self) -> Path:
        return self.root / "dist"

    def sbom(self, target: str) -> dict:
        return json.loads((self.dist / f"sc-cli-1.4.0-{target}.cdx.json").read_text())


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory, cargo_target_dir: Path) -> Released:
    base = tmp_path_factory.mktemp("supply")
    keys = base / "keys"
    keys.mkdir()
    done = subprocess.run(["minisign", "-G", "-p", str(keys / "minisign.pub"), "-s", str(keys / "minisign.key")],
                          input=f"{PASS}\n{PASS}\n", capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    root = write_files(base / "p", {**FILES, "targets.toml": _targets(keys)})
    git_commit(root)
    env = {"CARGO_TARGET_DIR": str(cargo_target_dir), "WAVRYBUILD_MINISIGN_PASSPHRASE": PASS}
    done = invoke("release", "--no-publish", cwd=root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return Released(root, env)


def _names(doc: dict) -> dict[str, dict]:
    return {c["name"]: c for c in doc["components"]}


def test_sboms_validate_and_list_what_each_target_compiles(released: Released) -> None:
    lock = (released.root / "Cargo.lock").read_text()
    for target, own, other in ((X86, "wavry-x86dep", "wavry-armdep"), (ARM, "wavry-armdep", "wavry-x86dep")):
        path = released.dist / f"sc-cli-1.4.0-{target}.cdx.json"
        error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(path.read_text())
        assert error is None, error
        doc = released.sbom(target)
        assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
        comps = _names(doc)
        # Cargo's own graph for this triple: the other architecture's crate, build and dev deps are not in it.
        assert {"sc-cli", "wavry-common", own} == set(comps), sorted(comps)
        assert other not in comps and "wavry-builddep" not in comps and "wavry-devdep" not in comps
        common = comps["wavry-common"]
        assert common["version"] == "0.2.7" and common["purl"] == "pkg:cargo/wavry-common@0.2.7"
        assert common["licenses"] == [{"expression": "MIT OR Apache-2.0"}]
        digest = next(h["content"] for h in common["hashes"] if h["alg"] == "SHA-256")
        assert f'checksum = "{digest}"' in lock  # Cargo.lock's checksum of the .crate
        deps = {d["ref"]: d.get("dependsOn", []) for d in doc["dependencies"]}
        app = doc["metadata"]["component"]
        assert app["type"] == "application" and app["name"] == "sc-cli"
        assert any(p == {"name": "rust:triple", "value": target} for p in app["properties"])
        assert deps[app["bom-ref"]] and all(r in deps for r in deps[app["bom-ref"]])


def test_sbom_binaries_are_the_shipped_ones_and_the_wheel_carries_it(released: Released) -> None:
    doc = released.sbom(X86)
    (exe,) = doc["metadata"]["component"]["components"]
    with tarfile.open(released.dist / f"sc-cli-1.4.0-{X86}.tar.gz") as tf:
        member = next(m for m in tf.getmembers() if m.name.endswith("/sc-cli"))
        shipped = hashlib.sha256(tf.extractfile(member).read()).hexdigest()  # type: ignore[union-attr]
    assert exe["name"] == "sc-cli" and exe["hashes"] == [{"alg": "SHA-256", "content": shipped}]
    manifest = json.loads((released.dist / "manifest.json").read_text())
    wheel = next(a["path"] for a in manifest["artifacts"] if a["kind"] == "wheel" and a["target"] == X86)
    with zipfile.ZipFile(released.dist / wheel) as zf:
        names = zf.namelist()
        inside = next(n for n in names if ".dist-info/sboms/" in n)
        assert zf.read(inside) == (released.dist / f"sc-cli-1.4.0-{X86}.cdx.json").read_bytes()
        record = zf.read(next(n for n in names if n.endswith(".dist-info/RECORD"))).decode()
        assert inside in record
    sums = (released.dist / "SHA256SUMS").read_text()
    assert f"sc-cli-1.4.0-{X86}.cdx.json" in sums and f"sc-cli-1.4.0-{ARM}.cdx.json" in sums


def test_provenance_names_every_file_and_is_signed(released: Released) -> None:
    dist = released.dist
    doc = json.loads((dist / "provenance.intoto.json").read_text())
    assert doc["_type"] == "https://in-toto.io/Statement/v1" and doc["predicateType"] == "https://slsa.dev/provenance/v1"
    listed = dict(reversed(line.split("  ", 1)) for line in (dist / "SHA256SUMS").read_text().splitlines())
    listed.pop("provenance.intoto.json")
    assert {s["name"]: s["digest"]["sha256"] for s in doc["subject"]} == listed
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=released.root, capture_output=True, text=True,
                            check=True).stdout.strip()
    build = doc["predicate"]["buildDefinition"]
    assert build["externalParameters"]["source"]["digest"] == {"gitCommit": commit}
    assert build["externalParameters"]["targets"] == sorted([X86, ARM])
    assert doc["predicate"]["runDetails"]["builder"]["id"] == "urn:wavrybuild:local"
    assert any("rustc" in d.get("annotations", {}) for d in build["resolvedDependencies"])
    signed = {(s["method"], s["signs"]) for s in json.loads((dist / "manifest.json").read_text())["signatures"]}
    assert ("minisign", "provenance.intoto.json") in signed and ("minisign", "SHA256SUMS") in signed
    done = subprocess.run(["minisign", "-V", "-p", str(_key(released)), "-m", str(dist / "provenance.intoto.json")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    done = invoke("verify", cwd=released.root, env=released.env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "subjects match SHA256SUMS" in done.stdout and "binaries match" in done.stdout


def _key(released: Released) -> Path:
    text = (released.root / "targets.toml").read_text()
    return Path(text.split('public-key = "')[1].split('"')[0])


def _resum(dist: Path, name: str) -> None:
    """Give a rewritten file its new digest in SHA256SUMS: only the deeper check can then catch it."""
    digest = hashlib.sha256((dist / name).read_bytes()).hexdigest()
    lines = [f"{digest}  {name}" if line.endswith(f"  {name}") else line
             for line in (dist / "SHA256SUMS").read_text().splitlines()]
    (dist / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    manifest = json.loads((dist / "manifest.json").read_text())
    for a in manifest["artifacts"]:
        if a["path"] == name:
            a["sha256"] = digest
    (dist / "manifest.json").write_text(json.dumps(manifest))


def test_verify_catches_provenance_and_sboms_that_disagree(released: Released, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    shutil.copytree(released.dist, dist)
    doc = json.loads((dist / "provenance.intoto.json").read_text())
    doc["subject"][0]["digest"]["sha256"] = "0" * 64
    (dist / "provenance.intoto.json").write_text(json.dumps(doc))
    _resum(dist, "provenance.intoto.json")
    sbom = json.loads((dist / f"sc-cli-1.4.0-{X86}.cdx.json").read_text())
    sbom["metadata"]["component"]["components"][0]["hashes"][0]["content"] = "1" * 64
    (dist / f"sc-cli-1.4.0-{X86}.cdx.json").write_text(json.dumps(sbom))
    _resum(dist, f"sc-cli-1.4.0-{X86}.cdx.json")
    done = invoke("verify", "--directory", str(dist), cwd=released.root, env=released.env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "bad-provenance" in done.stdout and "digest differs from SHA256SUMS" in done.stdout
    assert "bad-sbom" in done.stdout and "Traceback" not in done.stderr


def test_provenance_in_github_actions_names_the_workflow(released: Released, tmp_path: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(released.root, root)
    ci = {"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/sc",
          "GITHUB_WORKFLOW_REF": "acme/sc/.github/workflows/release.yml@refs/tags/v1.4.0", "GITHUB_REF": "refs/tags/v1.4.0",
          "GITHUB_RUN_ID": "42", "GITHUB_RUN_ATTEMPT": "1", "GITHUB_EVENT_NAME": "push", "GITHUB_TOKEN": "ghs_secret"}
    done = invoke("provenance", cwd=root, env={**released.env, **ci})
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads((root / "dist/provenance.intoto.json").read_text())
    run = doc["predicate"]["runDetails"]
    assert run["builder"]["id"] == "https://github.com/acme/sc/.github/workflows/release.yml@refs/tags/v1.4.0"
    assert run["metadata"]["invocationId"] == "https://github.com/acme/sc/actions/runs/42/attempts/1"
    assert doc["predicate"]["buildDefinition"]["externalParameters"]["workflow"]["path"] == ".github/workflows/release.yml"
    assert "ghs_secret" not in (root / "dist/provenance.intoto.json").read_text()


def test_rerun_changes_nothing(released: Released) -> None:
    before = {p.name: p.read_bytes() for p in released.dist.iterdir() if p.is_file()}
    done = invoke("release", "--no-publish", cwd=released.root, env=released.env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert {p.name: p.read_bytes() for p in released.dist.iterdir() if p.is_file()} == before


HOST_ONLY = f"""[project]
crate = "."

[defaults]
smoke-expect = "sc-cli 1.4.0 common"

[targets.{X86}]
builder = "cargo"

[channels.pypi]

[sbom]

[provenance]
"""


def _evidence(dist: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in dist.iterdir()
            if p.name.endswith((".cdx.json", ".whl")) or p.name == "provenance.intoto.json"}


def test_two_checkouts_at_different_paths_give_identical_sbom_provenance_and_wheel(tmp_path: Path) -> None:
    """The same commit released from two checkouts (a clone, whose origin is the first one's path),
    each with its own cargo target dir: the SBOM, the provenance and the wheel are the same bytes,
    and no path of either machine directory is in them or in any file inside the wheel."""
    first = write_files(tmp_path / "here" / "p", {**FILES, "targets.toml": HOST_ONLY})
    git_commit(first)
    second = tmp_path / "elsewhere" / "deeper" / "clone"
    subprocess.run(["git", "clone", "-q", str(first), str(second)], check=True)
    for root, target in ((first, tmp_path / "target-one"), (second, tmp_path / "target-two")):
        done = invoke("release", "--no-publish", cwd=root, env={"CARGO_TARGET_DIR": str(target)})
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    one, two = _evidence(first / "dist"), _evidence(second / "dist")
    assert sorted(one) == sorted(two) and len(one) == 3, sorted(one)
    differing = [n for n in one if one[n] != two[n]]
    assert not differing, f"not reproducible: {differing}"
    wheel = next(n for n in one if n.endswith(".whl"))
    with zipfile.ZipFile(first / "dist" / wheel) as zf:
        blobs = {**one, **{f"{wheel}:{m}": zf.read(m) for m in zf.namelist()}}
    for name, blob in blobs.items():
        for machine in (first, second, tmp_path):
            assert str(machine).encode() not in blob, f"{name} holds {machine}"
        assert b"file://" not in blob, name
