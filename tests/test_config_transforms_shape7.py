"""Shape 7 of issue 13: every misuse of the value transforms, a field's `template:` and a
per-language `default` fails when the connector file is read, as `file:line: field: message`
with the fix; the valid forms load and survive the dump the DAG hands its tasks."""

from __future__ import annotations

import pytest

from saleslayer_airflow.config import parse_connector
from saleslayer_airflow.config.models import ConnectorConfig
from saleslayer_airflow.exceptions import ConnectorConfigError

HEAD = """\
id: shop
description: A test connector.
schedule: "@daily"
start_date: 2026-11-01
source:
  kind: ftp
  conn_id: erp_ftp
  path: /exports/products.csv
format:
  type: csv
tables:
  products:
    reference: sku
    fields:
"""  # the field below is on line 15


def _problems(field: str) -> str:
    with pytest.raises(ConnectorConfigError) as caught:
        parse_connector(HEAD + field, "shop.yaml")
    return str(caught.value)


CASES = [
    (
        "      name: {column: name, transforms: [{extract: {pattern: 'a(b'}}]}\n",
        "shop.yaml:15: tables.products.fields.name.transforms[0].extract.pattern: 'a(b' is not a "
        "valid regular expression: missing ), unterminated subpattern at position 1",
    ),
    (
        "      name: {column: name, transforms: [{trim: true}, "
        "{replace: {pattern: '[', with: x}}]}\n",
        "shop.yaml:15: tables.products.fields.name.transforms[1].replace.pattern: '[' is not a "
        "valid regular expression: unterminated character set",
    ),
    (
        "      name: {column: name, transforms: [{extract: {pattern: 'a(b)', group: 2}}]}\n",
        "shop.yaml:15: tables.products.fields.name.transforms[0].extract: group 2 does not exist: "
        "the pattern 'a(b)' has 1 group(s)",
    ),
    (
        "      name: {column: name, transforms: [{extract: {pattern: 'a(b)', group: size}}]}\n",
        "transforms[0].extract: group 'size' is not a named group of the pattern 'a(b)' (named "
        "groups: none); name one with (?P<size>...)",
    ),
    (
        "      name: {column: name, transforms: [{replace: {pattern: 'a(b)', with: '\\2'}}]}\n",
        "transforms[0].replace: the replacement '\\\\2' does not fit the pattern 'a(b)': invalid "
        "group reference 2",
    ),
    (
        "      name: {column: name, transforms: [{replace: {pattern: 'a'}}]}\n",
        "transforms[0].replace.with: required key is missing",
    ),
    (
        "      name: {column: name, transforms: [{template: 'https://x/{path}'}]}\n",
        "transforms[0].template: a transform's template places the field's value with {value}, "
        "and knows no other name ({path} in 'https://x/{path}'); to combine source columns give "
        "the field a `template:`",
    ),
    (
        "      name: {column: name, transforms: [{template: 'https://x/'}]}\n",
        "transforms[0].template: a transform's template places the field's value with {value}",
    ),
    (
        "      name: {column: name, transforms: [{template: '{value'}]}\n",
        "transforms[0].template: the '{' at position 1 of '{value' is never closed",
    ),
    (
        "      name: {column: name, transforms: [{split: {separator: '', index: 0}}]}\n",
        "transforms[0].split.separator:",
    ),
    (
        "      name: {column: name, transforms: [{split: {separator: /, index: 0, "
        "on_missing: drop}}]}\n",
        "transforms[0].split.on_missing:",
    ),
    (
        "      name: {column: name, transforms: [{prefix: a, suffix: b}]}\n",
        "transforms[0]: each transform sets exactly one of trim, case, map, parse_number, "
        "parse_date, prefix, suffix, template, html_unescape, extract, replace, split (this one "
        "sets prefix, suffix)",
    ),
    (
        "      name: {template: '{brand} {name}', column: name}\n",
        "shop.yaml:15: tables.products.fields.name: `template` combines source columns into the "
        "value: remove `column`",
    ),
    (
        "      name: {template: 'no column'}\n",
        "the template 'no column' names no column: write each column in braces",
    ),
    (
        "      name: {template: '{brand} {name_{lang}}'}\n",
        "uses {lang} but the field declares no `languages:`",
    ),
    (
        "      name: {template: '{brand} {name}', languages: [en, es]}\n",
        "names no language column, so every language would get the same value; put {lang} inside "
        "a placeholder",
    ),
    (
        "      name: {template: '{brand} {name}}'}\n",
        "a single '}' at position 15 of '{brand} {name}}'; write '}}' for a literal brace",
    ),
    (
        "      name:\n        template: {brand}\n",
        "shop.yaml:16: tables.products.fields.name.template: a template must be quoted in YAML",
    ),
    (
        "      name: {column: name, default: {en: New}}\n",
        "`default` gives one value per language, but the field declares no `languages:`",
    ),
    (
        "      name: {column: name, languages: [en, es], default: {en: New, esp: Nuevo}}\n",
        "`default` gives a value for 'esp', not a language of the field (did you mean 'es'?); its "
        "languages are: en, es",
    ),
    (
        "      name: {column: name, languages: [en, es], default: {}}\n",
        "`default: {}` gives no value",
    ),
]


@pytest.mark.parametrize(("field", "expected"), CASES, ids=[c[1][:60] for c in CASES])
def test_misuse_is_a_config_error_with_the_fix(field: str, expected: str) -> None:
    assert expected in _problems(field)


def test_the_valid_forms_load_and_survive_the_dag_dump() -> None:
    fields = (
        "      name:\n"
        "        template: '{{{Variant SKU}}} {brand} {name_{lang}}'\n"
        "        languages: [en, es]\n"
        "        default: {es: Sin nombre}\n"
        "      image:\n"
        "        column: image\n"
        "        separator: ','\n"
        "        transforms:\n"
        "          - {html_unescape: true}\n"
        "          - {extract: {pattern: '(?P<path>/[^?]+)', group: path, on_no_match: keep}}\n"
        "          - {replace: {pattern: '^/+', with: '/'}}\n"
        "          - {split: {separator: '#', index: 0, on_missing: empty}}\n"
        "          - {template: 'https://cdn.example.com/media{value}'}\n"
        "          - {prefix: ''}\n"
        "          - {suffix: '?w=800'}\n"
    )
    config = parse_connector(HEAD + fields, "shop.yaml")
    # the DAG hands each task the config as JSON data, validated again there
    again = ConnectorConfig.model_validate(config.model_dump(mode="json"))
    assert again == config
    name = again.tables["products"].fields["name"]
    assert name.template_columns() == ["Variant SKU", "brand", "name_en", "name_es"]
    assert (name.default_for("en"), name.default_for("es")) == (None, "Sin nombre")
    image = again.tables["products"].fields["image"]
    replace = image.transforms[2].replace
    assert replace is not None and (replace.pattern, replace.with_) == ("^/+", "/")
