"""wavrybuild.provenance."""
