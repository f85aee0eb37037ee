"""Signed parts ([ci] part-key): a part manifest signed with a real minisign key (the minisign
binary the release signing uses), checked by the merge before it is parsed. A part that is
unsigned, signed by another key, or rewritten together with its files (the old signature kept)
is refused naming the part, and dist/ stays as it was; without a key the merge says the parts are
unauthenticated. [ci]'s boundary: did-you-mean and hostile values. No Rust: the config comes from
`config.parse` with a stand-in for `cargo metadata`."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_pipeline import Recorder, fake_metadata
from wavrybuild.ci.merge import MergeError, MergeStage, part_name, write_part_manifest
from wavrybuild.ci.partsign import SIG_SUFFIX, verify_part
from wavrybuild.ci.storage import StorageError, Where, parse_listing, status_rows
from wavrybuild.config import Config, parse
from wavrybuild.config.ci import PartPublicKey
from wavrybuild.env import Settings
from wavrybuild.errors import ConfigError, WavryError
from wavrybuild.pipeline.stage import Run, execute

TARGET = "x86_64-unknown-linux-musl"
ARCHIVE = "demo-1.2.3-x86_64-unknown-linux-musl.tar.gz"
PAYLOAD = b"archive bytes\n"
PASS = "part-pass-7d1e0c"  # never printed: the part job reads it from the environment


@dataclass(frozen=True)
class Key:
    secret: Path
    public: Path

    @property
    def line(self) -> str:
        return self.public.read_text().splitlines()[-1].strip()


def _keypair(d: Path, name: str, *, locked: bool = False) -> Key:
    key = Key(d / f"{name}.key", d / f"{name}.pub")
    # minisign reads the new key's password twice from stdin. Unlocked keys (-W) skip scrypt, which
    # takes seconds per signature on this machine; one locked key proves the passphrase path.
    done = subprocess.run(["minisign", "-G", *([] if locked else ["-W"]), "-p", str(key.public), "-s", str(key.secret)],
                          input=f"{PASS}\n{PASS}\n", capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return key


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Key, Key]:
    d = tmp_path_factory.mktemp("keys")
    return _keypair(d, "parts"), _keypair(d, "other")


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Key:
    return _keypair(tmp_path_factory.mktemp("locked"), "locked", locked=True)


def _config(root: Path, ci: dict[str, Any] | None, signing: Key | None = None) -> Config:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    data: dict[str, Any] = {"targets": {TARGET: {}}}
    if ci is not None:
        data["ci"] = ci
    if signing is not None:
        data["sign"] = {"minisign": {"key": str(signing.secret), "public-key": str(signing.public)}}
    return parse(root / "targets.toml", data, fake_metadata, Settings())


def _manifest(payload: bytes = PAYLOAD) -> dict[str, Any]:
    return {"schema": 1, "crate": "demo", "name": "demo", "version": "1.2.3", "git": {}, "source_date_epoch": 1,
            "source_date_epoch_from": "test", "tools": {},
            "artifacts": [{"target": TARGET, "triple": TARGET, "kind": "archive", "format": "tar.gz", "path": ARCHIVE,
                           "size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}]}


def _signed_part(tmp_path: Path, signing: Key, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A part job's dist/: the archive, manifest.json, and the part manifest signed by write_part_manifest."""
    monkeypatch.setenv("WAVRYBUILD_MINISIGN_PASSPHRASE", PASS)
    job = _config(tmp_path / "job", {"part-key": "minisign", "part-public-key": str(signing.public)}, signing)
    dist = job.project.dist_dir
    dist.mkdir(parents=True)
    (dist / ARCHIVE).write_bytes(PAYLOAD)
    (dist / "manifest.json").write_text(json.dumps(_manifest()))
    part = write_part_manifest(job, job.targets)
    assert part.name == part_name(job.targets)
    return dist, part


def _merge(cfg: Config, parts: Path) -> Recorder:
    ui = Recorder()
    run = Run(cfg, ui, cfg.targets)
    execute(run, MergeStage(parts).steps(run, None))
    return ui


