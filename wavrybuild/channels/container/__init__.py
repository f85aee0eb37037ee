"""The container channel ([channels.container]): a multi-arch OCI image of the built binaries,
made by our own Python without a Docker daemon (`format.py`: layers, configs, manifests, the
index and the OCI image layout, reproducible), the OCI distribution API client that fetches a
pinned base image and pushes (`registry.py`), and `stage.py` (`ContainerStage`). The push itself
is `publish/container.py`."""
