"""The notes' changes from the commits (issue 30 item 5): a real git history made here, with tags,
Conventional and other commits, breaking changes by `!` and by footer, a hostile subject; the
links; the notes template and its errors; the [release] keys' hostile values. No Rust."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from tests.unit.test_pipeline import Recorder, fake_metadata
from wavrybuild.config import Config, parse
from wavrybuild.config.notes_template import TemplateError, parse_template
from wavrybuild.env import Settings
from wavrybuild.errors import ConfigError
from wavrybuild.manifest import Artifact, Manifest
from wavrybuild.notes.changelog import render
from wavrybuild.notes.commits import Unread, github_links, gitlab_links, md_text, repository_links
from wavrybuild.notes.stage import commits_section, notes_text
from wavrybuild.pipeline.stage import Run

HOSTILE = ("fix(<b>x</b>): \x1b[31mred\x1b[0m \u202etxt <script>alert(1)</script> [click](https://evil.example) "
           "![i](x) @admin `a|b` & *b* $x$ _u_\n\nbody <img src=x>\n")
HOSTILE_SHOWN = ("- **\\<b\\>x\\</b\\>:** \\[31mred\\[0m txt \\<script\\>alert\\(1\\)\\</script\\> "
                 "\\[click\\]\\(https://evil.example\\) \\!\\[i\\]\\(x\\) \\@admin `a|b` \\& \\*b\\* \\$x\\$ \\_u\\_")


class Repo:
    """A git repository whose commits have fixed authors and times (and so fixed ids)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.n = 0
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        when = f"2026-01-02T03:{self.n // 60:02d}:{self.n % 60:02d}Z"
        env = {**os.environ, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when,
               "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
        done = subprocess.run(["git", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", *args], cwd=self.root,
                              env=env, check=True, capture_output=True)
        return done.stdout.decode().strip()

    def commit(self, message: str | bytes) -> str:
        """A commit changing one file, with `message` kept byte for byte (no cleanup)."""
        self.n += 1
        (self.root / "log.txt").write_text(f"change {self.n}\n")
        msg = self.root.parent / f"msg-{self.root.name}"
        msg.write_bytes(message if isinstance(message, bytes) else message.encode())
        self.git("add", "log.txt")
        self.git("commit", "-q", "--cleanup=verbatim", "-F", str(msg))
        return self.git("rev-parse", "HEAD")


def _metadata(repository: str | None) -> Any:
    def metadata(manifest: Path) -> dict[str, Any]:
        meta = fake_metadata(manifest)
        meta["packages"][0]["repository"] = repository
        return meta
    return metadata


def _cfg(root: Path, extra: dict[str, Any] | None = None, repository: str | None = None) -> Config:
    (root / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "1.2.3"\n')
    data = {"targets": {"x86_64-unknown-linux-gnu": {}}, **(extra or {})}
    return parse(root / "targets.toml", data, _metadata(repository), Settings())


def _manifest(commit: str | None, arts: list[Artifact] | None = None) -> Manifest:
    return Manifest("demo", "demo", "1.2.3", {"commit": commit, "dirty": False}, 0, "", {}, arts or [])


def _history(tmp_path: Path) -> tuple[Repo, dict[str, str]]:
    """v0.1.0 (annotated), then the changes of 1.2.3; a tag of another pattern in the middle."""
    repo = Repo(tmp_path / "repo")
    ids = {"start": repo.commit("chore: start\n")}
    repo.git("tag", "-a", "v0.1.0", "-m", "0.1.0")
    ids["cli"] = repo.commit("feat(cli): a --fast flag\n")
    ids["crash"] = repo.commit("fix: a crash on empty input\n\nCloses #12.\n")
    ids["docs"] = repo.commit("docs: the README\n")
    repo.git("tag", "website-latest")  # not a release tag: v{version} is the pattern
    ids["other"] = repo.commit("Update things\n")
    ids["api"] = repo.commit("feat(api)!: drop the v1 endpoints\n")
    ids["loader"] = repo.commit("refactor: the config loader\n\nIt reads one format.\n\n"
                                "BREAKING CHANGE: config files are TOML now\nand YAML is gone\nReviewed-by: x\n")
    ids["typo"] = repo.commit("Fix: 1. item\n")  # the type is case-insensitive; "1." must not open a list
    ids["hostile"] = repo.commit(HOSTILE)
    return repo, ids


def _link(sha: str) -> str:
    return f"([{sha[:7]}](https://github.com/o/r/commit/{sha}))"


def test_changes_since_the_previous_tag_grouped_escaped_and_linked(tmp_path: Path) -> None:
    repo, ids = _history(tmp_path)
    repo.git("tag", "v1.2.3")  # this release's own tag, made already: left out
    cfg = _cfg(repo.root, {"publish": {"github": {"repo": "o/r"}}})
    assert cfg.release.notes and cfg.release.source == "commits"
    got = commits_section(cfg, _manifest(ids["hostile"]))
    assert got == "\n".join([
        "## Changes since v0.1.0", "",
        "### Breaking changes", "",
        f"- the config loader — config files are TOML now and YAML is gone {_link(ids['loader'])}",
        f"- **api:** drop the v1 endpoints {_link(ids['api'])}", "",
        "### Features", "",
        f"- **cli:** a --fast flag {_link(ids['cli'])}", "",
        "### Fixes", "",
        f"{HOSTILE_SHOWN} {_link(ids['hostile'])}",
        f"- 1\\. item {_link(ids['typo'])}",
        f"- a crash on empty input {_link(ids['crash'])}"])
    # Rendered by a CommonMark renderer (markdown-it, which rich brings), the hostile subject is its
    # own text: no element but the code span the backticks made and the commit's link.
    html = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(got)
    assert (f'<li><strong>&lt;b&gt;x&lt;/b&gt;:</strong> [31mred[0m txt &lt;script&gt;alert(1)&lt;/script&gt; '
            f'[click](https://evil.example) ![i](x) @admin <code>a|b</code> &amp; *b* $x$ _u_ '
            f'(<a href="https://github.com/o/r/commit/{ids["hostile"]}">{ids["hostile"][:7]}</a>)</li>') in html
    assert "<li>1. item (<a " in html and html.count("<a ") == 6 and html.count("<li>") == 6
    # The whole notes: the changes open them, above the downloads; a rerun gives the same bytes.
    recorder = Recorder()
    run = Run(cfg, recorder, cfg.targets)
    arts = [Artifact("x86_64-unknown-linux-gnu", "x86_64-unknown-linux-gnu", "archive", "tar.gz", "demo.tar.gz",
                     10, "ab" * 32)]
    text = notes_text(run, _manifest(ids["hostile"], arts))
    assert text.startswith(f"# demo 1.2.3\n\n{got}\n\n## Downloads\n\n") and "| demo.tar.gz |" in text
    assert notes_text(run, _manifest(ids["hostile"], arts)) == text and recorder.lines == []
    # Another clone of the same history (its own path, its own abbreviations) gives the same bytes.
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.root), str(clone)], check=True, capture_output=True)
    assert commits_section(_cfg(clone, {"publish": {"github": {"repo": "o/r"}}}), _manifest(ids["hostile"])) == got
    # An earlier commit of the same history: only what came before it.
    assert commits_section(cfg, _manifest(ids["crash"])) == "\n".join([
        "## Changes since v0.1.0", "", "### Features", "", f"- **cli:** a --fast flag {_link(ids['cli'])}", "",
        "### Fixes", "", f"- a crash on empty input {_link(ids['crash'])}"])


