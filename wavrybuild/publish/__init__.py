"""The publish feature: dist/ uploaded to the [publish] destinations, and the registries.

upload.py (publish(): open the configured destinations, upload, finish; npm and crates
registries), base.py (the files to publish, the Destination protocol, the HTTP client),
github.py, gitlab.py, pypi.py, destinations.py (HTTP PUT and directory), crates.py (cargo
publish), stage.py (PublishStage)."""
