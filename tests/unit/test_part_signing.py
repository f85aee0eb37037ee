"""Signed parts ([ci] part-key): a part manifest signed with a real minisign key (the minisign
binary the release signing uses), checked by the merge before it is parsed. A part that is
unsigned, signed by another key, or rewritten together with its files (the old signature kept)
is refused naming the part, and dist/ stays as it was; without a key the merge says the parts are
unauthenticated. A validly signed part of another commit (replayed) is refused; the release job
reads nothing of a part (its crate record) before its signature verifies. Sigstore keyless parts:
the exact commands, the token only in sigstore's environment, and the merge's refusals, with a
stand-in for the sigstore CLI (Sigstore cannot be reached from here). [ci]'s boundary:
did-you-mean and hostile values. No Rust: the config comes from `config.parse` with a stand-in
for `cargo metadata`; every project is a git checkout (parts are bound to its commit)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git_commit
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


def _config(root: Path, ci: dict[str, Any] | None, signing: Key | None = None, *, other_commit: bool = False,
            sign: dict[str, Any] | None = None) -> Config:
    """A project in a git checkout: every one made here is at the same commit (same files, same
    time), unless other_commit."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    if other_commit:
        (root / "CHANGELOG.md").write_text("a later commit\n")
    if not (root / ".git").exists():
        git_commit(root)
    data: dict[str, Any] = {"targets": {TARGET: {}}}
    if ci is not None:
        data["ci"] = ci
    if signing is not None:
        data["sign"] = {"minisign": {"key": str(signing.secret), "public-key": str(signing.public)}}
    if sign is not None:
        data["sign"] = sign
    return parse(root / "targets.toml", data, fake_metadata, Settings())


def _commit(root: Path) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                          check=True).stdout.strip()


