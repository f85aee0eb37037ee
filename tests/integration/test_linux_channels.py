""".deb/.rpm (nfpm), signed apt and rpm repositories, and the install script — checked with the
tools users have: dpkg-deb, rpm -qip / rpm -K, apt-get (isolated: its own sources, key, state and
cache, never the machine's), gpg, minisign, and sh against a local HTTP server."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import git_commit, invoke, write_project

GPG_PASS = "repo-pass-9d2e"
DEB_TARGETS = '["x86_64-unknown-linux-gnu.2.17", "aarch64-unknown-linux-gnu"]'


def _run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kw)


_CERT: list[Path] = []


def _cert() -> Path:
    """A self-signed certificate for 127.0.0.1 (made once), which the install script's curl trusts
    through CURL_CA_BUNDLE: the release host over https, as install.sh insists on."""
    if not _CERT:
        import tempfile

        d = Path(tempfile.mkdtemp(prefix="wavrybuild-tls-"))
        done = _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                     "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                     "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")])
        assert done.returncode == 0, done.stderr
        _CERT.append(d)
    return _CERT[0]


def tls_env() -> dict[str, str]:
    return {**os.environ, "CURL_CA_BUNDLE": str(_cert() / "cert.pem")}


@contextlib.contextmanager
def serve(directory: Path, tls: bool = False) -> Iterator[str]:
    """A static file server on localhost (what the release host or a CDN is to users)."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    if tls:
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(_cert() / "cert.pem", _cert() / "key.pem")
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Project:
    root: Path
    env: dict[str, str]
    gpg_home: Path
    minisign_pub: Path

    @property
    def dist(self) -> Path:
        return self.root / "dist"


@pytest.fixture(scope="module")
def project(packaged, tmp_path_factory: pytest.TempPathFactory) -> Project:
    base = tmp_path_factory.mktemp("linux")
    home = base / "gnupg"
    home.mkdir(mode=0o700)
    genv = {**os.environ, "GNUPGHOME": str(home)}
    done = _run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", GPG_PASS, "--quick-gen-key",
                 "Wavry Packages <packages@example.invalid>", "ed25519", "sign", "never"], env=genv)
    assert done.returncode == 0, done.stderr
    fpr = next(ln.split(":")[9] for ln in _run(["gpg", "--batch", "--with-colons", "--list-secret-keys"],
                                                  env=genv).stdout.splitlines() if ln.startswith("fpr:"))
    keys = base / "minisign"
    keys.mkdir()
    done = _run(["minisign", "-G", "-W", "-p", str(keys / "mini.pub"), "-s", str(keys / "mini.key")])
    assert done.returncode == 0, done.stderr
    root = base / "p"
    shutil.copytree(packaged.root, root)
    toml = root / "targets.toml"
    toml.write_text(toml.read_text() + f"""
[sign]
methods = ["gpg", "minisign"]

[sign.gpg]
key = "{fpr}"
homedir = "{home}"
passphrase-env = "TEST_GPG_PASS"

[sign.minisign]
key = "{keys / 'mini.key'}"
public-key = "{keys / 'mini.pub'}"

[channels.deb]
targets = {DEB_TARGETS}
contents = [
  {{ src = "completions/wavry-demo.bash", dst = "/usr/share/bash-completion/completions/wavry-demo" }},
]

[channels.rpm]
targets = {DEB_TARGETS}

[channels.installer]
base-url = "https://downloads.example.invalid/wavry-demo/v{{version}}"
""")
    env = {**packaged.env, "TEST_GPG_PASS": GPG_PASS, "WAVRYBUILD_MINISIGN_PASSPHRASE": ""}
    for task in ("linux-packages", "installer", "checksum", "sign", "repos"):
        done = invoke(task, cwd=root, env=env)
        assert done.returncode == 0, task + "\n" + done.stdout + done.stderr
        assert GPG_PASS not in done.stdout + done.stderr
    return Project(root, env, home, keys / "mini.pub")


