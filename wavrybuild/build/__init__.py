"""The build feature: every chosen target compiled into dist/.wavrybuild/bin/<target>/.

plan.py (BuildStep per target, grouping and lanes, executing a step, the build record),
builders.py (cargo / cargo-zigbuild: the argv and env of one invocation), freshness.py (what a
build read beyond the workspace, checked before a skip), sources.py (the crates.io replacement
build-std needs), macho.py (universal2 join, code-signature check), stage.py (BuildStage)."""
