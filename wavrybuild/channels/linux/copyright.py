"""The .deb's /usr/share/doc/<package>/copyright, in Debian's machine-readable format (DEP-5,
https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/), from Cargo.toml: the
license expression (SPDX operators spelled as DEP-5 spells them), the authors as copyright
holders, the repository as the source, and the text of each license file (cratedocs.py).
Pure: the texts come in as strings."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ...config.project import CratePackage
from ...spdx import License

FORMAT = "https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"


def dep5_license(license_: str | None, has_file: bool) -> str:
    """Cargo.toml's license as a DEP-5 License short name or expression: SPDX ids kept, `OR` and
    `AND` written `or` and `and`; no license but a license-file: "custom"; neither: "NOASSERTION"."""
    if not license_:
        return "custom" if has_file else "NOASSERTION"
    lic = License.parse(license_)
    expr = lic.spdx or license_
    return re.sub(r"\b(OR|AND|WITH)\b", lambda m: m.group(1).lower(), expr)


def _ids(expr: str) -> list[str]:
    return [t for t in re.split(r"[\s()]+", expr) if t and t.lower() not in ("or", "and", "with")]


def _text_block(text: str) -> list[str]:
    """A field's continuation lines: each line indented by one space, an empty line as " "."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").strip("\n").split("\n")]
    return [f" {line}" if line.strip() else " ." for line in lines]


def _single_line(text: str) -> str:
    return " ".join(text.split())


def _match(file_name: str, ids: list[str], taken: set[str]) -> str | None:
    """The license id a file like LICENSE-MIT or LICENSE-APACHE holds the text of, if its name says."""
    suffix = re.sub(r"^(licen[cs]e|copying|unlicense)[-_.]?", "", file_name.lower())
    suffix = re.sub(r"\.(txt|md|markdown|rst)$", "", suffix)
    for i in ids:
        if i in taken:
            continue
        low = i.lower()
        if suffix and (low == suffix or low.startswith(suffix) or suffix.startswith(low.split("-")[0])):
            return i
    return None


def copyright_file(pkg: CratePackage, texts: Sequence[tuple[str, str]]) -> str:
    """The copyright file; `texts`: (file name, text) of each license file, in order."""
    lic = dep5_license(pkg.license, bool(texts))
    head = [f"Format: {FORMAT}", f"Upstream-Name: {_single_line(pkg.name)}"]
    if pkg.authors:
        head.append(f"Upstream-Contact: {_single_line(pkg.authors[0])}")
    if pkg.repository or pkg.homepage:
        head.append(f"Source: {_single_line(pkg.repository or pkg.homepage or '')}")
    holders = [_single_line(a) for a in pkg.authors] or [f"the {_single_line(pkg.name)} authors"]
    files = ["Files: *", "Copyright: " + holders[0], *(f" {h}" for h in holders[1:]), f"License: {lic}"]
    paragraphs = [head, files]
    ids = _ids(lic) if lic not in ("custom", "NOASSERTION") else []
    if len(texts) == 1 and (len(ids) <= 1):
        # One license and its one text: the text belongs to the Files paragraph's License field.
        files += _text_block(texts[0][1])
        return "\n\n".join("\n".join(p) for p in paragraphs) + "\n"
    taken: set[str] = set()
    unmatched = []
    for name, text in texts:
        found = _match(name, ids, taken)
        if found is None:
            unmatched.append((name, text))
            continue
        taken.add(found)
        paragraphs.append([f"License: {found}", *_text_block(text)])
    if unmatched:
        # Texts no license id can be told for: quoted as they are, each under its file name.
        comment = ["Comment: The license files shipped with the package:"]
        for name, text in unmatched:
            comment += [" .", f" {_single_line(name)}:", *_text_block(text)]
        files += comment
    return "\n\n".join("\n".join(p) for p in paragraphs) + "\n"