def test_deb_metadata_and_contents(project: Project) -> None:
    deb = project.dist / "wavry-demo_0.1.0-1_amd64.deb"
    info = _run(["dpkg-deb", "--info", str(deb)]).stdout
    for line in ("Package: wavry-demo", "Version: 0.1.0-1", "Architecture: amd64",
                 "Maintainer: Wavry Build Team <build@wavry.example>",
                 "Homepage: https://wavry.example/demo", "Description: Demo crate released by wavrybuild"):
        assert line in info, (line, info)
    contents = _run(["dpkg-deb", "--contents", str(deb)]).stdout
    assert "-rwxr-xr-x root/root" in contents and "./usr/bin/wavry-demo" in contents and "./usr/bin/wavry-hello" in contents
    assert "./usr/share/bash-completion/completions/wavry-demo" in contents
    # The crate's documents by default: a DEP-5 copyright file quoting LICENSE, and the README.
    assert "./usr/share/doc/wavry-demo/copyright" in contents and "./usr/share/doc/wavry-demo/README.md" in contents
    arm = _run(["dpkg-deb", "--field", str(project.dist / "wavry-demo_0.1.0-1_arm64.deb"), "Architecture"]).stdout
    assert arm.strip() == "arm64"
    # The binary in the package is the one the release built, smoke-ran and archived.
    extracted = project.root / "x"
    _run(["dpkg-deb", "-x", str(deb), str(extracted)])
    assert (extracted / "usr/bin/wavry-demo").read_bytes() == (
        project.dist / ".wavrybuild/bin/x86_64-unknown-linux-gnu.2.17/wavry-demo").read_bytes()
    from debian.copyright import Copyright  # python-debian: Debian's own parser of the format

    with (extracted / "usr/share/doc/wavry-demo/copyright").open() as f:
        copyright_ = Copyright(f, strict=True)
    files = copyright_.find_files_paragraph("usr/bin/wavry-demo")
    assert copyright_.header.upstream_name == "wavry-demo" and files is not None and files.license.synopsis == "MIT"
    assert "Permission is hereby granted" in files.license.text


def test_rpm_metadata_and_signature(project: Project, tmp_path: Path) -> None:
    rpm = project.dist / "wavry-demo-0.1.0-1.x86_64.rpm"
    info = _run(["rpm", "-qip", str(rpm)]).stdout
    for line in ("Name        : wavry-demo", "Version     : 0.1.0", "Release     : 1", "Architecture: x86_64",
                 "License     : MIT", "URL         : https://wavry.example/demo"):
        assert line in info, (line, info)
    assert "Signature   : EdDSA" in info
    files = _run(["rpm", "-qlp", str(rpm)]).stdout.split()
    assert {"/usr/bin/wavry-demo", "/usr/bin/wavry-hello", "/usr/share/licenses/wavry-demo/LICENSE"} <= set(files)
    # The crate's LICENSE is the rpm's %license, its README a %doc (by default: [package] crate-docs).
    assert _run(["rpm", "-qp", "--licensefiles", str(rpm)]).stdout.split() == ["/usr/share/licenses/wavry-demo/LICENSE"]
    assert _run(["rpm", "-qp", "--docfiles", str(rpm)]).stdout.split() == ["/usr/share/doc/wavry-demo/README.md"]
    assert "aarch64" in _run(["rpm", "-qp", "--qf", "%{ARCH}", str(project.dist / "wavry-demo-0.1.0-1.aarch64.rpm")]).stdout
    # rpm -K against the exported key, in a throwaway rpm database (never the machine's).
    db = tmp_path / "rpmdb"
    db.mkdir()
    before = _run(["rpm", "--dbpath", str(db), "-K", str(rpm)])
    assert before.returncode != 0  # the key is not trusted yet
    key = project.dist / "repo/rpm/RPM-GPG-KEY-wavry-demo.asc"
    assert _run(["rpm", "--dbpath", str(db), "--import", str(key)]).returncode == 0
    checked = _run(["rpm", "--dbpath", str(db), "-K", str(rpm)])
    assert checked.returncode == 0 and "signatures OK" in checked.stdout, checked.stdout + checked.stderr
    # A changed byte in the payload: rpm -K says so.
    bad = tmp_path / rpm.name
    data = bytearray(rpm.read_bytes())
    data[-100] ^= 0xFF
    bad.write_bytes(bytes(data))
    assert _run(["rpm", "--dbpath", str(db), "-K", str(bad)]).returncode != 0


