"""The desktop channel: .app in a .dmg, MSI (wixl), NSIS setup.exe.

format.py (Info.plist, .desktop entries, WiX and NSIS sources, icons; pure but for write_app),
stage.py (DesktopStage: runs the tools, signs, writes through a transaction)."""
