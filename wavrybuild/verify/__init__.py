"""The verify feature: `invoke verify`, a release directory checked as a downloader would.

audit.py: `verify_dir` (every file against SHA256SUMS and its sidecars, nothing unlisted,
manifest.json, the provenance statement's subjects, each SBOM's binaries against those inside its
target's archives) and `verify_signatures` (with a targets.toml: each configured signature and
the Authenticode-signed executables, checked by the real tools). It reads what the other features
wrote, so it sits above them; no stage, no writes."""
