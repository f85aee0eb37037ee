"""wavrybuild.channels.wheel."""
