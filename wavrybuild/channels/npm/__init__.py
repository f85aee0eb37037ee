"""wavrybuild.channels.npm."""
