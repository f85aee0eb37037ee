"""[storage]'s boundary, without a server: an S3 listing is the server's answer, so every key and
size in it is parsed (`storage.parse_listing`) into a confined name or refused with one
StorageError naming the key; a commit is a full hex id. And the no-follow file layer the merge and
the downloads write and read through: a link anywhere on the way is refused, never followed.
(The same against a real S3 server, SeaweedFS: tests/integration/test_storage.py.)"""

from __future__ import annotations

import collections
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wavrybuild import nofollow
from wavrybuild.ci.storage import Obj, StorageError, Where, _Sink, parse_listing, where
from wavrybuild.config.storage import StorageConfig
from wavrybuild.config.values import ArtifactPath, Component

COMMIT = "0123456789abcdef0123456789abcdef01234567"
W = Where("releases", f"demo/{COMMIT}")
TALLY: collections.Counter[str] = collections.Counter()


def _obj(rest: str, size: Any = 3) -> dict[str, Any]:
    return {"Key": f"{W.prefix}/{rest}", "Size": size}


def test_a_listing_of_parts_is_parsed_into_parts_and_names() -> None:
    found = parse_listing(W, [_obj("job1/demo.tar.gz"), _obj("job1/manifest-part-x.json"), _obj("job1/", 0),
                              _obj("job2/sub/demo.whl", 0)])
    assert {p: [(o.name, o.size) for o in objs] for p, objs in found.items()} == {
        "job1": [("demo.tar.gz", 3), ("manifest-part-x.json", 3)], "job2": [("sub/demo.whl", 0)]}
    assert all(isinstance(o.name, (ArtifactPath, Component)) for objs in found.values() for o in objs)


@pytest.mark.parametrize("entry, says", [
    (_obj("job1/../../../../escape"), "not a name a part can have"),
    (_obj("../x/demo.tar.gz"), "not a name a part can have"),
    (_obj("job1/.wavrybuild/build.json"), "not a name a part can have"),
    (_obj("job1/SHA256SUMS"), "not a name a part can have"),
    (_obj("job1/manifest.json"), "not a name a part can have"),
    (_obj("job1/a//b"), "not a name a part can have"),
    (_obj("job1/a\nb"), "not a name a part can have"),
    (_obj("job1/-rf"), "not a name a part can have"),
    (_obj("job1/x\\..\\y"), "not a name a part can have"),
    (_obj("job1/x", -1), "not a size"),
    (_obj("job1/x", "3"), "not a size"),
    (_obj("job1/x", True), "not a size"),
    (_obj("job1/x", 3.0), "not a size"),
    (_obj("job1/x", 10**30), "not a size"),
    ({"Key": "demo/other-commit/job1/x", "Size": 1}, "not under it"),
    ({"Key": f"{W.prefix}", "Size": 1}, "not under it"),
    ({"Key": 5, "Size": 1}, "not under it"),
    ({"Size": 1}, "not under it"),
    (None, "not under it"),
])
def test_hostile_listing_entries_are_refused_naming_the_key(entry: Any, says: str) -> None:
    with pytest.raises(StorageError) as caught:
        parse_listing(W, [_obj("job1/ok.tar.gz"), entry])
    assert says in caught.value.message and "\n" not in caught.value.message


@pytest.mark.parametrize("second", ["job1/OK.tar.gz", "job1/ok.tar.gz", "job1/ok.tar.gz/x", "job1/OK.TAR.GZ/x"])
def test_names_that_would_be_the_same_file_on_disk_are_refused(second: str) -> None:
    with pytest.raises(StorageError, match="collides with"):
        parse_listing(W, [_obj("job1/ok.tar.gz"), _obj(second)])
    with pytest.raises(StorageError, match="collides with"):
        parse_listing(W, [_obj(second), _obj("job1/ok.tar.gz")])


@settings(max_examples=300, deadline=None)
@given(keys=st.lists(st.one_of(st.text(max_size=24), st.sampled_from(["job/a", "job/../x", "job/a/b", "j/.x", "x"])),
                     max_size=5),
       sizes=st.lists(st.one_of(st.integers(), st.none(), st.text(max_size=3), st.floats()), min_size=5, max_size=5))