def test_rpm_repository_metadata_is_signed(project: Project, tmp_path: Path) -> None:
    repo = project.dist / "repo/rpm"
    assert sorted(p.name for p in (repo / "Packages").iterdir()) == ["wavry-demo-0.1.0-1.aarch64.rpm",
                                                                      "wavry-demo-0.1.0-1.x86_64.rpm"]
    primary = next((repo / "repodata").glob("*-primary.xml.gz"))
    import gzip

    text = gzip.decompress(primary.read_bytes()).decode()
    assert text.count("<name>wavry-demo</name>") == 2
    home = tmp_path / "g"
    home.mkdir(mode=0o700)
    genv = {**os.environ, "GNUPGHOME": str(home)}
    _run(["gpg", "--batch", "--import", str(repo / "RPM-GPG-KEY-wavry-demo.asc")], env=genv)
    ok = _run(["gpg", "--batch", "--verify", str(repo / "repodata/repomd.xml.asc"), str(repo / "repodata/repomd.xml")], env=genv)
    assert ok.returncode == 0 and "Good signature" in ok.stderr


def _apt(sandbox: Path, url: str, key: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """apt-get confined to `sandbox`: its own sources list, trusted key, state, cache and status."""
    for d in ("parts", "prefs.d", "trusted.d", "state/lists/partial", "cache/archives/partial", "dl"):
        (sandbox / d).mkdir(parents=True, exist_ok=True)
    (sandbox / "status").touch()
    (sandbox / "sources.list").write_text(f"deb [signed-by={key}] {url}/ stable main\n")
    opts = {
        "Dir::Etc::SourceList": sandbox / "sources.list", "Dir::Etc::SourceParts": sandbox / "parts",
        "Dir::Etc::Trusted": sandbox / "trusted.gpg", "Dir::Etc::TrustedParts": sandbox / "trusted.d",
        "Dir::Etc::Preferences": sandbox / "prefs", "Dir::Etc::PreferencesParts": sandbox / "prefs.d",
        "Dir::State": sandbox / "state", "Dir::State::status": sandbox / "status", "Dir::Cache": sandbox / "cache",
        "Debug::NoLocking": "1", "APT::Sandbox::User": "root", "Acquire::Languages": "none",
        "APT::Architecture": "amd64", "APT::Architectures": "amd64",
    }
    argv = ["apt-get", "-q"] + [x for k, v in opts.items() for x in ("-o", f"{k}={v}")] + list(args)
    return _run(argv, cwd=cwd or sandbox / "dl")


def test_apt_update_and_download_with_signature_checking(project: Project, tmp_path: Path) -> None:
    repo = project.dist / "repo/apt"
    assert {"InRelease", "Release", "Release.gpg"} <= {p.name for p in (repo / "dists/stable").iterdir()}
    with serve(repo) as url:
        box = tmp_path / "apt"
        upd = _apt(box, url, repo / "key.gpg", "update")
        assert upd.returncode == 0 and "W:" not in upd.stdout + upd.stderr, upd.stdout + upd.stderr
        dl = _apt(box, url, repo / "key.gpg", "download", "wavry-demo")
        assert dl.returncode == 0, dl.stdout + dl.stderr
        got = box / "dl/wavry-demo_0.1.0-1_amd64.deb"
        assert got.read_bytes() == (project.dist / "wavry-demo_0.1.0-1_amd64.deb").read_bytes()

    # A Release whose signature no longer matches: apt refuses the repository.
    broken = tmp_path / "broken"
    shutil.copytree(repo, broken)
    for name in ("InRelease", "Release"):
        f = broken / "dists/stable" / name
        f.write_text(f.read_text().replace("Description: wavry-demo packages", "Description: wavry-demo packagez"))
    with serve(broken) as url:
        box = tmp_path / "apt-broken"
        upd = _apt(box, url, broken / "key.gpg", "update")
        out = upd.stdout + upd.stderr
        assert upd.returncode != 0 and ("BADSIG" in out or "invalid" in out), out
        dl = _apt(box, url, broken / "key.gpg", "download", "wavry-demo")
        assert dl.returncode != 0 and not list((box / "dl").glob("*.deb"))

    # Signed by another key than the one the user trusts: refused too.
    other = tmp_path / "og"
    other.mkdir(mode=0o700)
    oenv = {**os.environ, "GNUPGHOME": str(other)}
    _run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Other <o@example.invalid>", "ed25519", "sign", "never"], env=oenv)
    (tmp_path / "other.gpg").write_bytes(subprocess.run(["gpg", "--batch", "--export"], env=oenv, capture_output=True).stdout)
    with serve(repo) as url:
        upd = _apt(tmp_path / "apt-other", url, tmp_path / "other.gpg", "update")
        assert upd.returncode != 0 and "NO_PUBKEY" in upd.stdout + upd.stderr


def test_repositories_update_incrementally(project: Project, tmp_path: Path) -> None:
    """A new package release is added beside the old one; apt then picks the new one."""
    root = tmp_path / "p"
    shutil.copytree(project.root, root)
    toml = root / "targets.toml"
    toml.write_text(toml.read_text().replace("[channels.deb]\n", '[channels.deb]\nrelease = "2"\n')
                    .replace("[channels.rpm]\n", '[channels.rpm]\nrelease = "2"\n'))
    rerun = invoke("repos", cwd=root, env=project.env)
    assert rerun.returncode == 0 and "up to date" in rerun.stderr  # nothing new yet: nothing re-signed
    for task in ("linux-packages", "repos"):
        done = invoke(task, cwd=root, env=project.env)
        assert done.returncode == 0, done.stdout + done.stderr
    apt = root / "dist/repo/apt"
    pool = sorted(p.name for p in apt.rglob("*.deb"))
    assert pool == ["wavry-demo_0.1.0-1_amd64.deb", "wavry-demo_0.1.0-1_arm64.deb",
                    "wavry-demo_0.1.0-2_amd64.deb", "wavry-demo_0.1.0-2_arm64.deb"]
    packages = (apt / "dists/stable/main/binary-amd64/Packages").read_text()
    assert "Version: 0.1.0-1" in packages and "Version: 0.1.0-2" in packages
    assert len(list((root / "dist/repo/rpm/Packages").iterdir())) == 4
    with serve(apt) as url:
        box = tmp_path / "apt"
        assert _apt(box, url, apt / "key.gpg", "update").returncode == 0
        dl = _apt(box, url, apt / "key.gpg", "download", "wavry-demo")
        assert dl.returncode == 0 and [p.name for p in (box / "dl").iterdir()] == ["wavry-demo_0.1.0-2_amd64.deb"]


def test_changed_package_under_the_same_name_is_refused(project: Project, tmp_path: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(project.root, root)
    cargo = root / "demo/Cargo.toml"
    cargo.write_text(cargo.read_text().replace('description = "', 'description = "Changed: '))
    assert invoke("linux-packages", "--format", "deb", cwd=root, env=project.env).returncode == 0
    done = invoke("repos", cwd=root, env=project.env)
    assert done.returncode == 1
    assert "already in the repository with other contents" in done.stderr and "bump" in done.stderr


def test_packages_are_reproducible_and_reruns_keep_them(project: Project, tmp_path: Path) -> None:
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in project.dist.glob("*.[dr][ep][bm]")}
    assert len(before) == 4
    again = invoke("linux-packages", cwd=project.root, env=project.env)
    assert again.returncode == 0, again.stderr
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in project.dist.glob("*.[dr][ep][bm]")} == before
    # Made afresh elsewhere (no state to reuse), the unsigned .debs are the same bytes.
    root = tmp_path / "p"
    shutil.copytree(project.root, root)
    for f in (root / "dist").glob("*.deb"):
        f.unlink()
    (root / "dist/.wavrybuild/linux-packages.json").unlink()
    done = invoke("linux-packages", "--format", "deb", cwd=root, env=project.env)
    assert done.returncode == 0, done.stderr
    for name in ("wavry-demo_0.1.0-1_amd64.deb", "wavry-demo_0.1.0-1_arm64.deb"):
        assert (root / "dist" / name).read_bytes() == before[name][0]


