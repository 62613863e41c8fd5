"""PHP bracket-notation form bodies of the Import Connector API, as the official SDK sends them.

``input_data[<table>][<i>][<field>]=<value>`` and ``delete_data[<table>][<i>][<ref field>]=<ref>``,
brackets percent-encoded, spaces as ``+`` (PHP ``http_build_query``). Every value travels as a
string: lists are comma-joined (Sales Layer forbids commas inside a list value, so one is refused
here rather than silently splitting the value), a culture-keyed mapping becomes one field per
language (``prod_title: {"en": "Shoe"}`` -> ``prod_title_en=Shoe``), booleans are ``1``/``0``
like PHP, and ``None`` is an empty string (the field is cleared).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote_plus

from saleslayer_airflow.exceptions import SalesLayerTerminalError

INPUT_DATA = "input_data"
DELETE_DATA = "delete_data"

Row = Mapping[str, Any]

_PLAIN = re.compile(r"[A-Za-z0-9_.\-]*\Z")


def php_urlencode(text: str) -> str:
    """PHP ``urlencode``: everything but ``A-Za-z0-9-_.`` is percent-encoded, space is ``+``."""
    return quote_plus(text, safe="").replace("~", "%7E")


def _scalar(value: Any, *, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, str | int | float):
        return str(value)
    raise SalesLayerTerminalError(
        f"{where}: a value of type {type(value).__name__} cannot be sent to the Import Connector "
        "API; send text, numbers, booleans, a list of those, or a culture-keyed mapping"
    )


def join_list(values: Sequence[Any] | frozenset[Any] | set[Any], *, where: str) -> str:
    """Comma-join list values; refuse a comma inside one (Sales Layer forbids it)."""
    parts = []
    for element in values:
        text = _scalar(element, where=where)
        if "," in text:
            raise SalesLayerTerminalError(
                f"{where}: list value {text!r} contains a comma; Sales Layer separates list "
                "values by commas and forbids commas inside one, so fix the value in the source "
                "data or the mapping (for example replace the comma)"
            )
        parts.append(text)
    return ",".join(parts)


def _check_name(name: str, *, what: str, where: str) -> None:
    if not name or "[" in name or "]" in name:
        raise SalesLayerTerminalError(
            f"{where}: {what} {name!r} is empty or contains a bracket, which the form encoding "
            "of the Import Connector API cannot carry; fix the field mapping"
        )


@functools.lru_cache(maxsize=4096)
def _plain_name(name: str) -> bool:
    return bool(name) and "[" not in name and "]" not in name


def flatten_row(table: str, row: Row, *, item: str = "") -> list[tuple[str, str]]:
    """The ``(field, text)`` pairs one row travels as, in the row's order.

    ``item`` (e.g. ``"#3 (prod_ref P1)"``) only serves error messages.
    """
    pairs: list[tuple[str, str]] = []
    for field, value in row.items():
        if type(value) is str and _plain_name(field):
            pairs.append((field, value))  # the common case, kept cheap for 100k-item pushes
            continue
        where = f"table {table!r}, item {item or '?'}, field {field!r}"
        _check_name(field, what="field name", where=where)
        if isinstance(value, Mapping):
            for culture, text in value.items():
                _check_name(str(culture), what="language code", where=where)
                if isinstance(text, list | tuple | set | frozenset):
                    pairs.append((f"{field}_{culture}", join_list(text, where=where)))
                else:
                    pairs.append((f"{field}_{culture}", _scalar(text, where=where)))
        elif isinstance(value, list | tuple | set | frozenset):
            pairs.append((field, join_list(value, where=where)))
        else:
            pairs.append((field, _scalar(value, where=where)))
    return pairs


@functools.lru_cache(maxsize=4096)
def _encoded_name(name: str) -> str:
    return php_urlencode(name)


def _encoded_value(text: str) -> str:
    # Most values (references, numbers, codes) need no escaping; skip the encoder for them.
    return text if _PLAIN.match(text) else php_urlencode(text)


def item_fields(section: str, table: str, index: int | str, row: Row, *, item: str = "") -> str:
    """The encoded form fields of one item at position ``index`` of its table, ``&``-joined
    (``index`` may be a text standing for it, which a caller substitutes)."""
    _check_name(table, what="table name", where=f"table {table!r}")
    head = f"{_encoded_name(section)}%5B{_encoded_name(table)}%5D%5B{index}%5D%5B"
    return "&".join(
        f"{head}{_encoded_name(field)}%5D={_encoded_value(text)}"
        for field, text in flatten_row(table, row, item=item or f"#{index}")
    )


def encode_body(
    input_data: Mapping[str, Iterable[Row]] | None = None,
    delete_data: Mapping[str, Iterable[Row]] | None = None,
    *,
    input_data_directly: bool = False,
) -> bytes:
    """The whole ``application/x-www-form-urlencoded`` body of one ``set_info`` call."""
    parts: list[str] = []
    for section, tables in ((INPUT_DATA, input_data), (DELETE_DATA, delete_data)):
        for table, rows in (tables or {}).items():
            parts.extend(
                encoded
                for index, row in enumerate(rows)
                if (encoded := item_fields(section, table, index, row))
            )
    if input_data_directly:
        parts.append("input_data_directly=1")
    return "&".join(parts).encode("ascii")
