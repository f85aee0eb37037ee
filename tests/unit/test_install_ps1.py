"""install.ps1's hardening, checked on its text: no PowerShell runs on this machine (Debian ships none
and its installers download from GitHub), so these are structure checks, not a run. install.sh gets
the real runs (tests/integration/test_linux_channels.py)."""

from __future__ import annotations

from importlib import resources

SCRIPT = resources.files("wavrybuild").joinpath("resources/installer/install.ps1").read_text()
LINES = [ln for ln in SCRIPT.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def test_everything_runs_from_one_function_called_last() -> None:
    """A truncated `irm … | iex` must do nothing: the last line calls the function that does it all."""
    assert LINES[-1] == "Install-Release"
    start = next(i for i, ln in enumerate(LINES) if ln.startswith("function Install-Release {"))
    downloads = [i for i, ln in enumerate(LINES) if "Invoke-WebRequest" in ln or "New-Item" in ln]
    assert downloads and all(i > start for i in downloads)
    # Before the function: only assignments, the here-string table and the Fail helper — no action.
    for ln in LINES[:start]:
        assert not any(word in ln for word in ("Invoke-WebRequest", "Copy-Item", "Move-Item", "Expand-Archive"))


def test_https_only_tls12_and_signature_required_when_keyed() -> None:
    assert "if (-not $BaseUrl.StartsWith('https://')) { Fail" in SCRIPT
    assert "[Net.SecurityProtocolType]::Tls12" in SCRIPT
    # A configured minisign key means the check is required; skipping it takes the documented variable.
    assert "WAVRYBUILD_INSTALL_NO_SIGNATURE -eq '1'" in SCRIPT and "Fail \"minisign is needed" in SCRIPT
    assert "refusing to install" in SCRIPT
