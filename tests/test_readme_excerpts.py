"""Every connector excerpt the README shows is valid: a ```yaml block that holds part of a
connector file (`tables:`, `source:`, `format:`, ...) is placed into a minimal connector, which
must load; and a block that is a whole connector (it has `id:`) must load as it is.

An excerpt that stops validating (a renamed key, a value the model no longer accepts) fails here
with the loader's own message, so the README cannot drift from the connector format.
"""

from __future__ import annotations

import re

import pytest
import yaml

from saleslayer_airflow.config.load import parse_connector
from saleslayer_airflow.exceptions import ConnectorConfigError
from tests.conftest import ROOT

#: A connector around an excerpt: every top-level key the excerpt gives replaces this one's.
BASE: dict[str, object] = {
    "id": "readme_excerpt",
    "description": "A README excerpt placed into a minimal connector.",
    "schedule": None,
    "start_date": "2026-11-01",
    "source": {"kind": "http", "conn_id": "erp_http", "endpoint": "export.csv"},
    "format": {"type": "csv"},
    "tables": {"products": {"reference": "sku", "fields": {"prod_title": "name"}}},
    "target": {"conn_id": "saleslayer_default"},
}

_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _blocks() -> list[tuple[int, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = []
    for match in _BLOCK.finditer(text):
        body = match.group(1)
        loaded = yaml.safe_load(body)
        if loaded is None:  # a comment alone, e.g. the schema line
            continue
        found.append((text.count("\n", 0, match.start()) + 1, body))
    return found


BLOCKS = _blocks()


def test_the_readme_shows_connector_excerpts() -> None:
    # The README documents the export shapes a connector file can express, each with an excerpt.
    # The connector example, the "Columns against an export" lines are not yaml, then one
    # excerpt per shape of "Real-world export shapes": losing one is a documentation regression.
    assert len(BLOCKS) >= 6, f"expected the connector example and the shapes' excerpts: {BLOCKS}"


@pytest.mark.parametrize(("line", "body"), BLOCKS, ids=[f"README.md:{n}" for n, _ in BLOCKS])
def test_every_readme_excerpt_validates(line: int, body: str) -> None:
    loaded = yaml.safe_load(body)
    assert isinstance(loaded, dict), f"README.md:{line}: a yaml block must be a mapping"
    unknown = set(loaded) - set(BASE) - _OTHER_TOP_LEVEL_KEYS
    assert not unknown, f"README.md:{line}: not connector keys: {sorted(unknown)}"
    # The excerpt verbatim, on its own README lines (blank lines above it), then the keys of the
    # minimal connector it does not give: the loader's message names the field, the fix and the
    # README line to edit.
    rest = {key: value for key, value in BASE.items() if key not in loaded and "id" not in loaded}
    text = "\n" * line + body + (yaml.safe_dump(rest, sort_keys=False) if rest else "")
    parse_connector(text, "README.md")


def test_an_excerpt_error_names_the_readme_line() -> None:
    """A broken excerpt's message points at the README line to fix, not inside the excerpt."""
    line, body = next((n, b) for n, b in BLOCKS if "continuation:" in b)
    broken = body.replace("continuation:", "continuaton:", 1)
    at = line + 1 + body[: body.index("continuation:")].count("\n")
    with pytest.raises(ConnectorConfigError) as caught:
        test_every_readme_excerpt_validates(line, broken)
    assert f"README.md:{at}" in str(caught.value), str(caught.value)


def _top_level_keys() -> set[str]:
    from saleslayer_airflow.config.connector import ConnectorConfig

    return {field.alias or name for name, field in ConnectorConfig.model_fields.items()}


_OTHER_TOP_LEVEL_KEYS = _top_level_keys()
