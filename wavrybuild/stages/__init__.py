"""One module per stage, each a class following pipeline.stage.Stage: toolchain, build, smoke,
package, wheel, npm, linux (.deb/.rpm), installer, checksum, sign, repos, publish (and merge, in
pipeline/merge.py). A new channel is a new module here plus a line in pipeline/__init__.py."""
