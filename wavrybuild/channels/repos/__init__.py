"""wavrybuild.channels.repos."""
