"""A fast path for :func:`saleslayer_airflow.emulator.form.parse_import_form`.

Clients (the official SDK, this project's) send every key as ``input_data%5B<table>%5D%5B<i>%5D
%5B<field>%5D`` with plain table and field names. Such a body is parsed here with one regular
expression over the whole text instead of ``parse_qsl`` and a key match per pair, which cost more
than applying the items. Anything else (another spelling of the brackets, an odd name, a bad
index, a key given twice, a value that is not UTF-8 once decoded) goes to the strict parser, so
every refusal keeps its exact wording: this path only ever returns what that parser would.
"""

from __future__ import annotations

import codecs
import itertools
import operator
import re
from urllib.parse import unquote

from saleslayer_airflow.emulator.form import FormError, ImportForm, Rows, parse_import_form

# One item pair with the "&" before it (none for the first): the row's key
# (``input_data%5B<table>%5D%5B<index>%5D``), the field and the raw value. A match ends where
# its pair ends, so the matches of a body whose every pair has this shape are exactly its pairs,
# one per "&" plus one; any other body (flags included) goes to the strict parser.
_PAIR = re.compile(
    r"(?:^|&)((?:input_data|delete_data)%5B[A-Za-z0-9_]+%5D%5B(?:0|[1-9][0-9]{0,8})%5D)"
    r"%5B([A-Za-z0-9_]+)%5D=([^&]*)"
)
_KEY, _NAME, _VALUE = (operator.itemgetter(i) for i in range(3))


class _Fallback(Exception):
    """The body needs the strict parser (to be read, or to be refused in its words)."""


def parse_import_form_fast(body: bytes) -> ImportForm:
    """Parse a ``set_info`` body; the same result (or :class:`FormError`) as the strict parser."""
    try:
        return _parse(body)
    except _Fallback:
        return parse_import_form(body)


def _parse(body: bytes) -> ImportForm:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _Fallback from None
    if not text or "\x00" in text or "%00" in text:
        raise _Fallback  # NUL separates the values decoded together below
    pairs = _PAIR.findall(text)
    if len(pairs) != text.count("&") + 1:
        raise _Fallback  # some pair is not an item pair of the shape above
    keys = list(map(_KEY, pairs))
    names = list(map(_NAME, pairs))
    values = _decode_values(list(map(_VALUE, pairs)))
    # The pairs of one row come together: each run of pairs with the same key becomes a row at
    # once (the runs are found without a Python loop over the pairs).
    starts = [0, *itertools.compress(itertools.count(1), map(operator.ne, keys, keys[1:]))]
    ends = [*starts[1:], len(pairs)]
    sections: dict[str, dict[str, dict[int, dict[str, str]]]] = {
        "input_data": {},
        "delete_data": {},
    }
    tables: dict[str, dict[int, dict[str, str]]] = {}
    fields = zip(names, values, strict=True)
    for start, end in zip(starts, ends, strict=True):
        row = dict(itertools.islice(fields, end - start))
        head, _, index = keys[start][:-3].rpartition("%5D%5B")
        by_index = tables.get(head)
        if by_index is None:
            section, _, table = head.partition("%5B")
            by_index = tables[head] = sections[section].setdefault(table, {})
        number = int(index)
        if len(row) != end - start or number in by_index:
            raise _Fallback  # a key given twice (or a row in two places: let the parser judge)
        by_index[number] = row
    form = ImportForm()
    for name, by_table in sections.items():
        rows: Rows = {
            t: [by_index[i] for i in sorted(by_index)] for t, by_index in by_table.items()
        }
        setattr(form, name, rows)
    return form


def _decode_values(raw: list[str]) -> list[str]:
    """Every value plus- and percent-decoded, in one call: joined by NUL (which no value holds),
    decoded, split again. UTF-8 never spans a NUL, so each value decodes as it would alone, and
    a value that is not UTF-8 fails the whole (then the strict parser names it)."""
    joined = "\x00".join(raw).replace("+", " ")
    if "%" not in joined:
        return joined.split("\x00")
    if joined.isascii() and "\\" not in joined:
        # "%XY" as the escape "\xXY", decoded in C: what unquote() does, when every "%" starts
        # an escape (else escape_decode refuses, and unquote() keeps such a "%" as it is).
        try:
            data: bytes = codecs.escape_decode(joined.replace("%", "\\x"))[0]
        except ValueError:
            pass
        else:
            try:
                return data.decode("utf-8").split("\x00")
            except UnicodeDecodeError:
                raise _Fallback from None
    try:
        return unquote(joined, errors="strict").split("\x00")
    except UnicodeDecodeError:
        raise _Fallback from None


__all__ = ["FormError", "parse_import_form_fast"]
