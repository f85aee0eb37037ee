"""The publish feature: the package registries and the [publish] destinations.

upload.py (`publish`: the registries first — npm from dist/, crates from the source — then every
chosen destination: all credentials read before the first byte, each file put, `finish`),
base.py (the files to publish, the Destination protocol, the HTTP client), github.py, gitlab.py,
pypi.py, destinations.py (HTTP PUT and a directory), npm.py (npm tarballs to their registry),
crates.py (cargo publish), stage.py (PublishStage)."""