def test_the_tag_pattern_is_the_release_tag_template_and_no_tag_lists_every_commit(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    first = repo.commit("feat: the first feature\n")
    repo.git("tag", "release-0.9.0")
    fix = repo.commit("fix(io): a short read\n")
    repo.git("tag", "v9.9.9")  # nearer, but not of the release's template
    other = repo.commit("chore: tidy\n")
    gitlab = {"publish": {"gitlab": {"project": "group/app", "api-url": "https://git.example/api/v4",
                                     "tag": "release-{version}"}}}
    assert commits_section(_cfg(repo.root, gitlab), _manifest(other)) == "\n".join([
        "## Changes since release-0.9.0", "", "### Fixes", "",
        f"- **io:** a short read ([{fix[:7]}](https://git.example/group/app/-/commit/{fix}))"])
    # No tag of v{version} before the release: every commit, said so; links from Cargo.toml's repository.
    repo.git("tag", "-d", "v9.9.9")
    cfg = _cfg(repo.root, repository="https://github.com/o/app.git")
    assert commits_section(cfg, _manifest(other)) == "\n".join([
        "## Changes", "", "Every commit so far: no earlier tag matches v\\*.", "",
        "### Features", "", f"- the first feature ([{first[:7]}](https://github.com/o/app/commit/{first}))", "",
        "### Fixes", "", f"- **io:** a short read ([{fix[:7]}](https://github.com/o/app/commit/{fix}))"])
    # Only other commits since the tag: the section says there is nothing to list. No known forge: no links.
    repo.git("tag", "v1.0.0", fix)
    cfg = _cfg(repo.root, repository="https://git.example/o/app")
    assert commits_section(cfg, _manifest(other)) == (
        "## Changes since v1.0.0\n\nNo feature, fix or breaking change among the 1 commit "
        "(Conventional Commits: `feat: …`, `fix: …`, `type!: …`).")
    last = repo.commit("fix: the last one\n")
    assert commits_section(cfg, _manifest(last)) == f"## Changes since v1.0.0\n\n### Fixes\n\n- the last one (`{last[:7]}`)"


def test_no_history_is_a_clear_warning_not_a_traceback(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    repo.commit("chore: start\n")
    repo.git("tag", "v0.1.0")
    head = repo.commit("feat: more\n")
    cfg = _cfg(repo.root)
    missing = "0123456789abcdef" * 2 + "01234567"
    got = commits_section(cfg, _manifest(missing))
    assert isinstance(got, Unread) and got.reason.startswith(f"commit {missing[:12]} (manifest.json's) is not in "
                                                             f"the git history at {repo.root}")
    got = commits_section(cfg, _manifest(None))
    assert isinstance(got, Unread) and "not built from a git checkout" in got.reason
    plain = tmp_path / "plain"
    plain.mkdir()
    got = commits_section(_cfg(plain), _manifest(head))
    assert isinstance(got, Unread) and f"is not in the git history at {plain}" in got.reason
    # A shallow clone without the previous tag would list a cut history as the release's: refused, with the fix.
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo.root}", str(shallow)], check=True,
                   capture_output=True)
    cfg = _cfg(shallow)
    got = commits_section(cfg, _manifest(head))
    assert isinstance(got, Unread) and "is shallow" in got.reason and "fetch-depth: 0" in got.reason
    # The notes are still written, without changes, and the stage says why.
    recorder = Recorder()
    text = notes_text(Run(cfg, recorder, cfg.targets), _manifest(head))
    assert text.startswith("# demo 1.2.3\n\n## Downloads\n")
    assert len(recorder.lines) == 1 and recorder.lines[0][0] == "warn"
    assert recorder.lines[0][1].startswith(f"RELEASE_NOTES.md: no changes listed: the clone at {shallow} is shallow")


