"""Credentials in the environment (CI tokens, and every variable a *-env key of targets.toml names)
never reach cargo, build scripts or the smoke-run binaries: checked from inside a real build
script (its own /proc/self/environ) and a real binary."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import invoke, write_files

SECRETS = {"GITHUB_TOKEN": "ghp_NeverSeenInABuild1", "NPM_TOKEN": "npm_NeverSeenInABuild2",
           "MY_GPG_PASS": "passphrase-NeverSeen3"}
TARGET_SECRET = "sntrys_GivenToTheBuildOnly4"

FILES = {
    "Cargo.toml": '[package]\nname = "envcheck"\nversion = "1.0.0"\nedition = "2021"\n',
    # The build script dumps its whole environment, as the kernel has it, where the test can read it.
    "build.rs": 'fn main() {\n'
                '    let env = std::fs::read("/proc/self/environ").unwrap();\n'
                '    std::fs::write(std::env::var("ENV_DUMP").unwrap(), env).unwrap();\n'
                '    println!("cargo:rerun-if-changed=build.rs");\n'
                '}\n',
    "src/main.rs": 'fn main() {\n'
                   '    let seen: Vec<&str> = ["GITHUB_TOKEN", "NPM_TOKEN", "MY_GPG_PASS"].into_iter()\n'
                   '        .filter(|k| std::env::var(k).is_ok()).collect();\n'
                   '    println!("secrets seen: [{}]", seen.join(","));\n'
                   '}\n',
    "tasks.py": "from wavrybuild import ns  # noqa: F401\n",
}


def test_build_scripts_and_smoke_runs_see_no_credentials(tmp_path: Path, cargo_target_dir: Path) -> None:
    dump = tmp_path / "build-script-environ"
    write_files(tmp_path, FILES, lock=False)
    (tmp_path / "targets.toml").write_text(
        '[project]\ncrate = "."\n[defaults]\nsmoke-expect = "secrets seen: []"\n'
        f'[targets.x86_64-unknown-linux-gnu]\nenv = {{ ENV_DUMP = "{dump}", SENTRY_AUTH_TOKEN = "{TARGET_SECRET}" }}\n'
        '[sign]\nmethods = []\n[sign.gpg]\nkey = "rel@example.com"\npassphrase-env = "MY_GPG_PASS"\n')
    env = {**SECRETS, "CARGO_TARGET_DIR": str(cargo_target_dir / "envcheck")}
    done = invoke("build", "--all", "smoke", "package", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed" in done.stdout
    environ = dump.read_bytes().split(b"\0")
    names = {e.split(b"=", 1)[0].decode() for e in environ if e}
    assert "CARGO_PKG_NAME" in names  # it is a build script's environment
    assert not names & set(SECRETS), names & set(SECRETS)
    blob = dump.read_bytes()
    assert all(v.encode() not in blob for v in SECRETS.values())
    # The build script does get what targets.toml gives it on purpose.
    assert b"SENTRY_AUTH_TOKEN=" + TARGET_SECRET.encode() in environ
    # And none of the values shows anywhere in the output, nor in any file in dist/ (records included).
    values = [*SECRETS.values(), TARGET_SECRET]
    assert all(v not in done.stdout + done.stderr for v in values)
    assert "SENTRY_AUTH_TOKEN=***" in done.stderr  # the echoed build command masks it
    for f in (p for p in (tmp_path / "dist").rglob("*") if p.is_file()):
        data = f.read_bytes()
        assert not [v for v in values if v.encode() in data], f
    assert os.environ.get("GITHUB_TOKEN") != SECRETS["GITHUB_TOKEN"]
