"""The sbom feature: CycloneDX SBOMs per target from cargo's dependency graph.

cyclonedx.py (the document, pure), stage.py (SbomStage)."""
