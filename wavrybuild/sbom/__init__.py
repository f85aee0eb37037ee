"""wavrybuild.sbom."""
