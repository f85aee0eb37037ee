"""Container images ([channels.container]) against a real registry: Debian's `docker-registry`
(the CNCF distribution registry) on localhost with htpasswd (bcrypt) auth, started here. The image
is built from the session's binaries (x86_64 musl FROM scratch; aarch64 gnu onto a glibc base that
this test makes from Debian's arm64 libc and pushes first, pinned by digest), pushed by wavrybuild,
pulled back with `skopeo`, unpacked, and run: amd64 natively, arm64 under qemu-aarch64 with the
image's own root as its sysroot."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port, invoke
from wavrybuild.channels.container import format as oci

USER, PASSWORD = "wavry-ci", "registry-pass-8e1f0c"
AMD64, ARM64 = "x86_64-unknown-linux-musl", "aarch64-unknown-linux-gnu"
ARM64_LIBS = Path("/usr/lib/aarch64-linux-gnu")
UPLOAD = "POST /v2/demo/wavry-demo/blobs/uploads/"
PUT = "PUT /v2/demo/wavry-demo/manifests/"


@dataclass
class Registry:
    host: str  # 127.0.0.1:PORT
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}"


def _tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if path is None:
        pytest.fail(f"{name} is not installed (.ci/setup installs it)")
    return path


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    d = tmp_path_factory.mktemp("registry")
    hashed = subprocess.run([_tool("htpasswd"), "-Bbn", USER, PASSWORD], capture_output=True, text=True, check=True)
    (d / "htpasswd").write_text(hashed.stdout)
    port = free_port()
    (d / "config.yml").write_text(f"""version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: {d / "data"}
http:
  addr: 127.0.0.1:{port}
auth:
  htpasswd:
    realm: wavry-test
    path: {d / "htpasswd"}
