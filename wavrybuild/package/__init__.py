"""wavrybuild.package."""
