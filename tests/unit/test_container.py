"""[channels.container]: the OCI image format (reproducible bytes), the config boundary (hostile
repository names, tags, base references and registry URLs refused with one clear error), the stage
on staged musl binaries (FROM scratch, dry run = run, nothing written by --dry), and the registry
client's token flow with no credential in any message. The push against a real registry is
tests/integration/test_container.py."""

from __future__ import annotations

import base64
import gzip
import io
import json
import tarfile
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.integration.servers import local_server
from tests.unit.test_pipeline import Recorder, fake_metadata
from wavrybuild.channels.container import format as oci
from wavrybuild.channels.container.registry import Login, Registry, api_url
from wavrybuild.channels.container.stage import ContainerStage
from wavrybuild.config import Config, parse
from wavrybuild.config.container import parse_base
from wavrybuild.env import Settings
from wavrybuild.errors import ConfigError, WavryError
from wavrybuild.net import Client
from wavrybuild.pipeline.runner import Pipeline
from wavrybuild.pipeline.stage import Run, Status
from wavrybuild.record import BinaryRecord, BuildRecord, TargetRecord

MUSL = ("x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl")
BASE = "registry.example:5000/base/glibc@sha256:" + "ab" * 32


def _config(root: Path, container: dict[str, Any], targets: tuple[str, ...] = MUSL) -> Config:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    data: dict[str, Any] = {"targets": {t: {} for t in targets},
                            "channels": {"container": {"registry": "https://registry.example", **container}}}
    return parse(root / "targets.toml", data, fake_metadata, Settings())


def _refused(root: Path, container: dict[str, Any], *words: str, targets: tuple[str, ...] = MUSL) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        _config(root, container, targets)
    message = info.value.message
    assert "targets.toml" in message and "channels.container" in message, message
    assert "\n" not in message and "\r" not in message
    for w in words:
        assert w in message + (info.value.hint or ""), message
    return info.value


# --- the format --------------------------------------------------------------------------------------

def test_a_layer_is_the_same_bytes_every_time_with_fixed_metadata() -> None:
    files = [("/usr/local/bin/b", b"second", 0o755), ("/usr/local/bin/a", b"first", 0o755)]
    blob, diff_id = oci.layer(files)
    again, diff_again = oci.layer(list(reversed(files)))
    assert blob.data == again.data and diff_id == diff_again
    assert blob.data[4:8] == b"\0\0\0\0"  # gzip's MTIME field
    raw = gzip.decompress(blob.data)
    assert oci.digest_of(raw) == diff_id
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["usr", "usr/local", "usr/local/bin", "usr/local/bin/a", "usr/local/bin/b"]
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 and m.uname == "" and m.gname == "" and m.mode == 0o755
               for m in members)


@pytest.mark.parametrize("path", ["usr/bin/x", "/usr/../etc/passwd", "/"])
def test_a_layer_takes_only_absolute_paths_inside_the_image(path: str) -> None:
    with pytest.raises(ValueError):
        oci.layer([(path, b"x", 0o755)])


def test_two_builds_give_the_same_index_digest(tmp_path: Path) -> None:
    def build() -> oci.Blob:
        manifests = []
        for arch in ("amd64", "arm64"):
            plat = oci.Platform("linux", arch)
            manifest, _ = oci.image(plat, [("demo", f"binary {arch}".encode())], "demo", None)
            manifests.append((plat, manifest))
        return oci.index(manifests, {"org.opencontainers.image.version": "1.2.3"})

    first, second = build(), build()
    assert first.digest == second.digest
    doc = json.loads(first.data)
    assert [m["platform"] for m in doc["manifests"]] == [{"os": "linux", "architecture": "amd64"},
                                                         {"os": "linux", "architecture": "arm64"}]
    manifest, blobs = oci.image(oci.Platform("linux", "amd64"), [("demo", b"binary amd64")], "demo", None)
    config = json.loads(blobs[0].data)
    assert "created" not in config and config["config"]["Entrypoint"] == ["/usr/local/bin/demo"]
    assert json.loads(manifest.data)["layers"][0]["mediaType"] == oci.MT_LAYER
    assert manifest.digest != oci.image(oci.Platform("linux", "amd64"), [("demo", b"other")], "demo", None)[0].digest


