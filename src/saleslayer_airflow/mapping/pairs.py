"""Key=value cells: `color=Red,size=M,material=Cotton` read as pairs, one field per declared key.

The rules of a pairs cell (shape 6 of issue 13) live here, as plain Python the split applies
once per distinct cell (normalize/cells.py): split on the separator, each pair cut at its first
`assign`, keys and values trimmed. A cell that cannot be read as pairs rejects its row, with the
reason: a part without `assign` (often a value holding the separator, which Magento does not
escape: its "Fields Enclosure" export option quotes such values, read with `pairs.quote`), an
empty key, an unclosed quote, or a key given twice with different values. Empty parts (a
trailing separator) are skipped. A JSON object is its own pairs.

The same reading serves the product rows listing their variants (shape 5,
normalize/children.py): each listed variant is a pairs text.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from saleslayer_airflow.config.tables import FieldMapping, PairsFormat
from saleslayer_airflow.mapping.columns import is_empty
from saleslayer_airflow.mapping.plan import FieldSource
from saleslayer_airflow.mapping.values import FieldValue, Rejected, field_value, show_value
from saleslayer_airflow.validation.values import ValueProblem, as_text, shown

#: The reject code of a cell that is not key=value pairs.
BAD_PAIRS = "bad_pairs"


def _hint(fmt: PairsFormat) -> str:
    example = f"color{fmt.assign}Red{fmt.separator}size{fmt.assign}M"
    hint = f"pairs are written like {example}"
    if fmt.quote is None:
        hint += (
            f"; a value holding {fmt.separator!r} must be quoted in the export (set "
            "pairs.quote, e.g. '\"', for Magento's Fields Enclosure)"
        )
    return hint


def _segments(text: str, fmt: PairsFormat) -> Iterator[tuple[str, str]]:
    """(key, value) of each pair of ``text`` in order, trimmed; raises ValueProblem."""
    sep, assign, quote = fmt.separator, fmt.assign, fmt.quote
    size = len(text)
    pos = 0
    while pos <= size:
        found = text.find(sep, pos)
        end = size if found < 0 else found
        at = text.find(assign, pos, end)
        if at < 0:
            part = text[pos:end].strip()
            if part:
                raise ValueProblem(
                    f"{shown(part)!r} is not a key{assign}value pair ({_hint(fmt)})", BAD_PAIRS
                )
            pos = end + len(sep) if found >= 0 else size + 1
            continue
        key = text[pos:at].strip()
        if not key:
            raise ValueProblem(
                f"{shown(text[pos:end].strip())!r} has an empty key ({_hint(fmt)})", BAD_PAIRS
            )
        start = at + len(assign)
        while start < size and text[start].isspace():
            start += 1
        if quote is not None and text.startswith(quote, start):
            value, after = _quoted(text, start, quote, key)
            while after < size and text[after].isspace():
                after += 1
            if after < size and not text.startswith(sep, after):
                raise ValueProblem(
                    f"the quoted value of {key!r} is followed by {shown(text[after:])!r} "
                    f"instead of {sep!r}",
                    BAD_PAIRS,
                )
            yield key, value
            pos = after + len(sep) if after < size else size + 1
            continue
        yield key, text[start:end].strip()
        pos = end + len(sep) if found >= 0 else size + 1


def _plain(text: str, fmt: PairsFormat) -> Iterator[tuple[str, str]]:
    """:func:`_segments` without quotes: the same pairs and problems, by plain splits (the
    common case, several times faster)."""
    assign = fmt.assign
    for part in text.split(fmt.separator):
        key, found, value = part.partition(assign)
        if not found:
            if part.strip():
                raise ValueProblem(
                    f"{shown(part.strip())!r} is not a key{assign}value pair ({_hint(fmt)})",
                    BAD_PAIRS,
                )
            continue
        key = key.strip()
        if not key:
            raise ValueProblem(
                f"{shown(part.strip())!r} has an empty key ({_hint(fmt)})", BAD_PAIRS
            )
        yield key, value.strip()


def _quoted(text: str, start: int, quote: str, key: str) -> tuple[str, int]:
    """The quoted value starting at ``start`` (a doubled quote is one) and where it ends."""
    parts: list[str] = []
    index = start + 1
    while True:
        close = text.find(quote, index)
        if close < 0:
            raise ValueProblem(f"the quoted value of {key!r} is never closed", BAD_PAIRS)
        if text.startswith(quote, close + 1):
            parts.append(text[index : close + 1])
            index = close + 2
            continue
        parts.append(text[index:close])
        return "".join(parts), close + 1


def parse_pairs(raw: object, fmt: PairsFormat) -> dict[str, object]:
    """The pairs of one cell, by key, in order; ``{}`` for an empty cell. A JSON object is taken
    as it is (its keys as text). Raises :class:`ValueProblem` (code :data:`BAD_PAIRS`)."""
    if is_empty(raw):
        return {}
    if isinstance(raw, Mapping):
        return {str(k): v for k, v in raw.items()}
    text = as_text(raw)
    pairs: dict[str, object] = {}
    for key, value in _segments(text, fmt) if fmt.quote is not None else _plain(text, fmt):
        if key in pairs and pairs[key] != value:
            raise ValueProblem(
                f"key {key!r} appears twice with different values ({shown(pairs[key])!r} and "
                f"{shown(value)!r})",
                BAD_PAIRS,
            )
        pairs[key] = value
    return pairs


def pair_field_value(source: FieldSource, cell: object) -> FieldValue | Rejected:
    """The value of a `key` field for a row whose column holds ``cell``: the key's value, then
    the field's own rules (default, required, separator, transforms, type) as for a column."""
    spec: FieldMapping = source.spec
    assert spec.key is not None
    try:
        pairs = parse_pairs(cell, spec.pair_format())
    except ValueProblem as problem:
        return Rejected(
            f"field {source.out!r}: column {source.column!r} is not key=value pairs: "
            f"{problem.reason}",
            problem.code,
            show_value(cell),
        )
    return field_value(source, pairs.get(spec.key))