def test_generated_listings_give_confined_names_or_one_clear_error(keys: list[str], sizes: list[Any]) -> None:
    entries = [{"Key": f"{W.prefix}/{k}", "Size": s} for k, s in zip(keys, sizes, strict=False)]
    TALLY["tried"] += 1
    try:
        found = parse_listing(W, entries)
    except StorageError as exc:
        assert exc.message.startswith("storage: ") and "\n" not in exc.message
        TALLY["clear error"] += 1
        return
    for part, objs in found.items():
        Component.parse(part)
        for o in objs:
            path = Path("/base") / part / o.name
            assert path.resolve().is_relative_to("/base") and ".." not in path.parts
            assert type(o.size) is int and o.size >= 0
    TALLY["accepted and safe"] += 1


def test_zz_report_the_tally_of_generated_listings() -> None:
    print(f"\nstorage listings: {dict(TALLY)}")


@pytest.mark.parametrize("commit", ["../../x", "abc123", "", "nocommit", COMMIT + "/x", "g" * 40])
def test_parts_are_kept_by_a_full_commit_id_only(commit: str) -> None:
    with pytest.raises(StorageError):
        where(StorageConfig("releases", "demo"), commit)
    assert where(StorageConfig("releases", "demo"), COMMIT.upper()).prefix == f"demo/{COMMIT}"


# --- nofollow: the file layer under the merge and the downloads ---------------------------------------------

@pytest.fixture(params=["dir_fd", "by path (Windows)"])
def tree(tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tests below run twice: with dir_fd, and by path with lstat checks (where there is no dir_fd)."""
    monkeypatch.setattr(nofollow, "_AT", request.param == "dir_fd")
    (tmp_path / "root" / "sub").mkdir(parents=True)
    (tmp_path / "root" / "sub" / "f").write_bytes(b"inside")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "f").write_bytes(b"outside")
    (tmp_path / "root" / "link-file").symlink_to(tmp_path / "outside" / "f")
    (tmp_path / "root" / "link-dir").symlink_to(tmp_path / "outside")
    os.mkfifo(tmp_path / "root" / "fifo")
    return tmp_path


def test_reading_never_follows_a_link_nor_opens_a_fifo(tree: Path) -> None:
    root = nofollow.open_root(tree / "root")
    try:
        assert nofollow.read_file(root, "sub/f", 100) == b"inside"
        for rel, why in (("link-file", "symbolic link"), ("link-dir/f", "symbolic link"), ("fifo", "not a regular file"),
                         ("sub", "not a regular file"), ("nothing", "does not exist"), ("sub/f/x", "not a directory")):
            with pytest.raises(nofollow.Refused, match=why):
                nofollow.read_file(root, rel, 100)
        with pytest.raises(nofollow.Refused, match="larger than"):
            nofollow.read_file(root, "sub/f", 3)
        assert [nofollow.kind_at(root, r) for r in ("sub/f", "sub", "link-file", "link-dir/f", "fifo", "nothing")] == [
            "file", "dir", "link", "link", "other", None]
    finally:
        nofollow.close_root(root)


def test_writing_makes_only_new_files_and_never_writes_through_a_link(tree: Path) -> None:
    root = nofollow.open_root(tree / "root")
    try:
        fd = nofollow.create_file(root, "new/deeper/file")
        os.write(fd, b"x")
        os.close(fd)
        assert (tree / "root/new/deeper/file").read_bytes() == b"x"
        for rel, why in (("link-dir/g", "symbolic link"), ("link-file", "already exists|symbolic link"), ("sub/f", "already exists"),
                         ("sub/f/x", "not a directory")):
            with pytest.raises(nofollow.Refused, match=why):
                nofollow.create_file(root, rel)
    finally:
        nofollow.close_root(root)
    assert sorted(p.name for p in (tree / "outside").iterdir()) == ["f"]
    assert (tree / "outside" / "f").read_bytes() == b"outside"
    with pytest.raises(nofollow.Refused, match="symbolic link"):
        nofollow.open_root(tree / "root" / "link-dir")


def test_a_download_never_takes_more_bytes_than_listed(tmp_path: Path) -> None:
    """The sink boto3 writes an object into: hashed in order (not seekable), capped at the listed size."""
    o = Obj("job1", "demo.tar.gz", 4)
    with (tmp_path / "f").open("wb") as f:
        sink = _Sink(f, o, "s3://releases/x")
        assert not sink.seekable()
        sink.write(b"abcd")
        with pytest.raises(StorageError, match="more bytes than the 4 listed"):
            sink.write(b"e")
    assert (tmp_path / "f").read_bytes() == b"abcd"
