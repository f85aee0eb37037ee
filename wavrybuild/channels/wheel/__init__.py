"""The PyPI channel: wheels carrying the built binaries as scripts.

format.py (wheel files, tags and the archive; pure but for writing it), stage.py (WheelStage)."""
