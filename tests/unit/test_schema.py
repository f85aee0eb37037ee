"""The JSON Schema of targets.toml (issue 30, item 8): generated from the parsers' key tables
(config/schema.py), shipped as wavrybuild/resources/targets.schema.json and never stale, a valid
draft-07 schema by the `jsonschema` library, met by the repository's targets.toml and every
complete configuration of the docs, and refusing a mistyped key."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from typing import Any

import pytest
from jsonschema import Draft7Validator

from tests.conftest import REPO
from tests.unit.test_boundary_properties import KEYS
from tests.unit.test_doc_configs import MARKER, PAGES, _blocks
from wavrybuild.config.schema import SHIPPED, schema, schema_text

REGENERATE = "python -m wavrybuild schema > wavrybuild/resources/targets.schema.json"


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    shipped = json.loads(SHIPPED.read_text())
    Draft7Validator.check_schema(shipped)
    return Draft7Validator(shipped)


def test_the_shipped_schema_is_the_generated_one() -> None:
    assert SHIPPED.read_text() == schema_text(), f"the shipped schema is stale: run `{REGENERATE}`"


def test_python_m_wavrybuild_schema_prints_it() -> None:
    done = subprocess.run([sys.executable, "-m", "wavrybuild", "schema"], capture_output=True, text=True, cwd=REPO,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == SHIPPED.read_text()


def _table(node: dict[str, Any], section: str) -> dict[str, Any]:
    """The schema of one section as the boundary test names it ("channels.deb", "targets.<id>",
    "artifacts[0]")."""
    if not section:
        return node
    head, _, rest = section.partition(".")
    if head == "targets":
        return dict(node["properties"]["targets"]["additionalProperties"])
    node = node["properties"][head[:-3]]["items"] if head.endswith("[0]") else node["properties"][head]
    return _table(node, rest) if rest else node


@pytest.mark.parametrize("section", list(KEYS))
def test_every_section_has_exactly_the_parsers_keys(section: str) -> None:
    """The boundary test's KEYS (which fails until it lists every key the parser accepts) against
    the schema: a section or key missing here means its table is not in config/schema.py yet."""
    table = _table(schema(), section)
    assert table.get("additionalProperties") is False, (
        f"[{section}]: the schema leaves its keys open; give config/schema.py its key table, then `{REGENERATE}`")
    assert set(table["properties"]) == set(KEYS[section])


def _doc_configs() -> list[tuple[str, str, str]]:
    return [(page, heading, body) for page in PAGES for heading, before, fence, body in _blocks(page)
            if before.strip() == MARKER and fence == "toml"]


def test_the_docs_have_complete_configs() -> None:
    assert len(_doc_configs()) >= 3


@pytest.mark.parametrize(("page", "heading", "body"), _doc_configs(), ids=lambda x: str(x)[:40])
def test_every_complete_config_of_the_docs_meets_the_schema(validator: Draft7Validator, page: str, heading: str,
                                                             body: str) -> None:
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(tomllib.loads(body))]
    assert errors == [], f"{page} / {heading}"


def test_the_repositorys_targets_toml_meets_the_schema(validator: Draft7Validator) -> None:
    data = tomllib.loads((REPO / "targets.toml").read_text())
    assert [e.message for e in validator.iter_errors(data)] == []


@pytest.mark.parametrize(("doc", "where"), [
    ({"pakage": {}}, ""),
    ({"package": {"formt": "zip"}}, "package"),
    ({"targets": {"x86_64-unknown-linux-gnu": {"buildr": "cargo"}}}, "targets.x86_64-unknown-linux-gnu"),
    ({"defaults": {"smoke-arg": ["--version"]}}, "defaults"),
    ({"channels": {"deb": {"maintaner": "A <a@b.c>"}}}, "channels.deb"),
    ({"channels": {"rpm": {"section": "utils"}}}, "channels.rpm"),  # a .deb-only key
    ({"publish": {"github": {"repo": "o/n", "tokenenv": "T"}}}, "publish.github"),
    ({"sign": {"gpg": {"passphrase": "hunter2"}}}, "sign.gpg"),
    ({"artifacts": [{"name": "a", "comand": "x"}]}, "artifacts.0"),
])
def test_a_mistyped_key_fails_validation(validator: Draft7Validator, doc: dict[str, Any], where: str) -> None:
    errors = list(validator.iter_errors(doc))
    assert errors, doc
    assert any(".".join(map(str, e.absolute_path)) == where and "Additional properties" in e.message for e in errors)


def test_values_are_typed_where_the_parser_says_how() -> None:
    bad = {"package": {"format": "rar", "crate-docs": "yes"}, "publish": {"github": {}},
           "targets": {"x86_64-unknown-linux-gnu": {"no-default-features": 1}, "bad id!": {}}}
    messages = {".".join(map(str, e.absolute_path)): e.message for e in Draft7Validator(schema()).iter_errors(bad)}
    assert "'rar' is not one of" in messages["package.format"]
    assert "is not of type 'boolean'" in messages["package.crate-docs"]
    assert "'repo' is a required property" in messages["publish.github"]
    assert "is not of type 'boolean'" in messages["targets.x86_64-unknown-linux-gnu.no-default-features"]
    assert "does not match" in messages["targets"]
