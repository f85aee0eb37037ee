"""Crates with Python bindings: `invoke wheels` (cibuildwheel); not a release stage.

plan.py (the cibuildwheel matrix from [bindings] and the targets), run.py (run_wheels)."""
