"""The installer channel: install.sh and install.ps1 for the release's archives.

format.py (the templates filled in), stage.py (InstallerStage)."""
