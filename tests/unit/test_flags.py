"""Short flags mean one thing in every task (SHORT_FLAGS), and --dry is -d wherever it exists."""

from __future__ import annotations

from wavrybuild import ns
from wavrybuild.tasks import SHORT_FLAGS


def test_same_short_flag_same_meaning_everywhere() -> None:
    meaning: dict[str, str] = {}
    for name, t in ns.tasks.items():
        for arg in t.get_arguments():
            longs = [n for n in arg.names if len(n) > 1]
            shorts = [n for n in arg.names if len(n) == 1]
            for short in shorts:
                assert meaning.setdefault(short, longs[0]) == longs[0], (
                    f"-{short} is --{meaning[short]} elsewhere but --{longs[0]} in {name}")
            if longs[0] == "dry":
                assert shorts == ["d"], f"{name}: --dry must be -d"
            if longs[0] in ("config", "target", "force", "parallel"):
                assert shorts, f"{name}: --{longs[0]} lost its short flag"
    assert len(set(SHORT_FLAGS.values())) == len(SHORT_FLAGS)
    assert meaning["f"] == "force" and meaning["p"] == "parallel" and meaning["F"] == "format"