""")
    log = d / "log"
    proc = subprocess.Popen([_tool("docker-registry"), "serve", str(d / "config.yml")], stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/v2/", timeout=2).status_code == 401:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("docker-registry did not start:\n" + log.read_text()[-2000:])
            time.sleep(0.2)
        yield Registry(f"127.0.0.1:{port}", log)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _skopeo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([_tool("skopeo"), "--insecure-policy", *args], capture_output=True, text=True, timeout=300,
                          check=False)


def _arm64_base(binary: Path, work: Path) -> Path:
    """An OCI layout holding a minimal arm64 glibc base: the dynamic loader and the libraries the
    binary needs (readelf's NEEDED), from Debian's arm64 libc on this machine."""
    dynamic = subprocess.run(["readelf", "-d", str(binary)], capture_output=True, text=True, check=True).stdout
    needed = [line.split("[")[1].split("]")[0] for line in dynamic.splitlines() if "(NEEDED)" in line]
    assert "libc.so.6" in needed, dynamic
    files = [("/lib/ld-linux-aarch64.so.1", (ARM64_LIBS / "ld-linux-aarch64.so.1").resolve().read_bytes(), 0o755)]
    files += [(f"/lib/aarch64-linux-gnu/{n}", (ARM64_LIBS / n).resolve().read_bytes(), 0o755) for n in needed]
    layer, diff_id = oci.layer(files)
    config = oci.Blob(oci.MT_CONFIG, oci.canonical({
        "architecture": "arm64", "variant": "v8", "os": "linux", "config": {"Env": [oci.PATH_ENV], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]}, "history": [{"created_by": "test: arm64 glibc"}]}))
    manifest = oci.Blob(oci.MT_MANIFEST, oci.canonical({"schemaVersion": 2, "mediaType": oci.MT_MANIFEST,
                                                        "config": config.descriptor(), "layers": [layer.descriptor()]}))
    top = oci.index([(oci.Platform("linux", "arm64", "v8"), manifest)], {})
    out = work / "base-layout"
    oci.write_layout(out, [top, manifest, config, layer], oci.layout_index(top, ["glibc"]), work / "tmp")
    return out


@dataclass
class Project:
    root: Path
    env: dict[str, str]
    base: str

    @property
    def layout(self) -> Path:
        return self.root / "dist/.wavrybuild/container/wavry-demo"

    def index_digest(self) -> str:
        entries = json.loads((self.layout / "index.json").read_text())["manifests"]
        assert {e["annotations"][oci.REF_NAME] for e in entries} == {"0.1.0", "latest"}
        return entries[0]["digest"]


@pytest.fixture(scope="module")
def project(release, registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Project:
    work = tmp_path_factory.mktemp("container")
    base_layout = _arm64_base(release.binary(ARM64), work)
    pushed = _skopeo("copy", "--all", "--dest-tls-verify=false", f"--dest-creds={USER}:{PASSWORD}",
                     f"oci:{base_layout}:glibc", f"docker://{registry.host}/base/glibc:1")
    assert pushed.returncode == 0, pushed.stderr
    raw = _skopeo("inspect", "--raw", "--tls-verify=false", f"--creds={USER}:{PASSWORD}",
                  f"docker://{registry.host}/base/glibc:1")
    assert raw.returncode == 0, raw.stderr
    base = f"{registry.host}/base/glibc@sha256:{hashlib.sha256(raw.stdout.encode()).hexdigest()}"
    root = work / "p"
    shutil.copytree(release.root, root)
    # Built, not packaged, whichever of this session's tests ran first in the release's project
    # (`packaged` writes manifest.json and SHA256SUMS there): the publish dry run below is the one of
    # a project with no manifest yet.
    for name in ("manifest.json", "SHA256SUMS"):
        (root / "dist" / name).unlink(missing_ok=True)
    toml = root / "targets.toml"
    toml.write_text(toml.read_text() + f"""
[channels.container]
registry = "{registry.url}"
repository = "demo/{{name}}"
tags = ["{{version}}", "latest"]
targets = ["{AMD64}", "{ARM64}"]
base = "{base}"
user-env = "WAVRY_TEST_REGISTRY_USER"
password-env = "WAVRY_TEST_REGISTRY_PASSWORD"
""")
    env = {**release.env, "WAVRY_TEST_REGISTRY_USER": USER, "WAVRY_TEST_REGISTRY_PASSWORD": PASSWORD}
    return Project(root, env, base)


def _run(p: Project, *args: str) -> str:
    done = invoke(*args, cwd=p.root, env=p.env)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert PASSWORD not in out
    return out


def _unpack(layout: Path, manifest_digest: str, dest: Path) -> dict:
    """Every layer of one platform's image unpacked into `dest`; returns its config."""
    blobs = layout / "blobs/sha256"
    manifest = json.loads((blobs / manifest_digest.split(":")[1]).read_bytes())
    for layer in manifest["layers"]:
        with tarfile.open(fileobj=io.BytesIO((blobs / layer["digest"].split(":")[1]).read_bytes())) as tar:
            for m in tar.getmembers():
                assert m.mtime == 0 and m.uid == 0 and m.gid == 0, m.name
            # The layers are ours and the base's, whose absolute links must stay as they are. Python
            # 3.11.2 (Debian 12) has no extraction filters, and trusts the archive by default.
            if hasattr(tarfile, "fully_trusted_filter"):
                tar.extractall(dest, filter="fully_trusted")
            else:
                tar.extractall(dest)
    return json.loads((blobs / manifest["config"]["digest"].split(":")[1]).read_bytes())


def test_build_push_pull_run(project: Project, registry: Registry, tmp_path: Path) -> None:
    dry = " ".join(_run(project, "container", "--dry").split())  # a long line may be wrapped
    assert f"linux/amd64 ← {AMD64} FROM scratch" in dry and f"linux/arm64/v8 ← {ARM64} FROM {project.base}" in dry
    assert not project.layout.exists()
    _run(project, "container")
    first = project.index_digest()
    # Reproducible: the layout made again from nothing has the same index digest.
    shutil.rmtree(project.layout)
    _run(project, "container")
    assert project.index_digest() == first
    assert "up to date" in _run(project, "container")

    dry = _run(project, "publish", "--to", "container", "--dry")  # no dist/manifest.json: only built, not packaged
    assert f"would push the container image {registry.host}/demo/wavry-demo:latest" in dry, dry
    # A wrong password: one line naming the HTTP status, no traceback, no password.
    done = invoke("publish", "--to", "container", cwd=project.root,
                  env={**project.env, "WAVRY_TEST_REGISTRY_PASSWORD": "not-the-password-5d2a"})
    out = done.stdout + done.stderr
    assert done.returncode != 0 and "Traceback" not in out and "HTTP 401" in out, out
    assert "not-the-password-5d2a" not in out and PASSWORD not in out
    assert registry.log.read_text().count(UPLOAD) == 0

    out = _run(project, "publish", "--to", "container")
    assert f"{registry.host}/demo/wavry-demo:0.1.0: uploaded" in out, out
    uploads, puts = registry.log.read_text().count(UPLOAD), registry.log.read_text().count(PUT)
    # Blobs: 2 configs, 2 layers of ours and the base's layer (a registry scopes blobs by repository);
    # manifests: 2 platforms, the index by digest, then under 2 tags.
    assert uploads == 5 and puts == 5, (uploads, puts)
    # Idempotent: a second push sends no blob and no manifest.
    out = _run(project, "publish", "--to", "container")
    assert "0.1.0: skipped" in out and "latest: skipped" in out and "0 blobs sent" in out, out
    assert registry.log.read_text().count(UPLOAD) == uploads and registry.log.read_text().count(PUT) == puts

    # Pulled back by another client, both platforms, byte-identical index.
    raw = _skopeo("inspect", "--raw", "--tls-verify=false", f"--creds={USER}:{PASSWORD}",
                  f"docker://{registry.host}/demo/wavry-demo:latest")
    assert raw.returncode == 0, raw.stderr
    assert "sha256:" + hashlib.sha256(raw.stdout.encode()).hexdigest() == first
    index = json.loads(raw.stdout)
    platforms = {(m["platform"]["os"], m["platform"]["architecture"]): m["digest"] for m in index["manifests"]}
    assert set(platforms) == {("linux", "amd64"), ("linux", "arm64")}
    pulled = tmp_path / "pulled"
    copied = _skopeo("copy", "--all", "--src-tls-verify=false", f"--src-creds={USER}:{PASSWORD}",
                     f"docker://{registry.host}/demo/wavry-demo:0.1.0", f"oci:{pulled}:x")
    assert copied.returncode == 0, copied.stderr

    amd64 = tmp_path / "amd64"
    config = _unpack(pulled, platforms[("linux", "amd64")], amd64)
    assert config["config"]["Entrypoint"] == ["/usr/local/bin/wavry-demo"] and len(config["rootfs"]["diff_ids"]) == 1
    assert sorted(p.name for p in (amd64 / "usr/local/bin").iterdir()) == ["wavry-demo", "wavry-hello"]
    ran = subprocess.run([str(amd64 / "usr/local/bin/wavry-demo"), "--version"], capture_output=True, text=True,
                         check=True)
    assert ran.stdout.strip() == f"wavry-demo 0.1.0 ({AMD64})"

    arm64 = tmp_path / "arm64"
    config = _unpack(pulled, platforms[("linux", "arm64")], arm64)
    assert config["architecture"] == "arm64" and len(config["rootfs"]["diff_ids"]) == 2 and "Cmd" not in config["config"]
    ran = subprocess.run([_tool("qemu-aarch64"), "-L", str(arm64), str(arm64 / "usr/local/bin/wavry-demo"), "--version"],
                         capture_output=True, text=True, check=False)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == f"wavry-demo 0.1.0 ({ARM64})"

