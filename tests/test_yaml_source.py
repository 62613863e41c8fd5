"""Connector files are read as plain data only, with the line of every key."""

from __future__ import annotations

from pathlib import Path

import pytest

from saleslayer_airflow.config.yaml_source import MAX_NODES, YamlSourceError, parse_yaml


def test_lines_of_keys_and_list_items() -> None:
    doc = parse_yaml("a: 1\nb:\n  c: [x, y]\n  d:\n    - e: 2\n")
    assert doc.data == {"a": 1, "b": {"c": ["x", "y"], "d": [{"e": 2}]}}
    assert doc.lines[("a",)] == 1
    assert doc.lines[("b", "c")] == 3
    assert doc.lines[("b", "d", 0, "e")] == 5
    assert doc.line_of(("b", "d", 0, "missing")) == 5


@pytest.mark.parametrize(
    "payload",
    [
        "!!python/object/apply:os.system ['touch {marker}']",
        "!!python/object/new:os.system ['touch {marker}']",
        "!!python/name:os.system",
        "!!python/object/apply:subprocess.check_call [['touch', '{marker}']]",
    ],
)
def test_python_tags_are_refused_and_never_run(tmp_path: Path, payload: str) -> None:
    marker = tmp_path / "executed"
    with pytest.raises(YamlSourceError) as caught:
        parse_yaml("id: x\nvalue: " + payload.format(marker=marker) + "\n")
    assert caught.value.line == 2
    assert "not allowed" in caught.value.message
    assert not marker.exists()


def test_custom_tag_on_a_mapping_is_refused() -> None:
    with pytest.raises(YamlSourceError, match="not allowed"):
        parse_yaml("source: !custom {kind: ftp}\n")


def test_duplicate_keys_are_recorded_with_both_lines() -> None:
    doc = parse_yaml("a: 1\nb: 2\na: 3\n")
    assert doc.duplicate_keys == [(("a",), 1, 3)]


def test_merge_keys_work() -> None:
    doc = parse_yaml("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n")
    assert doc.data["other"] == {"x": 1, "y": 3}


def test_alias_bomb_is_bounded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    with pytest.raises(YamlSourceError, match=str(MAX_NODES)):
        parse_yaml("\n".join(lines) + "\n")


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(YamlSourceError):
        parse_yaml("a: &a\n  b: *a\n")


def test_yes_and_on_keys_stay_text() -> None:
    # YAML 1.1 reads bare `on`/`yes` as booleans; as keys they must stay what was written.
    assert parse_yaml("on: 1\nyes: 2\n").data == {"on": 1, "yes": 2}
