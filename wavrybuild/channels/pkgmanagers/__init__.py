"""The package-manager channels: a Homebrew formula, a Scoop manifest and winget manifests that
point at the release's own download URLs with the sha256s of its manifest.

format.py (the three formats, pure), stage.py (PackageManagersStage)."""
