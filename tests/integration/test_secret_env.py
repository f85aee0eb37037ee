"""No credential in the environment reaches a child that does not need it (issue 26, item 3).

A real `invoke build smoke package artifacts` runs with every kind of secret set: the variables a
CI sets by the default names targets.toml leaves out (WAVRYBUILD_MINISIGN_PASSPHRASE and the
like), CARGO_REGISTRIES_<NAME>_TOKEN, CI tokens, a variable a `*-env` key names whose name looks
harmless, and names that only *look* secret. The children dump the environment the kernel gave
them (/proc/self/environ): the build script, a proc-macro (inside rustc), the binary when
smoke-run, and the [[artifacts]] command. None holds a secret, except the one `[project] pass-env`
lets through and the one `[targets.*] env` gives the build on purpose; no value shows in the
output or in any file of dist/."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import invoke, write_files

pytestmark = pytest.mark.integration

SECRETS = {
    # named by default: the docs' CI example sets these and leaves passphrase-env & co. out
    "WAVRYBUILD_MINISIGN_PASSPHRASE": "mini-NeverSeen01", "WAVRYBUILD_GPG_PASSPHRASE": "gpg-NeverSeen02",
    "WAVRYBUILD_AUTHENTICODE_PASSWORD": "p12-NeverSeen03", "SIGSTORE_IDENTITY_TOKEN": "eyJ-NeverSeen04",
    "WAVRYBUILD_MACOS_P12_PASSWORD": "mac-NeverSeen05", "CARGO_REGISTRIES_FOO_TOKEN": "cio-NeverSeen06",
    "CARGO_REGISTRY_TOKEN": "cio-NeverSeen07", "PYPI_TOKEN": "pypi-NeverSeen08",
    # CI tokens
    "GITHUB_TOKEN": "ghp_NeverSeen09", "NPM_TOKEN": "npm_NeverSeen10", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "gha-NeverSeen11",
    # named by a *-env key of this targets.toml, with a name no pattern would catch
    "RELEASE_KEY_PW": "named-NeverSeen12",
    # named by nobody: caught by what the name says
    "MY_API_TOKEN": "tok-NeverSeen13", "db_password": "pw-NeverSeen14", "SENTRY_SECRET": "sec-NeverSeen15",
    "DEPLOY_PRIVATE_KEY": "key-NeverSeen16", "GOOGLE_APPLICATION_CREDENTIALS": "/cred-NeverSeen17.json",
    "NUGET_API_KEY": "nuget-NeverSeen20", "CI_JOB_JWT_V2": "eyJ-NeverSeen21",
}
PASSED = ("CARGO_REGISTRIES_MINE_TOKEN", "passed-ToTheBuild18")  # [project] pass-env lists it
GIVEN = ("SENTRY_AUTH_TOKEN", "sntrys_GivenToTheBuild19")  # [targets.*] env gives it on purpose

FILES = {
    "Cargo.toml": '[workspace]\nmembers = ["app", "envmacro"]\nresolver = "2"\n',
    "app/Cargo.toml": '[package]\nname = "envcheck"\nversion = "1.0.0"\nedition = "2021"\n\n'
                      '[dependencies]\nenvmacro = { path = "../envmacro" }\n',
    # The build script and the proc-macro dump the environment they run in, as the kernel has it.
    "app/build.rs": 'fn main() {\n'
                    '    let env = std::fs::read("/proc/self/environ").unwrap();\n'
                    '    std::fs::write(std::env::var("BUILD_DUMP").unwrap(), env).unwrap();\n'
                    '    println!("cargo:rerun-if-changed=build.rs");\n'
                    '}\n',
    "app/src/main.rs": 'envmacro::dump_env!();\n\n'
                       'fn main() {\n'
                       '    // Smoke-run with the dump file as its argument.\n'
                       '    let path = std::env::args().nth(1).expect("a path");\n'
                       '    std::fs::write(path, std::fs::read("/proc/self/environ").unwrap()).unwrap();\n'
                       '    println!("dumped");\n'
                       '}\n',
    "envmacro/Cargo.toml": '[package]\nname = "envmacro"\nversion = "1.0.0"\nedition = "2021"\n\n'
                           '[lib]\nproc-macro = true\n',
    "envmacro/src/lib.rs": 'use proc_macro::TokenStream;\n\n'
                           '/// Runs inside rustc: what it sees is what every proc-macro sees.\n'
                           '#[proc_macro]\n'
                           'pub fn dump_env(_: TokenStream) -> TokenStream {\n'
                           '    let env = std::fs::read("/proc/self/environ").unwrap();\n'
                           '    std::fs::write(std::env::var("MACRO_DUMP").unwrap(), env).unwrap();\n'
                           '    TokenStream::new()\n'
                           '}\n',
    "make_site.py": 'import pathlib, sys\n'
                    'pathlib.Path(sys.argv[1]).write_bytes(pathlib.Path("/proc/self/environ").read_bytes())\n'
                    'site = pathlib.Path("site")\n'
                    'site.mkdir(exist_ok=True)\n'
                    '(site / "index.html").write_text("<h1>hello</h1>")\n',
    "tasks.py": "from wavrybuild import ns  # noqa: F401\n",
}


def _environ(dump: Path) -> dict[str, str]:
    return dict(e.split("=", 1) for e in dump.read_bytes().decode().split("\0") if e)


def test_build_scripts_proc_macros_smoke_runs_and_artifacts_see_no_secrets(tmp_path: Path,
                                                                          cargo_target_dir: Path) -> None:
    dumps = {what: tmp_path / "dumps" / what for what in ("build-script", "proc-macro", "smoke", "artifacts")}
    dumps["build-script"].parent.mkdir()
    root = write_files(tmp_path / "project", FILES)
    (root / "targets.toml").write_text(
        f'[project]\ncrate = "app"\npass-env = ["{PASSED[0]}"]\n'
        f'[defaults]\nsmoke-args = ["{dumps["smoke"]}"]\nsmoke-expect = "dumped"\n'
        f'[targets.x86_64-unknown-linux-gnu]\n'
        f'env = {{ BUILD_DUMP = "{dumps["build-script"]}", MACRO_DUMP = "{dumps["proc-macro"]}", '
        f'{GIVEN[0]} = "{GIVEN[1]}" }}\n'
        '[sign]\nmethods = []\n[sign.gpg]\nkey = "rel@example.com"\npassphrase-env = "RELEASE_KEY_PW"\n'
        f'[[artifacts]]\nname = "site.tar.gz"\ndirectory = "site"\n'
        f'command = {json.dumps([sys.executable, "make_site.py", str(dumps["artifacts"])])}\n')
    env = {**SECRETS, PASSED[0]: PASSED[1], "CARGO_TARGET_DIR": str(cargo_target_dir / "secret-env")}
    done = invoke("build", "--all", "smoke", "package", "artifacts", cwd=root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed" in done.stdout and (root / "dist" / "site.tar.gz").is_file()

    seen = {what: _environ(path) for what, path in dumps.items()}
    assert "CARGO_PKG_NAME" in seen["build-script"] and "CARGO_PKG_NAME" in seen["proc-macro"]  # they are what they say
    for what, environ in seen.items():
        leaked = sorted(set(SECRETS) & set(environ))
        assert not leaked, f"{what} saw {leaked}"
        blob = dumps[what].read_bytes()
        assert not [k for k, v in SECRETS.items() if v.encode() in blob], what
    # What pass-env lets through reaches builds (a private registry's token); what targets.toml
    # gives the build reaches it too, and neither goes further than asked.
    for what in ("build-script", "proc-macro"):
        assert seen[what][PASSED[0]] == PASSED[1] and seen[what][GIVEN[0]] == GIVEN[1]
    assert GIVEN[0] not in seen["smoke"] and GIVEN[0] not in seen["artifacts"]

    # No value anywhere in the output, nor in any file in dist/ (the build record included).
    values = [*SECRETS.values(), PASSED[1], GIVEN[1]]
    assert not [v for v in values if v in done.stdout + done.stderr]
    assert f"{GIVEN[0]}=***" in done.stderr  # the echoed build command masks what it gives
    for f in (p for p in (root / "dist").rglob("*") if p.is_file()):
        data = f.read_bytes()
        assert not [v for v in values if v.encode() in data], f