def test_bad_deb_config_is_refused_before_writing(project: Project, tmp_path: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(project.root, root)
    toml = root / "targets.toml"
    text = toml.read_text()
    for old, new, expect in (
        ("[channels.deb]\n", '[channels.deb]\nname = "Wavry_Demo"\n', "channels.deb.name: 'Wavry_Demo' is not a valid package name"),
        ("[channels.deb]\n", "[channels.deb]\nsection = 3\n", "channels.deb.section: expected a non-empty string"),
        ('src = "completions/wavry-demo.bash"', 'src = "nope"', "src 'nope': no such file"),
        ('src = "completions/wavry-demo.bash"', 'src = "../../x"', "src '../../x' is outside the crate"),
        ("[channels.rpm]\n", '[channels.rpm]\nsection = "x"\n', "channels.rpm.section: unknown key"),
    ):
        toml.write_text(text.replace(old, new, 1))
        done = invoke("linux-packages", cwd=root, env=project.env)
        assert done.returncode == 2 and expect in done.stderr, (new, done.stderr)
    toml.write_text(text.replace(f"targets = {DEB_TARGETS}\ncontents = [\n  {{ src = \"completions",
                                 "contents = [\n  { src = \"completions", 1))
    done = invoke("linux-packages", cwd=root, env=project.env)
    assert done.returncode == 2
    assert "are both deb architecture amd64" in done.stderr and "channels.deb.targets" in done.stderr


def test_packages_alone_need_no_gpg_key(tmp_path: Path, cargo_target_dir: Path) -> None:
    """[channels.deb] and [channels.rpm] without `repository` and without a gpg key: the release
    makes the packages (the rpm unsigned) and no repository. Asked for, a repository needs the key."""
    root = write_project(tmp_path / "p", """[project]
crate = "demo"
binaries = ["wavry-demo", "wavry-hello"]

[defaults]
profile = "release"
smoke-args = ["--version"]
smoke-expect = "{version} ({triple})"

[targets.x86_64-unknown-linux-gnu]
builder = "cargo"

[channels.deb]

[channels.rpm]
""")
    git_commit(root)
    env = {"CARGO_TARGET_DIR": str(cargo_target_dir)}
    done = invoke("release", "--no-publish", cwd=root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    dist = root / "dist"
    deb, rpm = dist / "wavry-demo_0.1.0-1_amd64.deb", dist / "wavry-demo-0.1.0-1.x86_64.rpm"
    assert _run(["dpkg-deb", "--field", str(deb), "Package"]).stdout.strip() == "wavry-demo"
    info = _run(["rpm", "-qip", str(rpm)]).stdout
    assert "Name        : wavry-demo" in info and "Signature   : (none)" in info, info
    sums = (dist / "SHA256SUMS").read_text()
    assert deb.name in sums and rpm.name in sums
    assert not (dist / "repo").exists()
    toml = root / "targets.toml"
    toml.write_text(toml.read_text().replace("[channels.deb]\n", "[channels.deb]\nrepository = true\n"))
    done = invoke("repos", cwd=root, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "the apt repository must be signed, and [sign] has no gpg key" in done.stderr
    assert "Traceback" not in done.stderr and not (dist / "repo" / "apt" / "dists").exists()


# --- the install script --------------------------------------------------------------------------

def _install(script: Path, url: str, prefix: Path, *extra: str, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess:
    # /bin/sh is dash on Debian: the script is run by a strict POSIX shell.
    return _run(["sh", str(script), "--base-url", url, "--prefix", str(prefix), *extra], env=env or tls_env())


def test_install_script_installs_a_verified_archive(project: Project, tmp_path: Path) -> None:
    script = project.dist / "install.sh"
    assert "downloads.example.invalid/wavry-demo/v0.1.0" in script.read_text()
    assert "install.sh" in (project.dist / "SHA256SUMS").read_text()
    with serve(project.dist, tls=True) as url:
        prefix = tmp_path / "bin"
        done = _install(script, url, prefix)
        assert done.returncode == 0, done.stderr
        assert "SHA-256 verified" in done.stderr and "minisign signature verified" in done.stderr
        out = _run([str(prefix / "wavry-demo"), "--version"]).stdout.strip()
        assert out == "wavry-demo 0.1.0 (x86_64-unknown-linux-gnu)"
        assert "x86_64-unknown-linux-gnu.2.17" in done.stderr  # the lowest glibc floor is preferred
        assert sorted(p.name for p in prefix.iterdir()) == ["wavry-demo", "wavry-hello"]
        # As users run it: piped into sh.
        piped = subprocess.run(f"curl -fsSL {url}/install.sh | sh -s -- --base-url {url} --prefix {tmp_path / 'p2'} "
                               "--target x86_64-unknown-linux-musl", shell=True, capture_output=True, text=True,
                               env=tls_env())
        assert piped.returncode == 0, piped.stderr
        assert _run([str(tmp_path / "p2/wavry-demo"), "--version"]).stdout.strip() == "wavry-demo 0.1.0 (x86_64-unknown-linux-musl)"


def test_install_script_refuses_a_tampered_archive(project: Project, tmp_path: Path) -> None:
    served = tmp_path / "served"
    shutil.copytree(project.dist, served, ignore=shutil.ignore_patterns(".wavrybuild", "repo"))
    archive = served / "wavry-demo-0.1.0-x86_64-unknown-linux-gnu.2.17.tar.gz"
    archive.write_bytes(archive.read_bytes() + b"\0")
    with serve(served, tls=True) as url:
        prefix = tmp_path / "bin"
        done = _install(project.dist / "install.sh", url, prefix)
        assert done.returncode == 1
        assert "SHA-256 mismatch" in done.stderr and "refusing to install" in done.stderr
        assert not prefix.exists()

        # The attacker also rewrites SHA256SUMS to match: the minisign signature catches it.
        sums = served / "SHA256SUMS"
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        sums.write_text("\n".join(
            f"{digest}  {archive.name}" if line.endswith(archive.name) else line
            for line in sums.read_text().splitlines()) + "\n")
        done = _install(project.dist / "install.sh", url, prefix)
        assert done.returncode == 1 and "minisign signature does not verify" in done.stderr
        assert not prefix.exists()


def test_install_script_says_when_nothing_fits(project: Project, tmp_path: Path) -> None:
    with serve(project.dist, tls=True) as url:
        done = _install(project.dist / "install.sh", url, tmp_path / "bin", "--target", "riscv64gc-unknown-linux-gnu")
    assert done.returncode == 1 and "no wavry-demo 0.1.0 build for" in done.stderr
    assert not (tmp_path / "bin").exists()


def _path_without(tmp_path: Path, *missing: str) -> str:
    """A PATH with every program of this machine's bin directories except `missing`."""
    d = tmp_path / "path-without"
    d.mkdir()
    for bindir in ("/usr/local/bin", "/usr/bin", "/bin"):
        for prog in Path(bindir).iterdir() if Path(bindir).is_dir() else ():
            if prog.name not in missing and not (d / prog.name).exists():
                (d / prog.name).symlink_to(prog)
    return str(d)


def test_install_script_cannot_be_downgraded(project: Project, tmp_path: Path) -> None:
    """A tampered archive with a matching SHA256SUMS and no minisign on the machine: refused (the
    configured key makes the signature check required), unless the user opts out explicitly."""
    served = tmp_path / "served"
    shutil.copytree(project.dist, served, ignore=shutil.ignore_patterns(".wavrybuild", "repo"))
    archive = served / "wavry-demo-0.1.0-x86_64-unknown-linux-gnu.2.17.tar.gz"
    archive.write_bytes(archive.read_bytes() + b"\0")
    sums = served / "SHA256SUMS"
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    sums.write_text("\n".join(f"{digest}  {archive.name}" if line.endswith(archive.name) else line
                              for line in sums.read_text().splitlines()) + "\n")
    env = {**tls_env(), "PATH": _path_without(tmp_path, "minisign")}
    with serve(served, tls=True) as url:
        prefix = tmp_path / "bin"
        done = _install(project.dist / "install.sh", url, prefix, env=env)
        assert done.returncode == 1, done.stderr
        assert "minisign is needed to check this release's signature" in done.stderr
        assert not prefix.exists()
        # Plain http is refused before anything is fetched.
        done = _install(project.dist / "install.sh", url.replace("https://", "http://"), prefix)
        assert done.returncode == 1 and "base URL must be https://" in done.stderr
        # The explicit opt-out says loudly what it skips; the archive's SHA-256 still holds here.
        done = _install(project.dist / "install.sh", url, prefix, env={**env, "WAVRYBUILD_INSTALL_NO_SIGNATURE": "1"})
        assert "signature is NOT checked" in done.stderr
        assert done.returncode == 0, done.stderr  # the sums were rewritten to match: only a signature catches that


def test_a_truncated_install_script_does_nothing(project: Project, tmp_path: Path) -> None:
    text = (project.dist / "install.sh").read_text()
    with serve(project.dist, tls=True) as url:
        for cut in (len(text) // 3, len(text) // 2, len(text) - len('main "$@"\n')):
            script = tmp_path / f"cut-{cut}.sh"
            script.write_text(text[:cut])
            prefix = tmp_path / f"bin-{cut}"
            done = _install(script, url, prefix)
            assert not prefix.exists(), (cut, done.stderr)
            assert "downloading" not in done.stderr
