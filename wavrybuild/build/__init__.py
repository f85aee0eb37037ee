"""wavrybuild.build."""
