"""The notes feature: dist/RELEASE_NOTES.md.

changelog.py (the changelog section, the artifact table, how to verify; pure), stage.py (NotesStage)."""