def test_onto_a_base_its_layers_come_first_and_its_cmd_is_dropped() -> None:
    base_layer, base_diff = oci.layer([("/lib/libc.so.6", b"libc", 0o755)])
    base = oci.Base({"architecture": "arm64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [base_diff]},
                     "config": {"Env": ["PATH=/bin", "LANG=C"], "Cmd": ["/bin/sh"], "User": "1000"},
                     "history": [{"created_by": "base"}]}, (base_layer,))
    manifest, blobs = oci.image(oci.Platform("linux", "arm64", "v8"), [("demo", b"x")], "demo", base)
    config = json.loads(blobs[0].data)
    assert config["rootfs"]["diff_ids"][0] == base_diff and len(config["rootfs"]["diff_ids"]) == 2
    assert config["config"] == {"Env": ["PATH=/bin", "LANG=C"], "User": "1000", "Entrypoint": ["/usr/local/bin/demo"]}
    assert json.loads(manifest.data)["layers"][0]["digest"] == base_layer.digest
    assert config["variant"] == "v8"


def test_the_layout_is_read_back_and_a_changed_blob_is_refused(tmp_path: Path) -> None:
    plat = oci.Platform("linux", "amd64")
    manifest, blobs = oci.image(plat, [("demo", b"binary")], "demo", None)
    top = oci.index([(plat, manifest)], {})
    dest = tmp_path / "layout"
    assert oci.write_layout(dest, [top, manifest, *blobs], oci.layout_index(top, ["1.2.3", "latest"]), tmp_path / "tmp")
    assert not oci.write_layout(dest, [top, manifest, *blobs], oci.layout_index(top, ["1.2.3", "latest"]),
                                tmp_path / "tmp")
    layout = oci.read_layout(dest)
    assert layout.tags == ("1.2.3", "latest") and layout.top.digest == top.digest
    [(m, refs)] = layout.manifests()
    assert m.digest == manifest.digest and [b.digest for b in refs] == [b.digest for b in blobs]
    (dest / "blobs/sha256" / blobs[1].digest.split(":")[1]).write_bytes(b"swapped")
    with pytest.raises(ValueError, match="does not match its digest"):
        layout.manifests()
    with pytest.raises(ValueError, match="no OCI image layout"):
        oci.read_layout(tmp_path / "nothing")


# --- the config boundary -------------------------------------------------------------------------------

def test_defaults_and_templates(tmp_path: Path) -> None:
    cc = _config(tmp_path, {"repository": "owner/{name}", "tags": ["{version}", "latest", "{version}"]}).channels.container
    assert cc is not None
    assert (cc.repository, cc.tags, cc.targets, cc.base) == ("owner/demo", ("1.2.3", "latest"), MUSL, None)
    assert cc.reference("latest") == "registry.example/owner/demo:latest"
    default = _config(tmp_path / "d", {}).channels.container
    assert default is not None and (default.repository, default.tags) == ("demo", ("1.2.3",))


@pytest.mark.parametrize("name", ["Owner/demo", "../demo", "owner//demo", "-demo", "demo-", "owner/demo\nx", "a b",
                                  "/demo", "demo/", "x" * 256, "owner/de..mo", "ow%2fner/demo", ""])
def test_hostile_repository_names_are_refused(tmp_path: Path, name: str) -> None:
    _refused(tmp_path, {"repository": name}, "channels.container.repository", "OCI distribution spec")


@pytest.mark.parametrize("tag", ["-x", ".x", "a b", "x" * 129, "v1\n", "../x", "a/b", "a:b", "", "é"])
def test_hostile_tags_are_refused(tmp_path: Path, tag: str) -> None:
    _refused(tmp_path, {"tags": [tag]}, "channels.container.tags")


