"""Package-manager channels fed from the binaries already built, one package per channel:
wheel/ (PyPI wheels), npm/, linux/ (.deb/.rpm by nfpm), repos/ (signed apt/rpm trees), desktop/
(.app/.dmg, MSI, NSIS), installer/ (install.sh, install.ps1), bindings/ (`invoke wheels`,
cibuildwheel). Each holds its format (pure where it can be) and its stage. Their settings are
parsed with the rest of targets.toml (config/channels.py, config/npm.py, config/desktop.py,
config/bindings.py) and reach them as `cfg.channels`, `cfg.desktop`, `cfg.bindings`."""
