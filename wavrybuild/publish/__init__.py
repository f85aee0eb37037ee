"""wavrybuild.publish."""
