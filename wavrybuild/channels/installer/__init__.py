"""wavrybuild.channels.installer."""
