"""The .deb/.rpm channel.

nfpm.py (file names and the nfpm config), stage.py (LinuxStage: nfpm per Linux target, rpm
signing)."""
