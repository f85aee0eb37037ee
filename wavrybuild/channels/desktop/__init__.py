"""wavrybuild.channels.desktop."""
