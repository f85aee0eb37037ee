"""The npm channel: platform packages and a main package (the esbuild pattern).

format.py (package files, the launcher, deterministic tarballs), stage.py (NpmStage). Publishing
them to a registry is the publish feature's (publish/npm.py)."""
