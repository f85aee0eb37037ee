"""wavrybuild.channels.linux."""
