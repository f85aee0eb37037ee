"""wavrybuild.toolchain."""
