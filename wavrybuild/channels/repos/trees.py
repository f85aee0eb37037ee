"""Signed package repositories, written as static files: apt (pool + dists) and rpm (createrepo_c).

Both are updated incrementally: packages already in the repository stay (a new version is added
beside the old ones), and the indexes are regenerated over everything in it. A package file that
is already there under the same name with other bytes is refused: apt and dnf cache by name and
version, and would see a hash mismatch. Indexes are built in a temp dir and swapped in whole, so a
client never sees a Release that disagrees with its Packages.

apt: `apt-ftparchive` writes Packages and Release; gpg writes InRelease (clearsigned) and
Release.gpg (detached). rpm: `createrepo_c` writes repodata/; gpg signs repomd.xml
(repomd.xml.asc); the rpms themselves are signed by nfpm. The public key is exported next to the
indexes for users to trust.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ... import proc
from ...checksum import sha256_file
from ...config import Config
from ...config.channels import LinuxPackageConfig
from ...errors import CommandFailed, ConfigError, WavryError
from ...fsutil import fsync_dir, write_atomic
from ...sign.signatures import gpg_identity


@dataclass(frozen=True)
class GpgKey:
    key: str
    env: dict[str, str]
    passphrase: str


def gpg_key(cfg: Config, what: str) -> GpgKey:
    if "gpg" not in cfg.sign.methods or not cfg.sign.gpg.key:
        raise ConfigError(f"{cfg.project.config_path}: {what} must be signed, and [sign] has no gpg key",
                          hint='add "gpg" to sign.methods with [sign.gpg] key = "..." (docs/signing.md)')
    gpg = gpg_identity(cfg)
    return GpgKey(gpg.key, gpg.env, gpg.passphrase.value)


def _gpg(k: GpgKey, *args: str) -> None:
    proc.run(proc.Command(("gpg", "--batch", "--yes", "--no-tty", "--pinentry-mode", "loopback", "--passphrase-fd", "0",
                           "--local-user", k.key, *args), k.env),
             stdin_data=(k.passphrase + "\n").encode(), secrets=(k.passphrase,))


def _export_public(k: GpgKey, dest_dir: Path, name: str) -> None:
    armored = proc.run(proc.Command(("gpg", "--batch", "--armor", "--export", k.key), k.env)).stdout
    if "PUBLIC KEY" not in armored:
        raise ConfigError(f"sign.gpg.key: no public key {k.key!r} in the keyring")
    write_atomic(dest_dir / f"{name}.asc", armored)
    binary = _bytes(["gpg", "--batch", "--export", k.key], k.env)
    write_atomic(dest_dir / f"{name}.gpg", binary)


def _bytes(argv: list[str], env: dict[str, str]) -> bytes:
    done = proc.capture_all(argv, env=env)
    if not done.ok:
        raise CommandFailed(argv, done.returncode if done.returncode is not None else 127,
                            done.stderr.decode(errors="replace") or (done.error or ""))
    return done.stdout


def _add_to_pool(files: list[Path], pool_dir_of: Callable[[Path], Path]) -> list[Path]:
    """Copy packages into the pool; refuse one that is there with other bytes. Returns the new ones."""
    added = []
    for f in files:
        dest = pool_dir_of(f) / f.name
        if dest.exists():
            if sha256_file(dest) != sha256_file(f):
                raise WavryError(f"{dest}: already in the repository with other contents",
                                 hint="a published package never changes: bump the version or channels.*.release")
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.part")
        shutil.copyfile(f, tmp)
        os.replace(tmp, dest)
        added.append(dest)
    return added


def _swap_dir(new: Path, dest: Path) -> None:
    """Put `new` where `dest` is, with the shortest possible window."""
    old = dest.with_name(f".{dest.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        os.replace(dest, old)
    os.replace(new, dest)
    shutil.rmtree(old, ignore_errors=True)
    fsync_dir(dest.parent)


# --- apt ------------------------------------------------------------------------------------------

def _gzip(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def update_apt(cfg: Config, lc: LinuxPackageConfig, debs: list[Path], log: Callable[[str], None]) -> bool:
    """Add `debs` to the apt repository at lc.repo_dir and re-sign it. Returns whether it changed."""
    root = lc.repo_dir
    key = gpg_key(cfg, "the apt repository")
    name = lc.name
    pool = root / "pool" / lc.component / (name[:4] if name.startswith("lib") else name[0]) / name
    added = _add_to_pool(debs, lambda f: pool)
    suite = root / "dists" / lc.distribution
    if not added and (suite / "InRelease").is_file() and (suite / "Release.gpg").is_file():
        log(f"apt repository {root}: up to date")
        return False
    archs = sorted({p.name.rsplit("_", 1)[1].removesuffix(".deb") for p in (root / "pool").rglob("*.deb")})
    work = Path(tempfile.mkdtemp(prefix=".dists-", dir=root))
    try:
        new_suite = work / lc.distribution
        for arch in archs:
            out = proc.run(proc.Command(("apt-ftparchive", "--arch", arch, "packages", "pool"), cwd=root)).stdout
            d = new_suite / lc.component / f"binary-{arch}"
            d.mkdir(parents=True)
            (d / "Packages").write_text(out)
            (d / "Packages.gz").write_bytes(_gzip(out.encode()))
        opts = {"Origin": cfg.project.name, "Label": cfg.project.name, "Suite": lc.distribution,
                "Codename": lc.distribution, "Architectures": " ".join(archs), "Components": lc.component,
                "Description": f"{cfg.project.name} packages"}
        argv = ["apt-ftparchive"]
        for k, v in opts.items():
            argv += ["-o", f"APT::FTPArchive::Release::{k}={v}"]
        release = proc.run(proc.Command((*argv, "release", "."), cwd=new_suite)).stdout
        (new_suite / "Release").write_text(release)
        _gpg(key, "--clearsign", "--output", str(new_suite / "InRelease"), str(new_suite / "Release"))
        _gpg(key, "--armor", "--detach-sign", "--output", str(new_suite / "Release.gpg"), str(new_suite / "Release"))
        (root / "dists").mkdir(exist_ok=True)
        _swap_dir(new_suite, suite)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _export_public(key, root, "key")
    log(f"apt repository {root}: {len(added)} package(s) added; {', '.join(archs)}; signed by {key.key}")
    return True


# --- rpm ------------------------------------------------------------------------------------------

def update_rpm(cfg: Config, lc: LinuxPackageConfig, rpms: list[Path], log: Callable[[str], None]) -> bool:
    """Add `rpms` to the rpm repository at lc.repo_dir (createrepo_c --update) and sign repomd.xml."""
    root = lc.repo_dir
    key = gpg_key(cfg, "the rpm repository")
    added = _add_to_pool(rpms, lambda f: root / "Packages")
    if not added and (root / "repodata/repomd.xml.asc").is_file():
        log(f"rpm repository {root}: up to date")
        return False
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".repodata-", dir=root))
    try:
        # createrepo_c writes the new metadata into <outputdir>/repodata; --update reuses what it can.
        argv = ["createrepo_c", "--quiet", "--update", "--outputdir", str(work)]
        argv.append(str(root))
        if (root / "repodata").is_dir():
            shutil.copytree(root / "repodata", work / "repodata")
        proc.run(proc.Command(tuple(argv)))
        _gpg(key, "--armor", "--detach-sign", "--output", str(work / "repodata/repomd.xml.asc"),
             str(work / "repodata/repomd.xml"))
        _swap_dir(work / "repodata", root / "repodata")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _export_public(key, root, f"RPM-GPG-KEY-{lc.name}")
    log(f"rpm repository {root}: {len(added)} package(s) added; repomd.xml signed by {key.key}")
    return True
