"""wavrybuild.sign."""
