"""wavrybuild.channels.bindings."""
