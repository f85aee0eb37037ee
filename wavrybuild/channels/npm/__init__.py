"""The npm channel: platform packages and a main package (the esbuild pattern).

format.py (package files and tarballs; also `publish_npm`, which the publish feature calls),
stage.py (NpmStage)."""