def ascii_class(excluded: str, *, space: bool = False) -> str:
    """A regex class of printable ASCII but ``excluded`` (and the space when asked), in hex
    escapes: read alike by Python's re and polars' regex engine."""
    chars = [chr(c) for c in range(0x21, 0x7F) if chr(c) not in excluded]
    return "[" + hex_text("".join(chars)) + ("\\x20" if space else "") + "]"


def hex_text(text: str) -> str:
    """``text`` as a regex of hex escapes (each character literal)."""
    return "".join(f"\\x{ord(c):02X}" for c in text)


def simple_pairs(fmt: PairsFormat) -> str | None:
    """A regex of the cells whose pairs :func:`parse_pairs` reads by plain splits, nothing
    trimmed: printable ASCII, no blank around a separator, no empty part, no `assign` in a value,
    one-character separators, no quotes (None when ``fmt`` allows no such cell). The split reads
    those vectorised; a key given twice is checked apart."""
    if fmt.quote is not None or len(fmt.separator) != 1 or len(fmt.assign) != 1:
        return None
    plain = ascii_class(fmt.separator + fmt.assign)
    inner = ascii_class(fmt.separator + fmt.assign, space=True)
    pair = f"{plain}+{hex_text(fmt.assign)}(?:{plain}(?:{inner}*{plain})?)?"
    return f"^{pair}(?:{hex_text(fmt.separator)}{pair})*$"


def key_value(fmt: PairsFormat, key: str) -> str:
    """A regex whose group 1 is the value of ``key`` in a :func:`simple_pairs` cell."""
    sep = hex_text(fmt.separator)
    return f"(?:^|{sep}){hex_text(key)}{hex_text(fmt.assign)}([^{sep}]*)"


def undeclared_keys(
    raw: object, fmt: PairsFormat, declared: frozenset[str]
) -> tuple[str, ...] | None:
    """The keys of a cell no field declares (each once, in order); None when the cell cannot
    be read as pairs (its row is rejected for that, not counted)."""
    try:
        pairs = parse_pairs(raw, fmt)
    except ValueProblem:
        return None
    return tuple(key for key in pairs if key not in declared)


def unknown_key_reason(key: str, column: str) -> str:
    """The counted reason of the rows whose ``column`` holds a key no field declares."""
    return f"unknown key {key!r} in {column} (no field declares it)"
