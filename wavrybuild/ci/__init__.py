"""wavrybuild.ci."""
