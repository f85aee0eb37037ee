"""The codesign feature: Windows binaries Authenticode-signed once, right after build and smoke.

authenticode.py: the osslsigncode command (a fixed signing time: the same input gives the same
signed bytes), signing one PE file, verifying one, and signing a target's staged binaries into
dist/.wavrybuild/codesigned/<target>/ (the build record then names the signed copy).
stage.py: `CodesignStage` (`invoke codesign`, and in `invoke release` after smoke). Every later
stage (archives, wheels, npm, .msi/setup.exe, SBOMs) takes the binaries through
`DistState.built`/`DistState.shipped`, which hand out the signed copy: one set of bytes everywhere."""
