"""One `invoke release` with every destination configured: the notes, a GitHub release (FAKE API),
a GitLab package + Release (FAKE API), PyPI (a real pypiserver), npm (a real verdaccio) and
crates.io (a FAKE cargo registry: real `cargo package`, uploaded through its web API). Everything is uploaded
once; a rerun changes nothing in dist/ and sends nothing anywhere."""

from __future__ import annotations

import hashlib
from pathlib import Path

import requests

from tests.conftest import git_commit, invoke, write_files
from tests.integration.servers import local_server, pypiserver, verdaccio
from tests.integration.test_publish import TOKEN as GH_TOKEN
from tests.integration.test_publish import FakeGitHub
from tests.integration.test_publish import _handler as github_handler
from tests.integration.test_publish_crates import TOKEN as CRATES_TOKEN
from tests.integration.test_publish_crates import FakeRegistry
from tests.integration.test_publish_crates import _handler as registry_handler
from tests.integration.test_publish_gitlab import TOKEN as GL_TOKEN
from tests.integration.test_publish_gitlab import FakeGitLab
from tests.integration.test_publish_gitlab import _handler as gitlab_handler

CHANGELOG = "# Changelog\n\n## [1.0.0] - 2026-11-30\n### Added\n- everything, everywhere\n"


def _snapshot(dist: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(dist)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(dist.rglob("*")) if p.is_file() and ".wavrybuild" not in p.parts}


def test_release_to_every_destination_then_rerun(tmp_path: Path) -> None:
    github, gitlab, registry = FakeGitHub(token=GH_TOKEN), FakeGitLab(token=GL_TOKEN), FakeRegistry(token=CRATES_TOKEN)
    with (local_server(github_handler(github)) as github.base, local_server(gitlab_handler(gitlab)) as gitlab.base,
          local_server(registry_handler(registry)) as registry.base,
          pypiserver(tmp_path / "index") as pypi, verdaccio(tmp_path / "npm-home") as npm):
        root = tmp_path / "everywhere"
        write_files(root, {
            "Cargo.toml": '[package]\nname = "allin"\nversion = "1.0.0"\nedition = "2021"\nlicense = "MIT"\n'
                          'description = "one release, every channel"\npublish = ["fake"]\n',
            "src/main.rs": 'fn main() { println!("allin {}", env!("CARGO_PKG_VERSION")); }\n',
            ".cargo/config.toml": f'[registries.fake]\nindex = "sparse+{registry.base}/index/"\n',
            "CHANGELOG.md": CHANGELOG,
            "tasks.py": "from wavrybuild import ns  # noqa: F401\n",
            "targets.toml": (
                '[targets.x86_64-unknown-linux-gnu]\nbuilder = "cargo"\n\n'
                '[release]\nchangelog = "CHANGELOG.md"\n\n'
                f'[channels.pypi]\n\n[channels.npm]\nname = "@allin/allin"\nregistry = "{npm.url}"\n\n'
                f'[publish.github]\nrepo = "o/n"\napi-url = "{github.base}/api"\ntoken-env = "T_GH"\n\n'
                f'[publish.gitlab]\nproject = "group/demo"\napi-url = "{gitlab.base}/api/v4"\ntoken-env = "T_GL"\n\n'
                f'[publish.pypi]\nrepository-url = "{pypi}/"\ntoken-env = "T_PYPI"\n\n'
                f'[publish.crates]\npackages = ["allin"]\nregistry = "fake"\nindex = "{registry.base}/index/"\n'),
        })
        git_commit(root)
        env = {"T_GH": GH_TOKEN, "T_GL": GL_TOKEN, "T_PYPI": "unused-by-an-open-index", "NPM_TOKEN": npm.token,
               "CARGO_REGISTRIES_FAKE_TOKEN": CRATES_TOKEN, "CARGO_TARGET_DIR": str(tmp_path / "target")}
        done = invoke("release", cwd=root, env=env)
        out = done.stdout + done.stderr
        assert done.returncode == 0, out
        dist = root / "dist"
        files = sorted(p.name for p in dist.iterdir() if p.is_file() and not p.name.startswith("."))
        notes = (dist / "RELEASE_NOTES.md").read_text()
        assert "- everything, everywhere" in notes and "RELEASE_NOTES.md" in (dist / "SHA256SUMS").read_text()

        (rel,) = github.releases.values()
        assert not rel.draft and rel.body == notes
        assert sorted(a.name for a in github.release_assets("v1.0.0")) == files
        assert sorted(f["file_name"] for f in gitlab.files.values()) == files
        assert gitlab.releases["v1.0.0"]["description"] == notes
        wheels = [f for f in files if f.endswith(".whl")]
        assert sorted(p.name for p in (tmp_path / "index").iterdir()) == wheels
        assert requests.get(npm.url + "@allin%2fallin", timeout=10).json()["versions"]["1.0.0"]["name"] == "@allin/allin"
        assert registry.published == ["allin@1.0.0"]
        for secret in (GH_TOKEN, GL_TOKEN, CRATES_TOKEN, npm.token):
            assert secret not in out

        before = _snapshot(dist)
        github.log.clear()
        gitlab.log.clear()
        again = invoke("release", cwd=root, env=env)
        assert again.returncode == 0, again.stdout + again.stderr
        assert _snapshot(dist) == before
        assert github.calls("POST") == github.calls("PATCH") == github.calls("DELETE") == 0
        assert gitlab.calls("PUT") == gitlab.calls("POST") == gitlab.calls("DELETE") == 0
        assert registry.published == ["allin@1.0.0"]
        assert sorted(p.name for p in (tmp_path / "index").iterdir()) == wheels
