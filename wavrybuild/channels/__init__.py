"""Distribution channels that repackage the already-built binaries (no rebuild)."""
