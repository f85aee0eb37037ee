"""The provenance feature: a SLSA v1 statement over every artifact of the release.

slsa.py (the in-toto statement, pure), stage.py (ProvenanceStage)."""
