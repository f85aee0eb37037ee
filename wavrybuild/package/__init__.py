"""The package feature: each built target in a reproducible archive, and dist/manifest.json.

plan.py (which files go into each archive, checked before anything is written), archive.py
(deterministic tar.gz / zip writers, hashed while written), stage.py (PackageStage),
artifacts.py (ArtifactsStage: [[artifacts]] commands, their directories archived the same way)."""
