"""The skip of an up-to-date target checks the files the last build depended on: the same size and
mtime, or, when only the mtime moved (a build-script OUT_DIR that another checkout sharing the target
dir wrote again with the same bytes), the same content; any other change is not fresh."""

from __future__ import annotations

import os
from pathlib import Path

from wavrybuild.build.freshness import _stamp, still_fresh


def _watch(*files: Path) -> dict:
    return {"files": [_stamp(str(f)) for f in files], "env": {}}


def test_untouched_files_are_fresh(tmp_path: Path) -> None:
    src = tmp_path / "main.rs"
    src.write_text("fn main() {}\n")
    assert still_fresh(_watch(src))


def test_the_same_bytes_written_again_are_fresh(tmp_path: Path) -> None:
    gen = tmp_path / "out" / "generated.rs"
    gen.parent.mkdir()
    gen.write_text("pub const T: &str = \"x86_64\";\n")
    watch = _watch(gen)
    gen.write_text("pub const T: &str = \"x86_64\";\n")
    os.utime(gen, ns=(1, 10**18))  # surely another mtime than the recorded one
    assert still_fresh(watch)


def test_other_bytes_of_the_same_size_are_not_fresh(tmp_path: Path) -> None:
    gen = tmp_path / "generated.rs"
    gen.write_text("pub const T: &str = \"x86_64\";\n")
    watch = _watch(gen)
    gen.write_text("pub const T: &str = \"arm_64\";\n")
    assert gen.stat().st_size == watch["files"][0][1]
    os.utime(gen, ns=(1, 10**18))
    assert not still_fresh(watch)


def test_a_resized_removed_or_new_file_is_not_fresh(tmp_path: Path) -> None:
    f = tmp_path / "lib.rs"
    f.write_text("a")
    watch = _watch(f)
    f.write_text("ab")
    assert not still_fresh(watch)
    f.unlink()
    assert not still_fresh(watch)
    missing = _watch(tmp_path / "gone.rs")  # recorded as absent: fresh while it stays absent
    assert still_fresh(missing)
    (tmp_path / "gone.rs").write_text("now here")
    assert not still_fresh(missing)


def test_a_record_of_an_older_wavrybuild_is_not_trusted(tmp_path: Path) -> None:
    f = tmp_path / "main.rs"
    f.write_text("fn main() {}\n")
    st = f.stat()
    assert not still_fresh({"files": [[str(f), st.st_size, st.st_mtime_ns]], "env": {}})
    assert not still_fresh({"env": {}})
