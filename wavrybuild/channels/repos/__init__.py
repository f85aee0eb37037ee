"""Signed apt and rpm repositories as static trees under dist/repo.

trees.py (apt pool + dists, createrepo_c, gpg), stage.py (ReposStage)."""