@pytest.mark.parametrize("base", ["debian:bookworm", "debian@sha256:" + "a" * 64, "registry.example/debian:12",
                                  "registry.example/debian@sha256:" + "A" * 64, "registry.example/debian@sha256:abc",
                                  "https://registry.example/debian@sha256:" + "a" * 64,
                                  "registry.example/../x@sha256:" + "a" * 64, "registry.example/x@sha256:" + "a" * 64 + "\n",
                                  "reg\nistry.example/x@sha256:" + "a" * 64, 42])
def test_a_base_not_pinned_by_digest_is_refused(tmp_path: Path, base: Any) -> None:
    _refused(tmp_path, {"base": base}, "channels.container.base", "pinned by digest")


def test_a_base_reference_is_parsed() -> None:
    b = parse_base(BASE)
    assert (b.host, b.repository, b.digest, str(b)) == ("registry.example:5000", "base/glibc", "sha256:" + "ab" * 32, BASE)
    assert parse_base("docker.io/debian@sha256:" + "0" * 64).repository == "library/debian"
    assert api_url("docker.io") == "https://registry-1.docker.io"
    assert api_url("127.0.0.1:5000", "http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert api_url("ghcr.io", "http://127.0.0.1:5000") == "https://ghcr.io"


@pytest.mark.parametrize("url, words", [
    ("http://registry.example", ("plain http",)), ("https://user:pw@registry.example", ("without credentials",)),
    ("https://registry.example/v2/x", ("no path",)), ("ftp://registry.example", ("http",)),
    ("https://registry.example\n", ("http",)), ("https://registry.example/?q=1", ("no path",))])
def test_hostile_registry_urls_are_refused(tmp_path: Path, url: str, words: tuple[str, ...]) -> None:
    err = _refused(tmp_path, {"registry": url}, "channels.container.registry", *words)
    assert "pw" not in err.message


def test_plain_http_only_for_this_machine(tmp_path: Path) -> None:
    for url in ("http://127.0.0.1:5000", "http://localhost:5000", "http://[::1]:5000"):
        cc = _config(tmp_path / url.split("//")[1].replace(":", "_").replace("[", "").replace("]", ""),
                     {"registry": url}).channels.container
        assert cc is not None and cc.registry == url


def test_unknown_keys_get_a_did_you_mean_and_secrets_are_refused(tmp_path: Path) -> None:
    err = _refused(tmp_path, {"tag": ["x"]}, "tags")
    assert "did you mean" in (err.message + (err.hint or "")).lower()
    err = _refused(tmp_path, {"password": "hunter2-secret"})
    assert "hunter2-secret" not in err.message + (err.hint or "")
    err = _refused(tmp_path, {"password-env": "ghp_abcdefghijklmnopqrstuvwxyz0123456789"}, "password-env")
    assert "ghp_abcdefghijklmnop" not in err.message + (err.hint or "")


def test_logins_are_named_whole(tmp_path: Path) -> None:
    _refused(tmp_path, {"user-env": "U"}, "channels.container.user-env and channels.container.password-env go together")
    _refused(tmp_path, {"user-env": "U", "password-env": "P", "token-env": "T"}, "not both")


def test_glibc_targets_need_a_base_and_one_target_per_platform(tmp_path: Path) -> None:
    gnu = ("x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu")
    _refused(tmp_path / "a", {}, "x86_64-unknown-linux-gnu, aarch64-unknown-linux-gnu", "no base image", targets=gnu)
    cc = _config(tmp_path / "b", {"base": BASE}, gnu).channels.container
    assert cc is not None and cc.base is not None and cc.base.digest == "sha256:" + "ab" * 32
    both = ("x86_64-unknown-linux-gnu", "x86_64-unknown-linux-musl")
    _refused(tmp_path / "c", {"base": BASE}, "both linux/amd64", targets=both)
    cc = _config(tmp_path / "d", {"targets": ["x86_64-unknown-linux-musl"]}, both).channels.container
    assert cc is not None and cc.targets == ("x86_64-unknown-linux-musl",)
    _refused(tmp_path / "e", {"targets": ["x86_64-unknown-linux-mus"]}, "did you mean")
    _refused(tmp_path / "f", {}, "no Linux target", targets=("aarch64-apple-darwin",))


# --- the stage ---------------------------------------------------------------------------------------------

def _built(cfg: Config) -> None:
    dist = cfg.project.dist_dir
    record = BuildRecord()
    for t in cfg.targets:
        staged = dist / ".wavrybuild" / "bin" / t.id / "demo"
        staged.parent.mkdir(parents=True)
        staged.write_bytes(f"static binary for {t.id}".encode())
        record.targets[t.id] = TargetRecord(id=t.id, triple=t.id, rust_target=t.id, builder="cargo", toolchain=None,
                                            std=None, ok=True, seconds=0.0,
                                            binaries=[BinaryRecord("demo", str(staged.relative_to(dist)),
                                                                   staged.stat().st_size)])
    record.save(dist)


def test_the_stage_writes_a_scratch_image_and_its_dry_run_writes_nothing(tmp_path: Path) -> None:
    cfg = _config(tmp_path, {"repository": "owner/{name}", "tags": ["{version}", "latest"]})
    _built(cfg)
    dist = cfg.project.dist_dir
    before = {p: p.read_bytes() for p in dist.rglob("*") if p.is_file()}
    dry = Run(cfg, Recorder(), cfg.targets, dry=True)
    assert Pipeline(dry).stage(ContainerStage()) is Status.DRY
    said = " ".join(t for _, t in dry.ui.lines)  # type: ignore[attr-defined]
    assert "linux/amd64 ← x86_64-unknown-linux-musl FROM scratch" in said and "linux/arm64/v8" in said
    assert "registry.example/owner/demo:1.2.3" in said
    assert {p: p.read_bytes() for p in dist.rglob("*") if p.is_file()} == before
    stage = ContainerStage()
    assert [s.planned for s in stage.steps(dry, None)] == [s.planned for s in stage.steps(Run(cfg, Recorder(), cfg.targets), None)]
    run = Run(cfg, Recorder(), cfg.targets)
    Pipeline(run).stage(ContainerStage())
    layout = oci.read_layout(oci.layout_dir(dist, "demo"))
    assert layout.tags == ("1.2.3", "latest")
    digest = layout.top.digest
    assert any(digest in str(row) for _, rows in run.ui.tables for row in rows)  # type: ignore[attr-defined]
    # A second run: the same digest, nothing rewritten.
    again = Run(cfg, Recorder(), cfg.targets)
    Pipeline(again).stage(ContainerStage())
    assert oci.read_layout(oci.layout_dir(dist, "demo")).top.digest == digest
    assert any("up to date" in str(row) for _, rows in again.ui.tables for row in rows)  # type: ignore[attr-defined]


def test_the_stage_wants_every_platform_or_none(tmp_path: Path) -> None:
    cfg = _config(tmp_path, {})
    _built(cfg)
    with pytest.raises(WavryError, match="aarch64-unknown-linux-musl too"):
        ContainerStage().steps(Run(cfg, Recorder(), cfg.targets[:1]), None)


# --- the registry client: a fake of a token-auth registry ----------------------------------------------------
# Debian's registry has no token server (Docker Hub's, GHCR's token protocol): this local server
# follows the Docker registry token specification and echoes credentials back in its errors, to
# check that none reaches a message.

TOKEN = "registry-token-7c1e9a2b"
USER, PASSWORD = "ci-user", "login-secret-3b8d"


class TokenRegistry(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str, str]]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization", "")
        self.seen.append((self.command, self.path, auth))
        if self.path.startswith("/token"):
            good = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if auth != good:
                return self._answer(401, json.dumps({"message": f"bad login {auth}"}).encode())
            return self._answer(200, json.dumps({"token": TOKEN}).encode())
        if auth != f"Bearer {TOKEN}":
            host = self.headers["Host"]
            return self._answer(401, b"{}", {"WWW-Authenticate": f'Bearer realm="http://{host}/token",'
                                                                   f'service="test",scope="repository:o/d:pull,push"'})
        return self._answer(400, json.dumps({"errors": [{"detail": f"broken; you sent {auth}"}]}).encode())

    do_HEAD = do_GET


