"""Cargo.toml `license` strings as SPDX license expressions, the form CycloneDX's `expression`
needs. Cargo still accepts its deprecated `/` separator (`MIT/Apache-2.0`), which means OR; it is
rewritten, then the whole expression is checked and canonicalised by `packaging.licenses`
(SPDX's license and exception lists, operator case, spacing). A string that cannot be read that
way is refused: the caller decides whether that is an error (the project's own crates) or a
warning (a dependency, kept as a license name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# An operator or a parenthesis beside a "/": which of the two binds tighter is anyone's guess.
_MIXED = re.compile(r"[()]|(?<![^\s/])(?:AND|OR)(?![^\s/])", re.IGNORECASE)


def spdx_expression(text: str) -> str:
    """The canonical SPDX expression `text` means, or ValueError saying why there is none."""
    from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression

    expr = text
    if "/" in text:
        parts = [p.strip() for p in text.split("/")]
        if any(not p for p in parts):
            raise ValueError("an empty license beside a '/'")
        if _MIXED.search(text):
            raise ValueError("cargo's old '/' mixed with AND, OR or parentheses")
        expr = " OR ".join(parts)
    try:
        return canonicalize_license_expression(expr)
    except InvalidLicenseExpression as exc:
        raise ValueError(str(exc).rstrip(".")) from None


@dataclass(frozen=True)
class License:
    """A crate's license as Cargo.toml states it, and the SPDX expression it normalises to
    (None, with `problem` saying why, when it does not)."""

    text: str
    spdx: str | None
    problem: str | None = None

    @classmethod
    def parse(cls, text: str) -> License:
        try:
            return cls(text, spdx_expression(text))
        except ValueError as exc:
            return cls(text, None, str(exc))


def own_license_problem(license_: str | None) -> str | None:
    """Why the project's own Cargo.toml license cannot go into an SBOM (None: it can)."""
    if not license_:
        return None
    lic = License.parse(license_)
    return None if lic.spdx else f"package.license = {license_!r} is not an SPDX license expression ({lic.problem})"


OWN_HINT = ('write Cargo.toml\'s license as an SPDX expression, e.g. license = "MIT OR Apache-2.0" '
            "(ids: https://spdx.org/licenses/; a custom license: LicenseRef-<name>, or license-file instead)")
