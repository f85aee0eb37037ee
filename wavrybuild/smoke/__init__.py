"""The smoke feature: run each built binary through its target's runner and check what it prints.

plan.py (SmokeCheck per target and binary: argv, expectation, runner), stage.py (SmokeStage)."""
