"""`python -m wavrybuild init --from cargo-dist|goreleaser`: a peer's release config as targets.toml
pieces and a table of what was carried over, what maps differently and what has no equivalent
(report.py: the shared types; cargodist.py and goreleaser.py: one mapping each). init.py calls
`migrate` and writes the pieces into the targets.toml it writes."""

from __future__ import annotations

from pathlib import Path

from .report import TOOLS, Facts, Migration, github_repo

__all__ = ["TOOLS", "Migration", "migrate"]


def migrate(tool: str, root: Path, name: str, repository: object, has_authors: bool, several: bool = False) -> Migration:
    """Read `tool`'s config in `root` and map it. `name`, `repository` (Cargo.toml's, as cargo
    metadata gives it) and `has_authors` are of the crate's first binary package; `several`: the
    release has more than one package."""
    facts = Facts(root, name, github_repo(repository), has_authors, several)
    if tool == "cargo-dist":
        from . import cargodist

        source, where, table = cargodist.read(root)
        return cargodist.migrate(source, where, table, facts)
    from . import goreleaser

    source, data = goreleaser.read(root)
    return goreleaser.migrate(source, data, facts)
