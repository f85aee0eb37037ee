"""wavrybuild.smoke."""