def test_the_token_flow_and_no_credential_in_any_message() -> None:
    TokenRegistry.seen = []
    with local_server(TokenRegistry) as url:
        client = Client("container")
        reg = Registry(client, url, "o/d", Login(USER, PASSWORD))
        with pytest.raises(WavryError) as info:
            reg.manifest("latest")
        client.close()
    text = info.value.message + (info.value.hint or "")
    assert "HTTP 400" in text
    assert TOKEN not in text and PASSWORD not in text
    assert base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode() not in text
    paths = [(m, p.split("?")[0], a.split(" ")[0]) for m, p, a in TokenRegistry.seen]
    assert paths == [("GET", "/v2/o/d/manifests/latest", ""), ("GET", "/token", "Basic"),
                     ("GET", "/v2/o/d/manifests/latest", "Bearer")]
    assert "scope=repository%3Ao%2Fd%3Apull%2Cpush" in TokenRegistry.seen[1][1]


def test_a_wrong_login_is_one_error_without_it() -> None:
    TokenRegistry.seen = []
    with local_server(TokenRegistry) as url:
        client = Client("container")
        with pytest.raises(WavryError) as info:
            Registry(client, url, "o/d", Login(USER, "wrong-secret-55aa")).has_blob("sha256:" + "0" * 64)
        client.close()
    text = info.value.message + (info.value.hint or "")
    assert "HTTP 401" in text and "wrong-secret-55aa" not in text
    assert base64.b64encode(f"{USER}:wrong-secret-55aa".encode()).decode() not in text