def _manifest(payload: bytes = PAYLOAD, commit: str | None = None) -> dict[str, Any]:
    git = {"commit": commit} if commit else {}
    return {"schema": 1, "crate": "demo", "name": "demo", "version": "1.2.3", "git": git, "source_date_epoch": 1,
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
    (dist / "manifest.json").write_text(json.dumps(_manifest(commit=_commit(tmp_path / "job"))))
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
        (part.parent / name).write_text(json.dumps(_manifest(evil, _commit(tmp_path / "job"))))
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


# --- bound to the release ---------------------------------------------------------------------------


def test_a_signed_part_of_another_commit_is_refused(tmp_path: Path, keys: tuple[Key, Key],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A part validly signed at commit A, copied into the parts of a merge at commit B: the
    signature verifies, the commit it binds does not."""
    dist, _part = _signed_part(tmp_path, keys[0], monkeypatch)
    part = _parts_from(dist, tmp_path / "parts")
    made = _commit(tmp_path / "job")
    ci = {"part-key": "minisign", "part-public-key": str(keys[0].public)}
    later = _config(tmp_path / "merger", ci, other_commit=True)
    now = _commit(tmp_path / "merger")
    assert now != made
    said = _refused(later, tmp_path / "parts")
    assert f"{part}: was made for commit {made}, and this merge is at commit {now}" in said, said
    # The same part merges at its own commit; and a merge outside any git checkout binds nothing.
    _merge(_config(tmp_path / "same", ci), tmp_path / "parts")
    nowhere = _config(tmp_path / "plain", ci)
    shutil.rmtree(tmp_path / "plain/.git")
    said = _refused(nowhere, tmp_path / "parts")
    assert f"{part}: cannot be bound to a release: this merge does not run in a git checkout" in said, said


def test_a_signed_part_of_another_version_is_refused(tmp_path: Path, keys: tuple[Key, Key],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Same commit, but the merge releases another version (its config says 1.2.4): the part,
    signed for demo 1.2.3, is refused naming the part and both."""
    dist, _part = _signed_part(tmp_path, keys[0], monkeypatch)
    part = _parts_from(dist, tmp_path / "parts")
    cfg = _config(tmp_path / "merger", {"part-key": "minisign", "part-public-key": str(keys[0].public)})

    def newer(manifest: Path) -> dict[str, Any]:
        meta = fake_metadata(manifest)
        meta["packages"][0]["version"] = "1.2.4"
        return meta

    cfg = parse(cfg.project.config_path, {"targets": {TARGET: {}}, "ci": {"part-key": "minisign",
                "part-public-key": str(keys[0].public)}}, newer, Settings())
    assert cfg.project.version == "1.2.4"
    said = _refused(cfg, tmp_path / "parts")
    assert f"{part}: was made for demo 1.2.3, and this merge releases demo 1.2.4" in said, said


def test_a_signed_part_that_records_no_commit_is_refused(tmp_path: Path, keys: tuple[Key, Key],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAVRYBUILD_MINISIGN_PASSPHRASE", PASS)
    ci = {"part-key": "minisign", "part-public-key": str(keys[0].public)}
    job = _config(tmp_path / "job", ci, keys[0])
    dist = job.project.dist_dir
    dist.mkdir(parents=True)
    (dist / ARCHIVE).write_bytes(PAYLOAD)
    (dist / "manifest.json").write_text(json.dumps(_manifest()))  # made outside a checkout: no commit
    write_part_manifest(job, job.targets)
    part = _parts_from(dist, tmp_path / "parts")
    said = _refused(_config(tmp_path / "merger", ci), tmp_path / "parts")
    assert f"{part}: records no commit" in said, said


def test_the_release_job_reads_nothing_of_a_part_before_its_signature(tmp_path: Path, keys: tuple[Key, Key],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The crate record is read from the first part before the config is loaded: a hostile record
    under a wrong signature is refused for the signature, naming the part, and never parsed."""
    from wavrybuild.ci import parts as parts_module
    from wavrybuild.ci.recorded import load_release_job

    root = tmp_path / "p"
    root.mkdir()
    (root / "targets.toml").write_text(f'[targets.{TARGET}]\n\n[ci]\npart-key = "minisign"\n'
                                       f'part-public-key = "{keys[0].line}"\n')
    git_commit(root)
    hostile = b'{"schema": 1, "crate": "demo", "packages": {"demo": {"manifest": "../../../etc/passwd"' + b"[" * 5000
    part = tmp_path / "parts/job1" / f"manifest-part-{TARGET}.json"
    part.parent.mkdir(parents=True)
    part.write_bytes(hostile)
    # Signed, but by another key than [ci]'s.
    done = subprocess.run(["minisign", "-S", "-s", str(keys[1].secret), "-m", str(part)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr

    def never(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("a part was parsed before its signature verified")

    monkeypatch.setattr(parts_module, "strict_json", never)
    monkeypatch.setattr(parts_module, "parse_manifest", never)
    with pytest.raises(MergeError) as exc:
        load_release_job(root / "targets.toml", tmp_path / "parts")
    said = str(exc.value)
    assert f"{part}: its signature {part.name}{SIG_SUFFIX} does not verify against the minisign key" in said, said
    # Without a signature at all: the same, for want of one.
    part.with_name(part.name + SIG_SUFFIX).unlink()
    with pytest.raises(MergeError, match=r"not signed \(no manifest-part-"):
        load_release_job(root / "targets.toml", tmp_path / "parts")


# --- Sigstore keyless parts (a stand-in for the sigstore CLI) ---------------------------------------

IDENTITY = "https://github.com/o/r/.github/workflows/release.yml@refs/heads/main"
ISSUER = "https://token.actions.githubusercontent.com"
TOKEN = "oidc:" + IDENTITY  # what the stand-in "issues" its certificate for

# A stand-in for the sigstore CLI, because Fulcio and Rekor cannot be reached from this machine. It
# logs each call (argv, and the token it was given in its environment); `sign` writes a "bundle"
# holding the subject's sha256 and the identity its token names; `verify identity` exits 1 unless the
# subject's sha256 and --cert-identity / --cert-oidc-issuer are the bundle's, or when the file
# `fail` beside it exists (a verification the real sigstore refuses for its own reasons).
SHIM = r"""#!{python}
import hashlib, json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
args = sys.argv[1:]
with open(os.path.join(here, "log.jsonl"), "a") as log:
    log.write(json.dumps({{"argv": args, "token": os.environ.get("SIGSTORE_IDENTITY_TOKEN")}}) + "\n")
subject = args[-1]
digest = hashlib.sha256(open(subject, "rb").read()).hexdigest()
bundle = args[args.index("--bundle") + 1]
if args[0] == "sign":
    token = os.environ.get("SIGSTORE_IDENTITY_TOKEN", "")
    with open(bundle, "w") as f:
        json.dump({{"sha256": digest, "identity": token.removeprefix("oidc:"), "issuer": "{issuer}"}}, f)
    sys.exit(0)
b = json.load(open(bundle))
if os.path.exists(os.path.join(here, "fail")):
    print("Error: the transparency log entry could not be verified", file=sys.stderr)
    sys.exit(1)
if b["sha256"] != digest:
    print("Error: signature does not match the input", file=sys.stderr)
    sys.exit(1)
if (b["identity"], b["issuer"]) != (args[args.index("--cert-identity") + 1], args[args.index("--cert-oidc-issuer") + 1]):
    print("Error: certificate identity mismatch", file=sys.stderr)
    sys.exit(1)
print("OK: " + subject)
"""


@pytest.fixture
def sigstore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import sys

    d = tmp_path / "sigstore-stand-in"
    d.mkdir()
    shim = d / "sigstore"
    shim.write_text(SHIM.format(python=sys.executable, issuer=ISSUER))
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{d}:{__import__('os').environ['PATH']}")
    for name in ("SIGSTORE_IDENTITY_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return d


@pytest.fixture(autouse=True)
def _verified_afresh() -> None:
    """Each test starts with no verification remembered (partsign remembers successes per process:
    the tests here reuse identical parts, and the stand-in's verdict changes from test to test)."""
    from wavrybuild.ci import partsign

    partsign._VERIFIED.clear()


def _calls(d: Path) -> list[dict[str, Any]]:
    log = d / "log.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


SIGSTORE_CI = {"part-key": "sigstore"}
SIGSTORE_SIGN = {"sigstore": {"identity": IDENTITY, "issuer": ISSUER, "token-env": "PART_OIDC_TOKEN"}}


def _sigstore_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: str = TOKEN) -> tuple[Path, Path]:
    monkeypatch.setenv("PART_OIDC_TOKEN", token)
    job = _config(tmp_path / "job", SIGSTORE_CI, sign=SIGSTORE_SIGN)
    dist = job.project.dist_dir
    dist.mkdir(parents=True, exist_ok=True)
    (dist / ARCHIVE).write_bytes(PAYLOAD)
    (dist / "manifest.json").write_text(json.dumps(_manifest(commit=_commit(tmp_path / "job"))))
    return dist, write_part_manifest(job, job.targets)


def test_a_sigstore_part_job_signs_with_its_oidc_token_in_the_environment_only(
        tmp_path: Path, sigstore: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    # No identity to sign with: refused before sigstore starts.
    job = _config(tmp_path / "job", SIGSTORE_CI, sign=SIGSTORE_SIGN)
    dist = job.project.dist_dir
    dist.mkdir(parents=True)
    (dist / "manifest.json").write_text(json.dumps(_manifest(commit=_commit(tmp_path / "job"))))
    with pytest.raises(WavryError, match="sigstore: no OIDC identity here to sign with"):
        write_part_manifest(job, job.targets)
    assert _calls(sigstore) == [] and not list(dist.glob("*.sigstore.json"))
    # With a token in token-env: one `sigstore sign`, the bundle beside the part manifest.
    dist, part = _sigstore_part(tmp_path, monkeypatch)
    bundle = part.with_name(part.name + ".sigstore.json")
    assert bundle.is_file() and not part.with_name(part.name + SIG_SUFFIX).exists()
    [call] = _calls(sigstore)
    tmp_bundle = call["argv"][3]
    assert call["argv"] == ["sign", "--overwrite", "--bundle", tmp_bundle, str(part)], call
    assert Path(tmp_bundle).name == bundle.name and Path(tmp_bundle).parent != dist  # made aside, then moved in
    assert call["token"] == TOKEN and all(TOKEN not in a for a in call["argv"])
    said = capfd.readouterr()
    assert TOKEN not in said.out + said.err


def test_a_sigstore_part_merges_after_sigstore_verify_on_the_bytes_it_parses(
        tmp_path: Path, sigstore: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist, part = _sigstore_part(tmp_path, monkeypatch)
    _parts_from(dist, tmp_path / "parts")
    cfg = _config(tmp_path / "merger", SIGSTORE_CI, sign=SIGSTORE_SIGN)
    ui = _merge(cfg, tmp_path / "parts")
    assert (cfg.project.dist_dir / ARCHIVE).read_bytes() == PAYLOAD
    assert not [t for kind, t in ui.lines if kind == "warn"], ui.lines
    verify = [c["argv"] for c in _calls(sigstore) if c["argv"][0] == "verify"]
    assert verify, _calls(sigstore)
    argv = verify[-1]
    assert argv[:3] == ["verify", "identity", "--bundle"]
    assert argv[4:9] == ["--cert-identity", IDENTITY, "--cert-oidc-issuer", ISSUER, argv[-1]]
    # The subject verified is a private copy of exactly the part manifest's bytes (gone afterwards).
    assert Path(argv[-1]).parent != part.parent and not Path(argv[-1]).exists()


def test_sigstore_parts_are_refused_naming_the_part(tmp_path: Path, sigstore: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    dist, _part = _sigstore_part(tmp_path, monkeypatch)
    part = _parts_from(dist, tmp_path / "parts")
    bundle = part.with_name(part.name + ".sigstore.json")
    cfg = _config(tmp_path / "merger", SIGSTORE_CI, sign=SIGSTORE_SIGN)
    # The verify command fails (the stand-in exits 1, as sigstore does when it refuses).
    (sigstore / "fail").touch()
    said = _refused(cfg, tmp_path / "parts")
    assert (f"{part}: its bundle {bundle.name} does not verify for the Sigstore identity {IDENTITY} (issuer {ISSUER})"
            in said), said
    assert "transparency log entry could not be verified" in said
    (sigstore / "fail").unlink()
    # A coordinated tamper: the archive, its digest and the manifest rewritten, the bundle kept.
    evil = b"#!/bin/sh\necho owned\n"
    (part.parent / ARCHIVE).write_bytes(evil)
    original = part.read_bytes()
    part.write_text(json.dumps(_manifest(evil, _commit(tmp_path / "job"))))
    said = _refused(cfg, tmp_path / "parts")
    assert f"{part}: its bundle {bundle.name} does not verify" in said and "does not match the input" in said, said
    (part.parent / ARCHIVE).write_bytes(PAYLOAD)
    part.write_bytes(original)
    # No bundle.
    bundle.unlink()
    said = _refused(cfg, tmp_path / "parts")
    assert f"{part}: not signed (no {bundle.name}), and [ci] part-key requires a signature by the Sigstore identity" \
        in said, said
    # Signed by another identity (another workflow's token).
    shutil.rmtree(tmp_path / "parts")
    shutil.rmtree(dist)
    dist, _part = _sigstore_part(tmp_path, monkeypatch, token="oidc:https://github.com/o/r/.github/workflows/evil.yml@refs/heads/x")
    _parts_from(dist, tmp_path / "parts")
    said = _refused(cfg, tmp_path / "parts")
    assert f"{part}: its bundle {bundle.name} does not verify" in said and "identity mismatch" in said, said


def test_a_sigstore_bundle_is_never_taken_for_a_part() -> None:
    from wavrybuild.ci.parts import is_part_name

    assert is_part_name("manifest-part-x.json") and not is_part_name("manifest-part-x.json.sigstore.json")
    w = Where("releases", "demo/" + "a" * 40)
    found = parse_listing(w, [{"Key": f"{w.prefix}/job1/manifest-part-x.json.sigstore.json", "Size": 10}])
    assert status_rows(found)[0][2].startswith("incomplete")


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
    ({"part-key": "minsign", "part-public-key": "k.pub"}, "ci.part-key: expected one of 'minisign', 'sigstore' (did you mean 'minisign'?)"),
    ({"part-key": "sigstor"}, "ci.part-key: expected one of 'minisign', 'sigstore' (did you mean 'sigstore'?)"),
    ({"part-key": 1, "part-public-key": "k.pub"}, "ci.part-key: expected one of 'minisign', 'sigstore'"),
    ({"part-key": ["sigstore"]}, "ci.part-key: expected one of 'minisign', 'sigstore'"),
    ({"part-key": "sigstore", "part-public-key": "k.pub"}, "ci.part-public-key: not used with part-key = \"sigstore\""),
    ({"part-key": "sigstore"}, "ci.part-key = \"sigstore\": sign.sigstore.identity and sign.sigstore.issuer missing"),
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


@pytest.mark.parametrize(("sign", "expected"), [
    ({"sigstore": {"issuer": ISSUER}}, "ci.part-key = \"sigstore\": sign.sigstore.identity missing"),
    ({"sigstore": {"identity": IDENTITY}}, "ci.part-key = \"sigstore\": sign.sigstore.issuer missing"),
    ({"sigstore": {"identity": IDENTITY, "issuer": "https://user:pw@issuer"}}, "sign.sigstore.issuer: expected"),
    ({"sigstore": {"identity": "a\nb", "issuer": ISSUER}}, "sign.sigstore.identity: expected a single line"),
])
def test_sigstore_parts_need_an_identity_and_issuer(tmp_path: Path, sign: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        _config(tmp_path, SIGSTORE_CI, sign=sign)
    said = str(exc.value)
    assert f"{tmp_path / 'targets.toml'}: {expected}" in said, said
    assert "pw@" not in said


def test_sigstore_part_trust_is_the_sign_stage_identity(tmp_path: Path) -> None:
    from wavrybuild.ci.partsign import trust
    from wavrybuild.config.ci import PartIdentity

    cfg = _config(tmp_path, SIGSTORE_CI, sign=SIGSTORE_SIGN)
    assert trust(cfg) == PartIdentity(IDENTITY, ISSUER)  # type: ignore[arg-type]


def test_the_same_part_bytes_are_verified_once_and_a_refusal_is_never_remembered(
        tmp_path: Path, sigstore: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A release job reads a part's manifest up to three times (storage, its crate record, the merge):
    sigstore verifies the same bytes under the same identity once; other bytes are verified again, and
    a refusal is decided afresh every time."""
    from wavrybuild.ci.partsign import trust

    _dist, part = _sigstore_part(tmp_path, monkeypatch)
    key = trust(_config(tmp_path / "merger", SIGSTORE_CI, sign=SIGSTORE_SIGN))
    assert key is not None
    data, bundle = part.read_bytes(), part.with_name(part.name + ".sigstore.json").read_bytes()

    def verifies() -> int:
        return sum(1 for c in _calls(sigstore) if c["argv"][0] == "verify")

    assert verify_part(part.name, data, bundle, key) is None
    assert verify_part(part.name, data, bundle, key) is None
    assert verifies() == 1
    # Other bytes under the same bundle: verified (and refused), and refused again on a second read.
    changed = data.replace(b"1.2.3", b"1.2.4")
    assert changed != data
    for n in (2, 3):
        why = verify_part(part.name, changed, bundle, key)
        assert why is not None and "does not match the input" in why, why
        assert verifies() == n
