"""The desktop stage ([desktop]): for each macOS target a <Name>.app in a .dmg, for each Windows
target an MSI (wixl) and an NSIS setup.exe (makensis), Authenticode-signed with [sign]
authenticode (the .exe files inside are the ones the codesign stage signed; this stage signs the
installers themselves). Linux desktop entries go into the .deb/.rpm (channels/linux/stage.py).

Every file is made in a private temp dir and enters dist/ through one Transaction, so a failure
leaves no half-written image; the same inputs give the same bytes (file dates are the release's
SOURCE_DATE_EPOCH, the MSI's codes and summary dates are derived, not random)."""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from ... import proc
from ...codesign.authenticode import authenticode_sign
from ...config import Bundle, Config, TargetConfig
from ...config.desktop import DesktopConfig
from ...dist import Transaction, writes
from ...errors import ConfigError, ToolMissing
from ...pipeline.stage import Planned, Run, configured
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
                    "{" + fmt.product_code(d, version + " package " + arch) + "}"))]
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

    def _bundle(self, run: Run, d: DesktopConfig) -> Bundle:
        return next(b for b in run.cfg.bundles if d.binary in b.binaries)

    def plan(self, run: Run) -> Sequence[Planned]:
        d = self._config(run)
        view = run.cfg.view(self._bundle(run, d))
        dist, tmp = run.state.dist, Path("<tmp>")
        epoch = run.state.manifest.source_date_epoch if run.state.manifest else 0
        version = view.project.version
        out: list[Planned] = []
        for t in self._targets(run):
            if t.triple.os == "macos":
                try:
                    mac = signer(d.macos, t.id)
                except ToolMissing as exc:  # a dry run says so; the real one stops there
                    out.append(Planned(f"cannot make {dmg_name(view, t)} here: {exc.message}; {exc.hint}"))
                    continue
                how = "ad-hoc signed only" if mac is None else f"signed by {d.macos.identity}" + (
                    ", notarized and stapled" if d.macos.notarize else "")
                out.append(Planned(f"would write {dist / dmg_name(view, t)} ({d.name}.app, {how})"))
                app, dmg = tmp / "image" / f"{d.name}.app", tmp / dmg_name(view, t)
                steps = mac.plan(app, [d.binary], dmg, tmp / "p12-password") if mac else []
                image = (hdiutil_dmg(tmp / "image", dmg, d.name) if mac is not None and mac.name == "codesign"
                         else xorriso_dmg(tmp / "image", dmg, d.name, epoch))
                cmds = [st.command for st in steps if st.when == "app"] + [image]
                cmds += [st.command for st in steps if st.when == "dmg"]
                out += [Planned(c.display(), command=True) for c in cmds]
                continue
            signed = "authenticode" in run.cfg.sign.methods
            arch = WIXL_ARCH.get(t.triple.arch, "?")
            for kind, name, cmds in (("msi", msi_name(view, t), msi_commands(d, version, arch, tmp)),
                                     ("nsis", setup_name(view, t), [nsis_command(tmp)])):
                if kind not in d.windows_formats:
                    continue
                out.append(Planned(f"would write {dist / name}" + (" (Authenticode-signed)" if signed else "")))
                out += [Planned(c.display(), command=True) for c in cmds]
                if signed:
                    out.append(Planned(f"osslsigncode sign -pkcs12 … -in {tmp / name} -out {tmp / name}.signed",
                                       command=True))
        return out or [Planned("no macOS or Windows target: nothing to bundle ([desktop] entries go into .deb/.rpm)")]

    def keys(self, run: Run) -> Mapping[str, str | None]:
        return {}

    def run(self, run: Run, todo: Sequence[str] | None) -> bool:
        d = self._config(run)
        cfg = run.cfg
        bundle = self._bundle(run, d)
        view = cfg.view(bundle)
        manifest = run.state.require_manifest()
        mtime = manifest.source_date_epoch
        targets = self._targets(run)
        tx = Transaction(run.state, None, manifest)  # three kinds: dmg, msi, setup
        rows: list[tuple[str, str, str, str]] = []
        work = Path(tempfile.mkdtemp(prefix="wavrybuild-desktop-"))
        try:
            for t, names, paths in run.state.built(view, targets, "a desktop bundle", bundle):
                files = dict(zip(names, paths, strict=True))
                if t.triple.os == "macos":
                    made = [self._dmg(run, d, view, t, files, work / t.id, mtime)]
                else:  # the .exe files as the codesign stage signed them (DistState.built)
                    made = self._windows(run, d, view, t, files, work / t.id, mtime)
                for name, kind, path, note in made:
                    a = tx.add(name, writes(path.read_bytes()), target=t.id, triple=str(t.triple), fmt=kind, kind=kind,
                               binaries=names, packages=bundle.packages,
                               authenticode=kind != "dmg" and "authenticode" in cfg.sign.methods)
                    rows.append((t.id, name, human_size(a.size), note))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        ids = {t.id for t in targets}
        changed = tx.commit(lambda a: a.kind in KINDS and a.target in ids)
        if rows:
            run.ui.table("Desktop bundles", ["target", "file", "size", "signature"], rows)
        return changed

    # --- macOS ---------------------------------------------------------------------------------

    def _dmg(self, run: Run, d: DesktopConfig, view: Config, t: TargetConfig, binaries: dict[str, Path],
             work: Path, mtime: int) -> tuple[str, str, Path, str]:
        mac: MacSigner | None = signer(d.macos, t.id)
        root = work / "image"
        root.mkdir(parents=True)
        app = fmt.write_app(d, view.project.version, binaries, root, mtime)
        out = work / dmg_name(view, t)
        names = sorted(binaries)
        if mac is None:
            run.ui.warn(f"{t.id}: {d.name}.app is ad-hoc signed only (no [desktop.macos] identity): "
                        "Gatekeeper will ask users to confirm the first start")
        password = Secret(d.macos.p12_password_env) if mac is not None and mac.name == "rcodesign" else None
        with secret_file(password.value) if password else contextlib.nullcontext() as pwfile:
            steps = mac.plan(app, names, out, pwfile) if mac else []
            secrets = (password.value,) if password else ()
            for step in (s for s in steps if s.when == "app"):
                run.ui.command(step.command.display())
                proc.run(step.command, secrets=secrets)
            if mac is not None and mac.name == "codesign":
                cmd = hdiutil_dmg(root, out, d.name)
            else:
                _tool("xorriso", "the .dmg")
                cmd = xorriso_dmg(root, out, d.name, mtime)
            run.ui.command(cmd.display())
            proc.run(cmd)
            for step in (s for s in steps if s.when == "dmg"):
                run.ui.command(step.command.display())
                proc.run(step.command, secrets=secrets)
        note = "ad-hoc" if mac is None else f"Developer ID ({mac.name})" + (", notarized" if d.macos.notarize else "")
        return dmg_name(view, t), "dmg", out, note

    # --- Windows -------------------------------------------------------------------------------

    def _windows(self, run: Run, d: DesktopConfig, view: Config, t: TargetConfig, exes: dict[str, Path],
                 work: Path, mtime: int) -> list[tuple[str, str, Path, str]]:
        arch = WIXL_ARCH.get(t.triple.arch)
        if arch is None and "msi" in d.windows_formats:
            raise ConfigError(f"desktop.windows.formats: wixl makes MSIs for x86 and x64 only, not {t.triple}",
                              hint='set formats = ["nsis"] for this app, or drop the target')
        work.mkdir(parents=True)
        files = []
        for name, src in exes.items():
            shutil.copyfile(src, work / f"{name}.exe")
            # The MSI's cabinet records each file's date: the release's, not the copy's.
            os.utime(work / f"{name}.exe", (mtime, mtime))
            files.append(f"{name}.exe")
        icon = None
        if d.icon is not None:
            (work / "app.ico").write_bytes(fmt.ico(d.icon))
            icon = "app.ico"
        version = view.project.version
        sign = "authenticode" in run.cfg.sign.methods
        made: list[tuple[str, str, Path, str]] = []
        note = "Authenticode" if sign else "unsigned"
        if "msi" in d.windows_formats:
            assert arch is not None
            for tool in ("wixl", "msibuild"):
                _tool(tool, "the MSI")
            (work / "app.wxs").write_text(fmt.wix_source(d, version, files, arch, icon=icon))
            msi = work / "unsigned.msi"
            for cmd in msi_commands(d, version, arch, work):
                run.ui.command(cmd.display())
                proc.run(cmd)
            fix_msi_dates(msi, mtime)
            made.append((msi_name(view, t), "msi", self._sign(run, msi, work, mtime), note))
        if "nsis" in d.windows_formats:
            _tool("makensis", "setup.exe")
            (work / "setup.nsi").write_text(
                fmt.nsis_script(d, version, files, "unsigned-setup.exe", win64=t.triple.arch in ("x86_64", "aarch64"),
                                icon=icon))
            cmd = nsis_command(work)
            run.ui.command(cmd.display())
            proc.run(cmd)
            made.append((setup_name(view, t), "setup", self._sign(run, work / "unsigned-setup.exe", work, mtime), note))
        return made

    def _sign(self, run: Run, path: Path, work: Path, mtime: int) -> Path:
        if "authenticode" not in run.cfg.sign.methods:
            return path
        out = path.with_name("signed-" + path.name)
        authenticode_sign(run.cfg, path, out, work / "tmp", mtime)
        return out