def test_publish_dry_run_needs_no_image_and_reads_no_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wavrybuild.publish.upload import publish

    cfg = _config(tmp_path, {"tags": ["{version}", "latest"], "user-env": "WAVRY_T_USER", "password-env": "WAVRY_T_PASS"})
    monkeypatch.delenv("WAVRY_T_USER", raising=False)
    monkeypatch.delenv("WAVRY_T_PASS", raising=False)
    rows = publish(cfg, cfg.project.dist_dir, only=("container",), dry=True, log=lambda _l: None)
    assert [(r.file, r.action) for r in rows] == [("registry.example/demo:1.2.3", "would upload"),
                                                  ("registry.example/demo:latest", "would upload")]
    with pytest.raises(WavryError, match="no OCI image layout"):  # the real push needs the stage's layout
        publish(cfg, cfg.project.dist_dir, only=("container",), log=lambda _l: None)
    _built(cfg)
    Pipeline(Run(cfg, Recorder(), cfg.targets)).stage(ContainerStage())
    with pytest.raises(ConfigError, match="WAVRY_T_USER is not set"):  # the login is read before any request
        publish(cfg, cfg.project.dist_dir, only=("container",), log=lambda _l: None)


def test_the_login_variables_are_checked_before_a_release_builds(tmp_path: Path) -> None:
    from wavrybuild.publish.upload import credentials

    cfg = _config(tmp_path, {"user-env": "WAVRY_T_USER", "password-env": "WAVRY_T_PASS"})
    assert [(r.name, r.key) for r in credentials(cfg)] == [  # type: ignore[union-attr]
        ("WAVRY_T_USER", "channels.container.user-env"), ("WAVRY_T_PASS", "channels.container.password-env")]
    token = _config(tmp_path / "t", {"token-env": "WAVRY_T_TOKEN"})
    assert [(r.name, r.key) for r in credentials(token, ("container",))] == [  # type: ignore[union-attr]
        ("WAVRY_T_TOKEN", "channels.container.token-env")]
