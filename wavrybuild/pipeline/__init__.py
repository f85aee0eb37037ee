"""The machinery every stage runs in: the Stage protocol and Run context (stage.py), the runner
that orders, times, resumes and summarises stages (runner.py). CI fan-out (matrix parts and their merge)
is ci/. Which stages a release runs is release.py's business."""
