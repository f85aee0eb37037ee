"""wavrybuild.notes."""