def test_a_message_that_is_not_utf8_or_holds_odd_bytes_is_shown_safely(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    repo.git("tag", "v0.0.0", repo.commit("chore: start\n"))
    bad = repo.commit(b"feat: caf\xe9 \xff\n")  # Latin-1 in a UTF-8 history
    long = repo.commit("fix: " + "x" * 500 + "\n")
    got = commits_section(_cfg(repo.root), _manifest(long))
    assert isinstance(got, str)
    lines = got.splitlines()
    # git itself reads such a message as Latin-1 (2.39), else its bytes are replaced: text either way.
    assert f"- café ÿ (`{bad[:7]}`)" in lines or f"- caf\ufffd \ufffd (`{bad[:7]}`)" in lines
    assert f"- {'x' * 199}… (`{long[:7]}`)" in lines


def test_markdown_escaping() -> None:
    assert md_text("# not a heading") == "\\# not a heading"
    assert md_text("> not a quote") == "\\> not a quote"
    assert md_text("- a b+c") == "\\- a b+c"
    assert md_text("12) x") == "12\\) x"
    assert md_text("use `a` and `b`") == "use `a` and `b`"
    assert md_text("one ` tick") == "one \\` tick"
    assert md_text("``` fence ```") == "\\`\\`\\` fence \\`\\`\\`"
    assert md_text("a\tb\r\nc\u2028d\u200be") == "a b c de"
    assert md_text("&#x202E; &lt;") == "\\&#x202E; \\&lt;"


def test_commit_links() -> None:
    assert github_links("https://api.github.com", "o/r").url("f" * 40) == "https://github.com/o/r/commit/" + "f" * 40
    assert github_links("https://ghe.example/api/v3", "o/r").base == "https://ghe.example/o/r"
    assert gitlab_links("https://gitlab.com/api/v4", "g/sub/app").url("a") == "https://gitlab.com/g/sub/app/-/commit/a"
    assert gitlab_links("https://gitlab.com/api/v4", "1234") is None  # an id names no web page
    assert repository_links("https://gitlab.example.org/g/app/").path == "/-/commit/"
    assert repository_links("https://git.example.org/g/app") is None  # which forge: unknown
    assert repository_links("https://gitlab.com/g/app/").path == "/-/commit/"
    assert repository_links("https://codeberg.org/o/app").base == "https://codeberg.org/o/app"
    # Hostile repository values: not a web URL, credentials, a query, a link-breaking character.
    for bad in ("javascript:alert(1)//github.com/o/r", "https://user:pw@github.com/o/r", "https://github.com/o/r?x=1",
                "https://github.com/o", "https://github.com/o/r x", "ftp://github.com/o/r", "https://evil.example/o/r"):
        assert repository_links(bad) is None, bad
    assert repository_links("https://github.com/o/r(x)").base == "https://github.com/o/r%28x%29"


TEMPLATE = "# {name} {version} — {{release}}\n\n{changelog}\n\n{artifacts}\n\n{verify}\n\nfrom {commit}\n"


def test_notes_template(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text(TEMPLATE)
    cfg = _cfg(tmp_path, {"release": {"notes-template": "notes.md", "notes-from": "none"}})
    assert cfg.release.template is not None and cfg.release.source == "none"
    arts = [Artifact("", "", "installer", "sh", "install.sh", 100, "ef" * 32)]
    text = render(cfg, _manifest("c0ffee", arts), "## Changes\n\n- x", arts)
    assert text == ("# demo 1.2.3 — {release}\n\n## Changes\n\n- x\n\n## Downloads\n\n"
                    "| File | Platform | Channel | Size | SHA-256 |\n| --- | --- | --- | --- | --- |\n"
                    f"| install.sh | any | install script | 100 B | `{'ef' * 32}` |\n\n## Verify\n\n"
                    "Download the files you want and `SHA256SUMS`, then:\n\n```sh\n"
                    "sha256sum --ignore-missing -c SHA256SUMS\n```\n\nfrom c0ffee\n")
    # Only the listed names are replaced: nothing reaches into Python objects, a typo is named with its line.
    for bad, expected in (("a\n{changelgo}", "t.md:2: unknown placeholder {changelgo}; did you mean {changelog}?"),
                          ("{changelog.__class__}",
                           "t.md:1: unknown placeholder {changelog.__class__}; did you mean {changelog}?"),
                          ("{0[x]}", "t.md:1: unknown placeholder '{0[x]}'"),
                          ("{}", "t.md:1: unknown placeholder {}"),
                          ("x }", "t.md:1: a lone '}'; write }} for a literal brace"),
                          ("{ {version}", "t.md:1: a lone '{'; write {{ for a literal brace"),
                          ("{\x1b[2J}", "t.md:1: unknown placeholder '{\\x1b[2J}'")):
        with pytest.raises(TemplateError) as exc:
            parse_template(Path("t.md"), bad)
        assert str(exc.value) == expected, bad
    assert parse_template(Path("t.md"), "{{{version}}}").render({"version": "1"}) == "{1}\n"


def test_release_keys_refuse_hostile_values(tmp_path: Path) -> None:
    (tmp_path / "CHANGELOG.md").write_text("## [1.2.3]\n- x\n")
    (tmp_path / "bad.md").write_bytes(b"\xff{version}")
    (tmp_path / "typo.md").write_text("{name}\n{verion}\n")
    (tmp_path / "dir.md").mkdir()
    for release, expected in (
            ({"notes-from": "commit"}, "release.notes-from: expected one of 'changelog', 'commits', 'none', "
                                       "got 'commit'; did you mean 'commits'?"),
            ({"notes-from": 5}, "release.notes-from: expected one of"),
            ({"notes-from": "none\n"}, "got 'none\\n'; did you mean 'none'?"),
            ({"notes-from": "changelog"}, 'release.notes-from: "changelog" needs release.changelog'),
            ({"notes-from": "commits", "changelog": "CHANGELOG.md"}, "'commits', but release.changelog is set too"),
            ({"notes-form": "commits"}, "did you mean 'notes-from'?"),
            ({"notes-template": "nope.md"}, "release.notes-template: no file"),
            ({"notes-template": "dir.md"}, "release.notes-template: no file"),
            ({"notes-template": ""}, "release.notes-template: expected"),
            ({"notes-template": ["x"]}, "release.notes-template: expected"),
            ({"notes-template": "a\0b"}, "release.notes-template: expected"),
            ({"notes-template": "bad.md"}, "bad.md: not UTF-8 text"),
            ({"notes-template": "typo.md"}, "typo.md:2: unknown placeholder {verion}; did you mean {version}?")):
        with pytest.raises(ConfigError) as exc:
            _cfg(tmp_path, {"release": release})
        assert expected in str(exc.value), (release, str(exc.value))
        assert "\n" not in exc.value.message and "\0" not in exc.value.message
    assert _cfg(tmp_path, {"release": {"changelog": "CHANGELOG.md"}}).release.source == "changelog"
    assert _cfg(tmp_path, {"release": {"notes-from": "none"}}).release.source == "none"
    assert _cfg(tmp_path, {}).release.source == "commits"


def test_the_jobs_that_write_the_notes_fetch_the_history(tmp_path: Path) -> None:
    """A shallow clone lists no changes: the GitLab child pipeline's merge job (which writes the
    notes) asks for the whole history; the part jobs keep GitLab's shallow default."""
    from wavrybuild.ci.matrix import matrix

    jobs = matrix(_cfg(tmp_path), "gitlab")
    assert isinstance(jobs, dict)
    assert jobs["merge"]["variables"] == {"GIT_DEPTH": "0"}
    assert "variables" not in jobs["part:x86_64-unknown-linux-gnu"]
