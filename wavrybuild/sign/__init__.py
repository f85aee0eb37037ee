"""The sign feature: the release's checksums and signatures.

sums.py (ChecksumStage: SHA256SUMS and the .sha256 sidecars from the manifest; the SUMS format
itself is core: checksum.py), signatures.py (gpg, minisign, ssh and sigstore jobs for SHA256SUMS
and the provenance statement, and their verification; secrets from files and env vars;
Authenticode signing of Windows binaries, which the package, sbom and desktop stages call),
apple.py (Developer ID signers for .app bundles), stage.py (SignStage). Checking a release
(`invoke verify`) is verify/."""
