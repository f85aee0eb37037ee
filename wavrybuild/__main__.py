"""`python -m wavrybuild init`: the one command that works before a tasks.py exists (`invoke init`
runs the same function afterwards)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import WavryError
from .fsutil import disk_full
from .ui import UI


def parser() -> argparse.ArgumentParser:
    from .init import CHANNELS, CI_CHOICES
    from .migrate import TOOLS

    top = argparse.ArgumentParser(prog="python -m wavrybuild", description="wavrybuild's commands that need no tasks.py")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    init = sub.add_parser("init", help="write targets.toml, tasks.py and CI files for the crate here",
                          description="Read `cargo metadata` of the crate or workspace in this directory and write a "
                          "commented targets.toml, a tasks.py when there is none, and with --ci the thin CI files. "
                          "Never overwrites a file without --force.")
    init.add_argument("--ci", choices=CI_CHOICES, help="also write the CI files: .github/workflows/release.yml, "
                      ".gitlab-ci.yml or both (a matrix job per target, then a merge job)")
    init.add_argument("--musl", action="store_true", help="add the static Linux targets (x86_64 and arm64 musl)")
    init.add_argument("--glibc-floor", metavar="VERSION",
                      help="add Linux gnu targets linked against this glibc, e.g. 2.17 (cargo-zigbuild)")
    init.add_argument("--universal2", action="store_true", help="add universal2-apple-darwin (both Mac architectures)")
    init.add_argument("--channel", action="append", default=[], choices=list(CHANNELS),
                      help="add a package channel ([channels.*]); repeat for several")
    init.add_argument("--from", dest="source", choices=TOOLS, metavar="{cargo-dist,goreleaser}",
                      help="carry over cargo-dist's config (dist-workspace.toml [dist] or Cargo.toml "
                      "[workspace.metadata.dist]) or GoReleaser's (.goreleaser.yaml) into targets.toml; "
                      "a table says what was carried over, what maps differently and what has no equivalent")
    init.add_argument("--force", action="store_true", help="overwrite files that differ from what init writes")
    init.add_argument("--check", action="store_true",
                      help="write nothing; exit 1 if the CI files differ from what init would write now")
    init.add_argument("--dry", action="store_true", help="print every file init would write, writing none")
    sub.add_parser("schema", help="print the JSON Schema of targets.toml (for taplo / Even Better TOML)",
                   description="Print the JSON Schema of targets.toml that wavrybuild ships "
                   "(wavrybuild/resources/targets.schema.json), generated from the config's key tables.")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)  # a bad flag: argparse's usage message and exit 2
    if args.command == "schema":
        from .config.schema import schema_text

        sys.stdout.write(schema_text())
        return 0
    ui = UI()
    try:
        from .init import Options, run

        opts = Options.parse(ci=args.ci, musl=args.musl, glibc_floor=args.glibc_floor, universal2=args.universal2,
                             channels=args.channel, force=args.force, check=args.check, dry=args.dry,
                             source=args.source)
        run(Path.cwd(), opts, ui)
    except WavryError as exc:
        ui.error(str(exc))
        return exc.exit_code
    except OSError as exc:  # the machine's state (a full disk, a read-only directory), not a bug
        full = disk_full(exc)
        ui.error(str(full) if full else f"{exc.filename or 'a file'}: {exc.strerror or exc}")
        return full.exit_code if full else 1
    except Exception as exc:
        # A bug of ours, not the user's input: one line, as the invoke tasks say it (tasks._guarded).
        from .env import Settings

        if Settings.read().debug:
            raise
        ui.error(f"internal error in `python -m wavrybuild {args.command}`: {type(exc).__name__}: {exc}\n"
                 "  this is a wavrybuild bug: please report it (WAVRYBUILD_DEBUG=1 shows the traceback)")
        return 70  # EX_SOFTWARE
    return 0


if __name__ == "__main__":
    sys.exit(main())
