"""This repository's tasks: wavrybuild's collection, exactly as any other repository uses it,
plus the repository's own benchmark task."""

import sys

from invoke import task

from wavrybuild import ns


@task(help={"quick": "smaller inputs and fewer repetitions (about a minute): for CI regression checks",
            "write_doc": "update docs/performance.md with the results"})
def bench(c, quick=False, write_doc=False):
    """Benchmarks: checksum/archive throughput, orchestration overhead and cold builds, as side-by-side ratios."""
    flags = (" --quick" if quick else "") + (" --write-doc" if write_doc else "")
    scripts = ["bench/bench_package.py", "bench/bench_release.py"]
    if not quick:
        # Cold builds from clean (multi-target vs a shell loop; sccache + Redis across clones): minutes.
        scripts.append("bench/bench_build.py")
    for script in scripts:
        c.run(f"{sys.executable} {script}{flags}", pty=False)


ns.add_task(bench)
