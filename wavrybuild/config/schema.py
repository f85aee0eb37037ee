"""targets.toml as a JSON Schema (draft-07), for editors: taplo / Even Better TOML complete keys
and flag unknown ones with it (docs/targets-toml.md, "Editor support").

Generated from the parsers' own key tables — every section's keys are the tuple or dict its
parser passes to `checks.reject_unknown` (or `checks.values`), imported here — so a key added to a
parser is in the schema the next time it is generated. Where a table also holds the key's checker
(`TARGET_KEYS`, `[package]`, `[publish.*]`, `[sign.*]`, `[sbom]`…), the checker gives the value's
JSON type, its enum (`checks.choice`) and its default; a key whose checker says nothing a schema
can hold is left open. The schema is a help for editors, never the check: `config.load` remains
the one boundary. The shipped copy is wavrybuild/resources/targets.schema.json
(`python -m wavrybuild schema` prints it; tests/unit/test_schema.py keeps the two equal).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from . import (
    artifacts,
    bindings,
    channels,
    checks,
    ci,
    container,
    desktop,
    npm,
    pkgmanagers,
    publish,
    release,
    sbom,
    sections,
    sign,
    storage,
    targets,
)
from .load import TOP_KEYS
from .project import CACHE_KEYS, PROJECT_KEYS
from .values import Checked

SCHEMA_ID = "https://wavrybuild.invalid/targets.schema.json"
SHIPPED = Path(__file__).resolve().parent.parent / "resources" / "targets.schema.json"
Json = dict[str, Any]

_STRING: Json = {"type": "string"}
_STRINGS: Json = {"type": "array", "items": {"type": "string"}}
# Checkers by what they accept (the value's JSON shape, not every rule they check).
_BY_CHECKER: dict[Callable[[Any], Any], Json] = {
    checks.bool_value: {"type": "boolean"},
    **{f: _STRING for f in (checks.str_value, checks.line, checks.opt_line, checks.text_line, checks.component,
                            checks.rel_path, checks.path_text, checks.env_name, checks.text, checks.glibc,
                            checks.expect, checks.repo_slug, checks.git_ref_template, checks.url_template,
                            checks.relative_template, checks.opt_str)},
    **{f: _STRINGS for f in (checks.str_list, checks.line_list, checks.component_list)},
    checks.args: {"anyOf": [_STRING, _STRINGS]},
    checks.str_map: {"type": "object", "additionalProperties": _STRING},
    checks.archive: {"enum": ["", "auto", *checks.ARCHIVE_FORMATS]},
    checks.strip: {"anyOf": [{"type": "boolean"}, {"enum": ["none", "debuginfo", "symbols"]}]},
    checks.lto: {"anyOf": [{"type": "boolean"}, {"enum": ["off", "thin", "fat"]}]},
    checks.codegen_units: {"type": "integer", "minimum": 1},
    checks.opt_level: {"enum": [0, 1, 2, 3, "s", "z"]},
    checks.panic: {"enum": ["unwind", "abort"]},
    sections._compression_level: {"type": "integer", "minimum": 0, "maximum": 22},
}
# Checkers made by a factory (a closure per use): known by the factory's name.
_BY_FACTORY: dict[str, Json] = {"url": {"type": "string", "format": "uri"}, "template": _STRING,
                                "_key_file": _STRING}


def _value(check: Callable[[Any], Any] | None) -> Json:
    if check is None:
        return {}
    if check in _BY_CHECKER:
        return dict(_BY_CHECKER[check])
    choices = getattr(check, "choices", None)
    if isinstance(choices, tuple):
        return {"enum": list(choices)}
    factory = getattr(check, "__qualname__", "").split(".<locals>.")[0]
    return dict(_BY_FACTORY.get(factory, {}))


def _default(value: Any) -> Any:
    """A default as JSON, or None when it has no plain JSON form (or none at all)."""
    if value is None or value is checks.REQUIRED:
        return None
    if isinstance(value, bool | int | str):
        return str(value) if isinstance(value, Checked) else value
    if isinstance(value, tuple) and all(isinstance(x, str) for x in value):
        return [str(x) for x in value]
    return None


def table(keys: Iterable[str] | Mapping[str, Any], nested: Mapping[str, Json] | None = None) -> Json:
    """A TOML table: exactly these keys. `keys` a tuple/set of names, a name -> checker dict, or a
    `checks.Spec` (name -> (checker, default)); `nested`: the schema of keys holding tables."""
    props: dict[str, Json] = {}
    required = []
    for key in sorted(keys):
        spec = keys[key] if isinstance(keys, Mapping) else None
        check, default = spec if isinstance(spec, tuple) else (spec, None)
        prop = dict((nested or {}).get(key, _value(check)))
        d = _default(default)
        if d is not None and "default" not in prop and (not isinstance(d, list) or prop.get("type") == "array"):
            prop["default"] = d
        if default is checks.REQUIRED:
            required.append(key)
        props[key] = prop
    out: Json = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = required
    return out


def _channels() -> Json:
    contents = {"type": "array", "items": table(channels.CONTENT_KEYS)}
    deb = table(channels.LINUX_KEYS, {"contents": contents})
    rpm = table([k for k in channels.LINUX_KEYS if k not in channels.DEB_ONLY_KEYS], {"contents": contents})
    known = {"pypi": table(channels.PYPI_KEYS), "npm": table(npm.KEYS), "deb": deb, "rpm": rpm,
             "installer": table(channels.INSTALLER_KEYS), "homebrew": table(pkgmanagers.HOMEBREW_KEYS),
             "scoop": table(pkgmanagers.SCOOP_KEYS), "winget": table(pkgmanagers.WINGET_KEYS),
             "container": table(container.KEYS)}
    # A channel whose key table this module does not know yet: a table, its keys left open.
    return table(channels.CHANNELS, {k: known.get(k, {"type": "object"}) for k in channels.CHANNELS})


def _sign() -> Json:
    checkers = sign._checkers(Path("."))
    nested = {m: table(checkers[m]) for m in sign.SIGN_METHODS}
    nested["methods"] = {"type": "array", "items": {"enum": list(sign.SIGN_METHODS)}}
    return table({"methods": None, "artifacts": checks.bool_value, **dict.fromkeys(sign.SIGN_METHODS)}, nested)


def schema() -> Json:
    """The JSON Schema of targets.toml."""
    target = table(targets.TARGET_KEYS)
    target_with_triple = table({**targets.TARGET_KEYS, **dict.fromkeys(targets.TARGET_ONLY_KEYS, (checks.str_value,
                                                                                                None))})
    top = {
        "project": table(PROJECT_KEYS),
        "defaults": target,
        "targets": {"type": "object", "propertyNames": {"pattern": "^" + targets.TARGET_ID.pattern + "$"},
                    "additionalProperties": target_with_triple},
        "package": table({k: sections._PACKAGE_CHECKS[k] for k in sections.PACKAGE_KEYS}),
        "checksum": table({"sidecars": checks.bool_value}),
        "sign": _sign(),
        "cache": table(CACHE_KEYS, {"sccache": {"type": ["boolean", "string"]}}),
        "channels": _channels(),
        "publish": table(publish.DESTINATIONS, {k: table(publish.KEYS[k]) for k in publish.DESTINATIONS}),
        "bindings": table(bindings.KEYS),
        "release": table(release.KEYS),
        "artifacts": {"type": "array", "items": table(artifacts.KEYS)},
        "storage": table(storage.KEYS),
        "desktop": table(desktop.KEYS, {"linux": table(desktop.LINUX_KEYS), "windows": table(desktop.WINDOWS_KEYS),
                                        "macos": table(desktop.MACOS_KEYS)}),
        "sbom": table(sbom.SBOM_KEYS),
        "provenance": table(sbom.PROVENANCE_KEYS),
        "ci": table(ci.KEYS, {"part-key": {"enum": list(ci.PART_KEYS)}}),
    }
    out = table(TOP_KEYS, {k: top.get(k, {"type": "object"}) for k in TOP_KEYS})
    return {"$schema": "http://json-schema.org/draft-07/schema#", "$id": SCHEMA_ID,
            "title": "wavrybuild targets.toml",
            "description": "The release matrix of a Rust crate for wavrybuild (docs/targets-toml.md). "
                           "Generated by `python -m wavrybuild schema`; wavrybuild itself checks more when it loads.",
            **out}


def schema_text() -> str:
    """The schema as the shipped file holds it: sorted keys, two-space indent, a final newline."""
    return json.dumps(schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
