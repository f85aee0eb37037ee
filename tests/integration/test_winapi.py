"""A real crate using winapi from Debian's registry (/usr/share/cargo/registry, librust-winapi-dev),
built for x86_64-pc-windows-gnu with the mingw gcc and std from source (issue 28, item 5).

Debian's winapi-x86_64-pc-windows-gnu has no bundled import libraries (lib/libwinapi_*.a), so
without help the link fails (`cannot find -lwinapi_advapi32`). wavrybuild sees that before the
build and sets WINAPI_NO_BUNDLED_LIBRARIES=1, and winapi then links mingw's own import libraries.
The binary cannot run here (Debian 12's wine lacks bcryptprimitives.dll, which Rust's std
imports), so the test reads its PE import table instead: the DLLs and functions winapi's calls
name must be there."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import invoke, write_files
from wavrybuild import proc

REGISTRY = Path("/usr/share/cargo/registry")
TARGET = "x86_64-pc-windows-gnu"

FILES = {
    "Cargo.toml": '[package]\nname = "ticks"\nversion = "0.2.0"\nedition = "2021"\n\n'
                  '[dependencies]\nwinapi = { version = "0.3", features = ["sysinfoapi", "winuser", "winreg"] }\n',
    # Functions from DLLs Rust's std never imports (user32, advapi32's registry API): their imports
    # can only come from winapi's link lines.
    "src/main.rs": """fn main() {
    let ticks = unsafe { winapi::um::sysinfoapi::GetTickCount() };
    let width = unsafe { winapi::um::winuser::GetSystemMetrics(winapi::um::winuser::SM_CXSCREEN) };
    let closed = unsafe { winapi::um::winreg::RegCloseKey(std::ptr::null_mut()) };
    println!("ticks {} {} {} {}", env!("CARGO_PKG_VERSION"), ticks, width, closed);
}
""",
    ".cargo/config.toml": f'[source.crates-io]\nreplace-with = "debian"\n\n[source.debian]\ndirectory = "{REGISTRY}"\n',
    "targets.toml": f'[project]\ncrate = "."\n\n[targets.{TARGET}]\n',
    "tasks.py": "from wavrybuild import ns  # noqa: F401\n",
}


def _imports(objdump: str, exe: Path) -> dict[str, set[str]]:
    """DLL (lower case) -> imported function names, from `objdump -p`'s import tables."""
    text = subprocess.run([objdump, "-p", str(exe)], capture_output=True, text=True, check=True, timeout=120).stdout
    found: dict[str, set[str]] = {}
    dll = None
    for line in text.splitlines():
        if line and not line[0].isspace():
            dll = None  # the next table's title
        m = re.match(r"^\s*DLL Name: (\S+)", line)
        if m:
            dll = m.group(1).lower()
            found.setdefault(dll, set())
            continue
        # "\t120a0\t  642  GetTickCount": the thunk, the hint, the name
        m = re.match(r"^\s+[0-9a-f]+\s+\d+\s+(\w+)\s*$", line)
        if dll and m:
            found[dll].add(m.group(1))
    return found


def test_debian_winapi_links_mingw_import_libraries(tmp_path: Path, cargo_target_dir: Path) -> None:
    gnu = REGISTRY / "winapi-x86_64-pc-windows-gnu-0.4.0"
    if not gnu.is_dir():
        pytest.fail(f"{gnu} missing: `apt-get install librust-winapi-dev` (.ci/setup installs it)")
    assert not list(gnu.glob("lib/libwinapi_*.a")), "Debian's package now bundles the libraries: nothing to test"
    objdump = proc.which("x86_64-w64-mingw32-objdump")
    assert objdump, "x86_64-w64-mingw32-objdump comes with the mingw gcc (`invoke toolchain --install`)"
    write_files(tmp_path, FILES)
    env = {"CARGO_TARGET_DIR": str(cargo_target_dir)}

    # Before any build: doctor sees winapi without its libraries and says what the build will do.
    doctor = invoke("doctor", "--json", cwd=tmp_path, env=env)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    status = next(t for t in json.loads(doctor.stdout)["targets"] if t["target"] == TARGET)
    assert status["buildable"] and any("WINAPI_NO_BUNDLED_LIBRARIES=1" in n for n in status["notes"]), status

    done = invoke("build", "--target", TARGET, cwd=tmp_path, env=env)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "cannot find -lwinapi_" not in out
    assert "WINAPI_NO_BUNDLED_LIBRARIES=1" in out  # the note, and the echoed command's env
    exe = tmp_path / "dist/.wavrybuild/bin" / TARGET / "ticks.exe"
    assert exe.read_bytes()[:2] == b"MZ"
    imports = _imports(objdump, exe)
    assert "GetSystemMetrics" in imports.get("user32.dll", set()), imports
    assert "RegCloseKey" in imports.get("advapi32.dll", set()), imports
    assert "GetTickCount" in imports.get("kernel32.dll", set()), imports
    # mingw's import libraries name the DLLs themselves, not winapi's renamed stubs.
    assert not any(name.startswith("winapi_") for name in imports), imports

    # The variable is part of the build's key: the next build is a no-op.
    again = invoke("build", "--target", TARGET, cwd=tmp_path, env=env)
    assert again.returncode == 0 and "up to date" in again.stdout, again.stdout + again.stderr
