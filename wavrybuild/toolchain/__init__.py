"""The toolchain feature: can this machine build each target, and what would make it so.

probe.py (read-only discovery: Rust toolchains, std sources, builder, linker and runner per target;
TargetStatus, Tools), pins.py (rust-toolchain.toml / rustup overrides), provision.py (install_plan:
what is missing turned into commands, pure apart from file probes), sccache.py (the shared compile
cache's status and counters), stage.py (ToolchainStage; the `invoke toolchain` / `doctor` report and
`--install`)."""