def _refused(cfg: Config, parts: Path) -> str:
    with pytest.raises(MergeError) as exc:
        _merge(cfg, parts)
    dist = cfg.project.dist_dir
    assert not dist.exists() or not [p for p in dist.iterdir() if p.name != ".wavrybuild"]
    return str(exc.value)


# --- sign and verify ------------------------------------------------------------------------------


def test_a_part_job_signs_its_manifest_and_the_key_verifies_it(tmp_path: Path, keys: tuple[Key, Key], locked: Key,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capfd: pytest.CaptureFixture[str]) -> None:
    """With a passphrase-protected key, the passphrase from WAVRYBUILD_MINISIGN_PASSPHRASE."""
    ours, other = locked, keys[1]
    _dist, part = _signed_part(tmp_path, ours, monkeypatch)
    sig = part.with_name(part.name + SIG_SUFFIX)
    data, signature = part.read_bytes(), sig.read_bytes()
    # minisign itself agrees, with the file and with the key written out.
    done = subprocess.run(["minisign", "-V", "-p", str(ours.public), "-m", str(part), "-x", str(sig)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert verify_part(part.name, data, signature, PartPublicKey(file=ours.public)) is None
    assert verify_part(part.name, data, signature, PartPublicKey(key=ours.line)) is None  # type: ignore[arg-type]
    # Another key, other bytes, no signature: each says why.
    why = verify_part(part.name, data, signature, PartPublicKey(file=other.public))
    assert why is not None and "does not verify against the minisign public key" in why
    why = verify_part(part.name, data.replace(b"1.2.3", b"1.2.4"), signature, PartPublicKey(file=ours.public))
    assert why is not None and "changed after it was signed" in why
    why = verify_part(part.name, data, None, PartPublicKey(file=ours.public))
    assert why is not None and "not signed" in why
    said = capfd.readouterr()
    assert PASS not in said.out + said.err


def test_a_new_manifest_never_keeps_an_old_signature(tmp_path: Path, keys: tuple[Key, Key],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    dist, _part = _signed_part(tmp_path, keys[0], monkeypatch)
    cfg = _config(tmp_path / "unsigned-job", None)
    # A job without [ci] part-key writing the same part name over a signed one leaves no signature.
    (cfg.project.dist_dir).mkdir(parents=True)
    shutil.copytree(dist, cfg.project.dist_dir, dirs_exist_ok=True)
    again = write_part_manifest(cfg, cfg.targets)
    assert again.is_file() and not again.with_name(again.name + SIG_SUFFIX).exists()


def test_wrong_passphrase_fails_without_printing_it(tmp_path: Path, locked: Key,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAVRYBUILD_MINISIGN_PASSPHRASE", "not-the-pass-91c3")
    job = _config(tmp_path / "job", {"part-key": "minisign", "part-public-key": str(locked.public)}, locked)
    dist = job.project.dist_dir
    dist.mkdir(parents=True)
    (dist / "manifest.json").write_text(json.dumps(_manifest()))
    with pytest.raises(WavryError) as exc:
        write_part_manifest(job, job.targets)
    assert "not-the-pass-91c3" not in str(exc.value)
    assert not list(dist.glob("*" + SIG_SUFFIX))


# --- the merge ------------------------------------------------------------------------------------


def _parts_from(dist: Path, parts: Path) -> Path:
    shutil.copytree(dist, parts / "job1", ignore=shutil.ignore_patterns(".wavrybuild"))
    return parts / "job1" / f"manifest-part-{TARGET}.json"


def test_a_signed_part_merges_and_no_warning(tmp_path: Path, keys: tuple[Key, Key],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    dist, _part = _signed_part(tmp_path, keys[0], monkeypatch)
    _parts_from(dist, tmp_path / "parts")
    for public in (str(keys[0].public), keys[0].line):
        cfg = _config(tmp_path / f"merger-{len(public)}", {"part-key": "minisign", "part-public-key": public})
        ui = _merge(cfg, tmp_path / "parts")
        assert (cfg.project.dist_dir / ARCHIVE).read_bytes() == PAYLOAD
        assert not [t for kind, t in ui.lines if kind == "warn"], ui.lines


def test_without_a_key_the_merge_says_the_parts_are_unauthenticated(tmp_path: Path, keys: tuple[Key, Key],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    dist, _part = _signed_part(tmp_path, keys[0], monkeypatch)
    _parts_from(dist, tmp_path / "parts")
    for ci in (None, {}):
        cfg = _config(tmp_path / f"merger-{ci is None}", ci)
        ui = _merge(cfg, tmp_path / "parts")
        warnings = [t for kind, t in ui.lines if kind == "warn"]
        assert any("the parts are unauthenticated" in w and "[ci] part-key" in w for w in warnings), ui.lines


def test_an_unsigned_part_is_refused_when_a_key_is_configured(tmp_path: Path, keys: tuple[Key, Key],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    dist, _part = _signed_part(tmp_path, keys[0], monkeypatch)
    part = _parts_from(dist, tmp_path / "parts")
    part.with_name(part.name + SIG_SUFFIX).unlink()
    cfg = _config(tmp_path / "merger", {"part-key": "minisign", "part-public-key": str(keys[0].public)})
    said = _refused(cfg, tmp_path / "parts")
    assert f"{part}: not signed (no {part.name}{SIG_SUFFIX})" in said, said


def test_a_part_signed_by_another_key_is_refused(tmp_path: Path, keys: tuple[Key, Key],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ours, other = keys
    dist, _part = _signed_part(tmp_path, other, monkeypatch)
    part = _parts_from(dist, tmp_path / "parts")
    cfg = _config(tmp_path / "merger", {"part-key": "minisign", "part-public-key": ours.line})
    said = _refused(cfg, tmp_path / "parts")
    assert f"{part}: its signature {part.name}{SIG_SUFFIX} does not verify against the minisign key {ours.line}" \
        in said, said


def test_a_coordinated_tamper_is_refused(tmp_path: Path, keys: tuple[Key, Key],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The artifact, its digest and the part manifest rewritten together, the old signature kept:
    every check but the signature passes (the same tamper merges when no key is configured)."""
    dist, _part = _signed_part(tmp_path, keys[0], monkeypatch)
    part = _parts_from(dist, tmp_path / "parts")
    evil = b"#!/bin/sh\necho owned\n"
    (part.parent / ARCHIVE).write_bytes(evil)
    for name in (part.name, "manifest.json"):
        (part.parent / name).write_text(json.dumps(_manifest(evil)))
    cfg = _config(tmp_path / "merger", {"part-key": "minisign", "part-public-key": str(keys[0].public)})
    said = _refused(cfg, tmp_path / "parts")
    assert f"{part}: its signature {part.name}{SIG_SUFFIX} does not verify" in said, said
    assert "changed after it was signed" in said
    unauthenticated = _config(tmp_path / "trusting", None)
    _merge(unauthenticated, tmp_path / "parts")
    assert (unauthenticated.project.dist_dir / ARCHIVE).read_bytes() == evil


def test_a_signature_through_a_link_is_refused(tmp_path: Path, keys: tuple[Key, Key],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    dist, _part = _signed_part(tmp_path, keys[0], monkeypatch)
    part = _parts_from(dist, tmp_path / "parts")
    sig = part.with_name(part.name + SIG_SUFFIX)
    sig.rename(tmp_path / "elsewhere.minisig")
    sig.symlink_to(tmp_path / "elsewhere.minisig")
    cfg = _config(tmp_path / "merger", {"part-key": "minisign", "part-public-key": str(keys[0].public)})
    said = _refused(cfg, tmp_path / "parts")
    assert str(part) in said and "not read" in said, said


# --- [ci] at the boundary -------------------------------------------------------------------------


def test_ci_config_reads_a_key_or_its_file(tmp_path: Path, keys: tuple[Key, Key]) -> None:
    cfg = _config(tmp_path / "a", {"part-key": "minisign", "part-public-key": keys[0].line})
    assert cfg.ci is not None and cfg.ci.part_public_key == PartPublicKey(key=keys[0].line)  # type: ignore[arg-type]
    cfg = _config(tmp_path / "b", {"part-key": "minisign", "part-public-key": "keys/parts.pub"})
    assert cfg.ci is not None and cfg.ci.part_public_key is not None
    assert cfg.ci.part_public_key.file == (tmp_path / "b/keys/parts.pub").resolve()


SECRET_KEY_LINE = "RWRTY0IyEXAMPLEsecretKEYbase64" + "A" * 120  # the shape of a secret key's base64 line


@pytest.mark.parametrize(("ci", "expected"), [
    ({"part-kee": "minisign"}, "ci.part-kee: unknown key; did you mean 'part-key'?"),
    ({"part-public-keys": "k.pub"}, "ci.part-public-keys: unknown key; did you mean 'part-public-key'?"),
    ({"part-key": "minsign", "part-public-key": "k.pub"}, "ci.part-key: expected one of 'minisign' (did you mean 'minisign'?)"),
    ({"part-key": 1, "part-public-key": "k.pub"}, "ci.part-key: expected one of 'minisign'"),
    ({"part-key": "minisign"}, "ci.part-public-key: missing"),
    ({"part-public-key": "k.pub"}, "ci.part-key: missing"),
    ({"part-key": "minisign", "part-public-key": SECRET_KEY_LINE}, "ci.part-public-key: not a minisign public key"),
    ({"part-key": "minisign", "part-public-key": "RW" + "A" * 53}, "ci.part-public-key: not a minisign public key"),
    ({"part-key": "minisign", "part-public-key": "untrusted comment: minisign public key\nRW" + "A" * 54},
     "ci.part-public-key: holds a key file's text"),
    ({"part-key": "minisign", "part-public-key": ""}, "ci.part-public-key: expected a minisign public key"),
    ({"part-key": "minisign", "part-public-key": ["k.pub"]}, "ci.part-public-key: expected a minisign public key"),
    ({"part-key": "minisign", "part-public-key": "k\0.pub"}, "ci.part-public-key: expected"),
    ({"part-key": "minisign", "part-password": "hunter2"}, "ci.part-password: secrets never go in targets.toml"),
    ("minisign", "ci: expected a table"),
])
def test_hostile_ci_values_are_one_clear_error(tmp_path: Path, ci: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        _config(tmp_path, ci)
    said = str(exc.value) + (exc.value.hint or "")
    assert f"{tmp_path / 'targets.toml'}: {expected}" in said, said
    assert SECRET_KEY_LINE not in said and "hunter2" not in said


def test_a_part_signature_is_a_name_a_stored_part_can_have() -> None:
    """The listing of a commit's parts takes `manifest-part-*.json.minisig` beside its manifest;
    other names under the reserved prefix stay refused."""
    w = Where("releases", "demo/" + "a" * 40)

    def obj(name: str) -> dict[str, Any]:
        return {"Key": f"{w.prefix}/job1/{name}", "Size": 10}

    found = parse_listing(w, [obj("manifest-part-x.json"), obj("manifest-part-x.json" + SIG_SUFFIX)])
    assert sorted(o.name for o in found["job1"]) == ["manifest-part-x.json", "manifest-part-x.json" + SIG_SUFFIX]
    assert status_rows({"job1": [o for o in found["job1"] if o.name.endswith(SIG_SUFFIX)]})[0][2].startswith("incomplete")
    for bad in ("manifest-part-x.json.evil", "manifest-part-x.minisig", "manifest-part-x.json.minisig.json.x"):
        with pytest.raises(StorageError):
            parse_listing(w, [obj(bad)])
