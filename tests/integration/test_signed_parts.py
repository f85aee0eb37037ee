"""Signed parts through a real S3-compatible server (SeaweedFS, as test_storage.py): a part job
built for the host target signs its part manifest with a real minisign key (the key from
WAVRYBUILD_MINISIGN_KEY, its passphrase from the environment, never printed) and uploads the
signature with the part; a checkout with the public key in [ci] merges it from storage. Then the
bucket is tampered with as its writer could — the archive, the sha256 stored with it and the part
manifest rewritten together, the old signature kept — and the merge refuses, naming the part,
with dist/ as it was; the untouched signed part replayed under another commit's prefix is refused
by a checkout at that commit; the same checkout without [ci] would merge the tamper and says the
parts are unauthenticated."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import git_commit, invoke, write_project
from tests.integration.test_storage import ACCESS, SECRET, _commit, _env, _toml, s3  # noqa: F401 (the fixture)

HOST = "x86_64-unknown-linux-gnu"
PASS = "signed-parts-pass-5b2e"
ARCHIVE = f"wavry-demo-0.1.0-{HOST}.tar.gz"
PART = f"manifest-part-{HOST}.json"
pytestmark = pytest.mark.integration


def _key(d: Path) -> str:
    d.mkdir(parents=True)
    done = subprocess.run(["minisign", "-G", "-p", str(d / "parts.pub"), "-s", str(d / "parts.key")],
                          input=f"{PASS}\n{PASS}\n", capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return (d / "parts.pub").read_text().splitlines()[-1].strip()


def _client(url: str):  # type: ignore[no-untyped-def]
    import boto3

    return boto3.client("s3", endpoint_url=url, aws_access_key_id=ACCESS, aws_secret_access_key=SECRET,
                        region_name="us-east-1")


def _put(client, key: str, body: bytes) -> None:  # type: ignore[no-untyped-def]
    """An object with the sha256 metadata a part's upload keeps (as the bucket's writer can set it)."""
    client.put_object(Bucket="releases", Key=key, Body=body, Metadata={"sha256": hashlib.sha256(body).hexdigest()})


def _merge_refused(checkout: Path, commit: str) -> str:
    done = invoke("release", "--merge-from-storage", commit, "--no-publish", cwd=checkout, env=_env(checkout),
                  timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "Traceback" not in out
    return out


def test_signed_part_merges_and_a_coordinated_tamper_is_refused(tmp_path: Path, s3: str) -> None:  # noqa: F811
    public = _key(tmp_path / "keys")
    toml = _toml(s3, (HOST,)) + f'\n[ci]\npart-key = "minisign"\npart-public-key = "{public}"\n'
    runner = write_project(tmp_path / "runner", toml)
    git_commit(runner)
    commit = _commit(runner)
    signing = {**_env(runner), "WAVRYBUILD_MINISIGN_KEY": str(tmp_path / "keys/parts.key"),
               "WAVRYBUILD_MINISIGN_PASSPHRASE": PASS}
    done = invoke("release", "--part", "--target", HOST, cwd=runner, env=signing)
    assert done.returncode == 0, done.stdout + done.stderr
    assert PASS not in done.stdout + done.stderr and SECRET not in done.stdout + done.stderr
    prefix = f"demo/{commit}/{HOST}/"
    client = _client(s3)
    listed = {o["Key"].removeprefix(prefix) for o in client.list_objects_v2(Bucket="releases", Prefix=prefix)["Contents"]}
    assert {ARCHIVE, PART, PART + ".minisig"} <= listed, listed
    # minisign itself agrees that the stored part manifest is signed by the key.
    stored = tmp_path / "stored"
    stored.mkdir()
    for name in (PART, PART + ".minisig"):
        client.download_file("releases", prefix + name, str(stored / name))
    check = subprocess.run(["minisign", "-V", "-P", public, "-m", str(stored / PART)], capture_output=True,
                           text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr

    merger = write_project(tmp_path / "merger", toml)
    git_commit(merger)
    assert _commit(merger) == commit
    merged = invoke("release", "--merge-from-storage", commit, "--no-publish", cwd=merger, env=_env(merger), timeout=600)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert "unauthenticated" not in merged.stdout + merged.stderr
    good = (merger / "dist" / ARCHIVE).read_bytes()
    sums = (merger / "dist/SHA256SUMS").read_text()
    assert hashlib.sha256(good).hexdigest() in sums

    # The bucket's writer rewrites the archive, the sha256 kept with it and the part manifest; the
    # old signature stays. Every check but the signature would pass.
    evil = good + b"\0tampered"
    sha = hashlib.sha256(evil).hexdigest()
    client.put_object(Bucket="releases", Key=prefix + ARCHIVE, Body=evil, Metadata={"sha256": sha})
    manifest = json.loads((stored / PART).read_text())
    for a in manifest["artifacts"]:
        if a["path"] == ARCHIVE:
            a["sha256"], a["size"] = sha, len(evil)
    _put(client, prefix + PART, json.dumps(manifest, indent=2).encode())
    out = _merge_refused(merger, commit)
    assert f"{HOST}/{PART}: its signature {PART}.minisig does not verify against the minisign key {public}" in out, out
    assert f"storage: s3://releases/{prefix}{PART}: its signature" in out, out  # refused as it came in
    assert (merger / "dist" / ARCHIVE).read_bytes() == good and (merger / "dist/SHA256SUMS").read_text() == sums

    # The untouched, validly signed part of this commit replayed under another commit's prefix: a
    # checkout at that commit refuses it as it comes in (the signature binds the commit), naming
    # the part and both commits, and downloads nothing else of it.
    replayer = write_project(tmp_path / "replayer", toml)
    (replayer / "NEWS").write_text("a later commit\n")
    git_commit(replayer)
    later = _commit(replayer)
    assert later != commit
    for name, body in ((ARCHIVE, good), (PART, (stored / PART).read_bytes()),
                       (PART + ".minisig", (stored / (PART + ".minisig")).read_bytes())):
        _put(client, f"demo/{later}/{HOST}/{name}", body)
    out = _merge_refused(replayer, later)
    assert f"storage: s3://releases/demo/{later}/{HOST}/{PART}: was made for commit {commit}, and this merge is at " \
        f"commit {later}" in out, out
    assert not (replayer / "dist" / ARCHIVE).exists()

    # The same checkout without [ci]: nothing stops the tamper, and the merge says so.
    trusting = write_project(tmp_path / "trusting", _toml(s3, (HOST,)))
    git_commit(trusting)
    manifest["git"]["commit"] = _commit(trusting)  # parts are kept by commit: put the tampered part under this one
    other = f"demo/{_commit(trusting)}/{HOST}/"
    _put(client, other + ARCHIVE, evil)
    _put(client, other + PART, json.dumps(manifest, indent=2).encode())
    accepted = invoke("release", "--merge-from-storage", _commit(trusting), "--no-publish", cwd=trusting,
                      env=_env(trusting), timeout=600)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "the parts are unauthenticated" in accepted.stdout + accepted.stderr
    assert (trusting / "dist" / ARCHIVE).read_bytes() == evil
