"""Package-manager channels fed from the binaries already built: PyPI wheels, npm packages,
.deb/.rpm (and their repositories), install scripts. Their settings are parsed with the rest of
targets.toml (config/channels.py, config/npm.py) and reach these modules as `cfg.channels`."""
