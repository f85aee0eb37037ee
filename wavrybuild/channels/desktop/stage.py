"""The desktop stage ([desktop]): for each macOS target a <Name>.app in a .dmg, for each Windows
target an MSI (wixl) and an NSIS setup.exe (makensis), Authenticode-signed with [sign]
authenticode (the .exe files inside are the ones the codesign stage signed; this stage signs the
installers themselves). Linux desktop entries go into the .deb/.rpm (channels/linux/stage.py).

Every file is made in a private temp dir and enters dist/ through one Transaction, so a failure
leaves no half-written image; the same inputs give the same bytes (file dates are the release's
SOURCE_DATE_EPOCH, the MSI's codes and summary dates are derived, not random)."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import struct
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ... import proc
from ...codesign.authenticode import authenticode_sign
from ...config import Bundle, Config, TargetConfig
from ...config.desktop import DesktopConfig
from ...dist import Transaction, writes
from ...errors import ConfigError, ToolMissing
from ...fsutil import tmp_dir
from ...pipeline.requirements import Requirement, Tool
from ...pipeline.stage import Planned, Run, Step, configured
from ...proc import Command
from ...sign.apple import MacSigner, signer
from ...sign.signatures import Secret, secret_file
from ...ui import human_size
from . import format as fmt

TOOLS = {"xorriso": "xorriso", "wixl": "wixl", "msibuild": "msitools", "makensis": "nsis"}
KINDS = ("dmg", "msi", "setup")
WIXL_ARCH = {"x86_64": "x64", "i686": "x86", "i586": "x86"}


def _tool(name: str, what: str) -> None:
    if proc.which(name) is None:
        raise ToolMissing(f"[desktop]: {name} not found (it makes {what})", hint=f"apt-get install {TOOLS[name]}")


def dmg_name(view: Config, t: TargetConfig) -> str:
    return f"{view.project.name}-{view.project.version}-{t.id}.dmg"


def msi_name(view: Config, t: TargetConfig) -> str:
    return f"{view.project.name}-{view.project.version}-{t.id}.msi"


def setup_name(view: Config, t: TargetConfig) -> str:
    return f"{view.project.name}-{view.project.version}-{t.id}-setup.exe"


def xorriso_dmg(root: Path, out: Path, volume: str, mtime: int) -> Command:
    """An ISO 9660 + HFS+ hybrid with an Apple partition map: macOS mounts it as a disk image
    (HFS+ keeps the /Applications symlink and the modes), and xorriso dates everything with
    SOURCE_DATE_EPOCH, so the bytes are reproducible."""
    return Command(("xorriso", "-no_rc", "-as", "mkisofs", "-quiet", "-V", volume[:32], "-r", "-hfsplus",
                    "-apm-block-size", "2048", "-o", str(out), str(root)), {"SOURCE_DATE_EPOCH": str(mtime)})


def hdiutil_dmg(root: Path, out: Path, volume: str) -> Command:
    """On a Mac that signs and notarizes: a compressed UDIF image, which codesign can sign."""
    return Command(("hdiutil", "create", "-volname", volume, "-srcfolder", str(root), "-ov", "-format", "UDZO", str(out)))


def msi_commands(d: DesktopConfig, version: str, arch: str, work: Path) -> list[Command]:
    """wixl on work/app.wxs, then msibuild: a derived package code (the summary's revision, which
    wixl makes random) and, for a CLI, the PATH entry wixl cannot express."""
    msi = work / "unsigned.msi"
    out = [Command(("wixl", "-a", arch, "-o", str(msi), "app.wxs"), cwd=work),
           Command(("msibuild", str(msi), "-s", d.name, d.manufacturer, f"{arch};1033",
                    "{" + fmt.package_code(d, version, arch) + "}"))]
    if not d.gui:
        out.append(Command(("msibuild", str(msi), "-q", fmt.ENVIRONMENT_TABLE, "-q", fmt.path_query(d))))
    return out


def nsis_command(work: Path) -> Command:
    return Command(("makensis", "-V2", "-INPUTCHARSET", "UTF8", "setup.nsi"), cwd=work)


def fix_msi_dates(path: Path, epoch: int) -> None:
    """wixl stamps the summary information with the build time; the release's time instead.
    The stream keeps its size, so olefile rewrites it in place."""
    try:
        import olefile  # type: ignore[import-untyped]
    except ImportError:
        raise ToolMissing("[desktop]: olefile is not installed (it keeps MSIs reproducible)",
                          hint="pip install 'wavrybuild[desktop]'") from None
    filetime = (epoch + 11644473600) * 10_000_000
    name = "\x05SummaryInformation"
    with olefile.OleFileIO(str(path), write_mode=True) as ole:
        data = bytearray(ole.openstream(name).read())
        section = struct.unpack_from("<I", data, 44)[0]  # after the header and the section's FMTID
        _, count = struct.unpack_from("<II", data, section)
        for i in range(count):
            pid, offset = struct.unpack_from("<II", data, section + 8 + 8 * i)
            vt = struct.unpack_from("<I", data, section + offset)[0]
            if pid in (11, 12, 13) and vt == 64:  # last printed, created, last saved: VT_FILETIME
                struct.pack_into("<Q", data, section + offset + 4, filetime)
        ole.write_stream(name, bytes(data))


class DesktopStage:
    name: ClassVar[str] = "desktop"

    def __init__(self, *, chosen: bool = False) -> None:
        self.chosen = chosen  # the run's targets must all be built (release); else the built ones

    def applies(self, run: Run) -> bool:
        return run.cfg.desktop is not None

    def _config(self, run: Run) -> DesktopConfig:
        return configured(run, run.cfg.desktop, "desktop",
                          'add [desktop] with bundle-id = "com.example.app" (docs/desktop.md)')

    def _targets(self, run: Run) -> list[TargetConfig]:
        built = run.state.built_ids()
        return [t for t in run.targets if t.triple.os in ("macos", "windows") and (self.chosen or t.id in built)]

    def requires(self, run: Run) -> Sequence[Requirement]:
        """xorriso for a .dmg made here (not by macOS's own hdiutil), wixl for an MSI, makensis for setup.exe."""
        d = self._config(run)
        oses = {t.triple.os for t in run.targets}
        out: list[Requirement] = []
        if "macos" in oses and sys.platform != "darwin":
            out.append(Tool("xorriso", "desktop (the .dmg)", f"apt-get install {TOOLS['xorriso']}"))
        if "windows" in oses:
            wanted = {"msi": ("wixl", "msibuild"), "nsis": ("makensis",)}
            out += [Tool(p, f"desktop.windows.formats: {f}", f"apt-get install {TOOLS[p]}")
                    for f in d.windows_formats for p in wanted[f]]
        return out

    def _bundle(self, run: Run, d: DesktopConfig) -> Bundle:
        return next(b for b in run.cfg.bundles if d.binary in b.binaries)

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return {}

    def steps(self, run: Run, todo: Sequence[str] | None) -> Sequence[Step]:
        """Per target: its inputs written into a work dir of its own, then each tool's command, then
        the signed file added to the transaction; the last step commits them all. The work dir's
        path is the same in a dry run, so the commands shown are the ones that run."""
        d = self._config(run)
        bundle = self._bundle(run, d)
        view = run.cfg.view(bundle)
        manifest = run.state.manifest if run.dry else run.state.require_manifest()
        mtime = manifest.source_date_epoch if manifest else 0
        targets = self._targets(run)
        work = tmp_dir(run.state.dist) / f"desktop-{os.getpid()}"
        job = _Job(run, d, view, bundle, mtime,
                   functools.cache(lambda: Transaction(run.state, None, run.state.require_manifest())))
        out: list[Step] = []
        for t in targets:
            out += (self._dmg if t.triple.os == "macos" else self._windows)(job, t, work / t.id)
        if not out:
            return [Step.write("no macOS or Windows target: nothing to bundle ([desktop] entries go into .deb/.rpm)")]

        def commit() -> bool:
            shutil.rmtree(work, ignore_errors=True)
            ids = {t.id for t in targets}
            changed = job.tx().commit(lambda a: a.kind in KINDS and a.target in ids)
            if job.rows:
                run.ui.table("Desktop bundles", ["target", "file", "size", "signature"], job.rows)
            return changed

        # A failed step leaves the work dir in dist/.wavrybuild/tmp, which the next package run clears.
        return [Step.finish(lambda: shutil.rmtree(work, ignore_errors=True)), *out, Step.finish(commit)]

    # --- macOS ---------------------------------------------------------------------------------

    def _dmg(self, job: _Job, t: TargetConfig, work: Path) -> list[Step]:
        """The .app in a .dmg: one step (an rcodesign password file lives only while it runs),
        followed by the commands it runs and echoes (the password file's path is a placeholder)."""
        d, view, mtime = job.d, job.view, job.mtime
        try:
            mac: MacSigner | None = signer(d.macos, t.id)
        except ToolMissing as exc:  # a dry run says so; the real one stops there
            if not job.run.dry:
                raise
            return [Step.write(f"cannot make {dmg_name(view, t)} here: {exc.message}; {exc.hint}")]
        root, out = work / "image", work / dmg_name(view, t)
        app = root / f"{d.name}.app"
        codesign = mac is not None and mac.name == "codesign"
        image = hdiutil_dmg(root, out, d.name) if codesign else xorriso_dmg(root, out, d.name, mtime)

        def make() -> None:
            ((_t, names, paths),) = job.run.state.built(view, [t], "a desktop bundle", job.bundle)
            root.mkdir(parents=True)
            fmt.write_app(d, view.project.version, dict(zip(names, paths, strict=True)), root, mtime)
            if mac is None:
                job.run.ui.warn(f"{t.id}: {d.name}.app is ad-hoc signed only (no [desktop.macos] identity): "
                                "Gatekeeper will ask users to confirm the first start")
            if not codesign:
                _tool("xorriso", "the .dmg")
            password = Secret(d.macos.p12_password_env) if mac is not None and mac.name == "rcodesign" else None
            with secret_file(password.value) if password else contextlib.nullcontext() as pwfile:
                steps = mac.plan(app, sorted(names), out, pwfile) if mac else []
                secrets = (password.value,) if password else ()
                for cmd in [s.command for s in steps if s.when == "app"] + [image]:
                    job.run.ui.command(cmd.display())
                    proc.run(cmd, secrets=secrets if cmd is not image else ())
                for step in (s for s in steps if s.when == "dmg"):
                    job.run.ui.command(step.command.display())
                    proc.run(step.command, secrets=secrets)
            note = "ad-hoc" if mac is None else f"Developer ID ({mac.name})" + (", notarized" if d.macos.notarize else "")
            job.add(t, dmg_name(view, t), "dmg", out, names, note)

        how = "ad-hoc signed only" if mac is None else f"signed by {d.macos.identity}" + (
            ", notarized and stapled" if d.macos.notarize else "")
        planned = mac.plan(app, [d.binary], out, work / "p12-password") if mac else []
        cmds = [s.command for s in planned if s.when == "app"] + [image] + [s.command for s in planned if s.when == "dmg"]
        return [Step.write(f"would write {job.run.state.dist / dmg_name(view, t)} ({d.name}.app, {how})", make),
                *(Step(Planned(c.display(), command=True)) for c in cmds)]

    # --- Windows -------------------------------------------------------------------------------

    def _windows(self, job: _Job, t: TargetConfig, work: Path) -> list[Step]:
        d, view = job.d, job.view
        arch = WIXL_ARCH.get(t.triple.arch)
        if arch is None and "msi" in d.windows_formats and not job.run.dry:
            raise ConfigError(f"desktop.windows.formats: wixl makes MSIs for x86 and x64 only, not {t.triple}",
                              hint='set formats = ["nsis"] for this app, or drop the target')
        w = _Windows(job, t, work, arch or "?", "authenticode" in job.run.cfg.sign.methods)
        version, dist = view.project.version, job.run.state.dist
        steps = [Step.finish(w.copy)]
        for kind, name, prepare, cmds, unsigned in (
                ("msi", msi_name(view, t), w.wxs, msi_commands(d, version, w.arch, work), work / "unsigned.msi"),
                ("setup", setup_name(view, t), w.nsi, [nsis_command(work)], work / "unsigned-setup.exe")):
            if ("nsis" if kind == "setup" else kind) not in d.windows_formats:
                continue
            steps.append(Step.write(f"would write {dist / name}" + (" (Authenticode-signed)" if w.signed else ""), prepare))
            steps += [Step.command(c) for c in cmds]
            done = functools.partial(w.finish, name, kind, unsigned)
            # authenticode_sign runs osslsigncode itself (the password through a file it makes): shown, not echoed.
            signing = f"osslsigncode sign -pkcs12 … -in {unsigned} -out {unsigned.with_name('signed-' + unsigned.name)}"
            steps.append(Step(Planned(signing, command=True), done, quiet=True) if w.signed else Step.finish(done))
        return steps


@dataclass
class _Windows:
    """One Windows target's installers: the inputs written into its work dir, the results signed and added."""

    job: _Job
    t: TargetConfig
    work: Path
    arch: str
    signed: bool
    exes: list[str] = field(default_factory=list)
    icon: str | None = None

    def copy(self) -> None:
        """The .exe files as the codesign stage signed them (DistState.built)."""
        job, work, mtime = self.job, self.work, self.job.mtime
        ((_t, names, paths),) = job.run.state.built(job.view, [self.t], "a desktop bundle", job.bundle)
        work.mkdir(parents=True)
        for name, src in zip(names, paths, strict=True):
            shutil.copyfile(src, work / f"{name}.exe")
            # The MSI's cabinet records each file's date: the release's, not the copy's.
            os.utime(work / f"{name}.exe", (mtime, mtime))
            self.exes.append(f"{name}.exe")
        if job.d.icon is not None:
            (work / "app.ico").write_bytes(fmt.ico(job.d.icon))
            self.icon = "app.ico"

    def wxs(self) -> None:
        for tool in ("wixl", "msibuild"):
            _tool(tool, "the MSI")
        d = self.job.d
        (self.work / "app.wxs").write_text(fmt.wix_source(d, self.job.view.project.version, self.exes, self.arch,
                                                          icon=self.icon))

    def nsi(self) -> None:
        _tool("makensis", "setup.exe")
        (self.work / "setup.nsi").write_text(
            fmt.nsis_script(self.job.d, self.job.view.project.version, self.exes, "unsigned-setup.exe",
                            win64=self.t.triple.arch in ("x86_64", "aarch64"), icon=self.icon))

    def finish(self, name: str, kind: str, path: Path) -> None:
        if kind == "msi":
            fix_msi_dates(path, self.job.mtime)
        if self.signed:
            out = path.with_name("signed-" + path.name)
            authenticode_sign(self.job.run.cfg, path, out, self.work / "tmp", self.job.mtime)
            path = out
        self.job.add(self.t, name, kind, path, [e.removesuffix(".exe") for e in self.exes],
                     "Authenticode" if self.signed else "unsigned")


@dataclass
class _Job:
    """What every step of one desktop run shares: the settings, the transaction, the table's rows."""

    run: Run
    d: DesktopConfig
    view: Config
    bundle: Bundle
    mtime: int
    tx: Callable[[], Transaction]
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)

    def add(self, t: TargetConfig, name: str, kind: str, path: Path, names: list[str], note: str) -> None:
        a = self.tx().add(name, writes(path.read_bytes()), target=t.id, triple=str(t.triple), fmt=kind, kind=kind,
                          binaries=names, packages=self.bundle.packages,
                          authenticode=kind != "dmg" and "authenticode" in self.run.cfg.sign.methods)
        self.rows.append((t.id, name, human_size(a.size), note))
