"""The items to send of a staged table, encoded on columns: what a first import pays per item.

For the Import Connector API, the rows of a staged record batch that are sent are turned, a
column at a time (polars, and numpy on the UTF-8 bytes for the percent-encoding), into:

- their form fragment: the exact text :func:`~saleslayer_airflow.saleslayer.connector_api.
  encode_item` gives the item (reference field first, then its fields in column order), with
  :data:`PLACEHOLDER` where the item's index in its call goes; a call substitutes it;
- their content JSON for the state store (sorted keys; reads back with ``json.loads`` to the
  values of the item's fields);
- whether they send an empty field (only those updates need their previous state).

They travel through the pipeline as an :class:`EncodedBatch`: columns, not an object per item.
It is still a ``Sequence[SentItem]`` (an item is built when asked for: the REST transport,
refusals), so the generic code keeps working.

A value the columns cannot prove they encode like ``encode_item`` leaves its row to the per-item
path (its fragment and content are None; the transport encodes it from its fields, and raises
the form module's errors): list elements holding a comma (refused by the form module). A batch
whose columns are unusual (float or nested columns, a table or field name with brackets, two
columns for one field, the reference field among the fields) takes the per-item path whole.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

from saleslayer_airflow.push.items import StagedLayout
from saleslayer_airflow.push.pipeline import OutgoingItem, SentItem
from saleslayer_airflow.saleslayer.form import INPUT_DATA, php_urlencode
from saleslayer_airflow.state.delta import Decision
from saleslayer_airflow.state.store import content_json

if TYPE_CHECKING:
    import numpy as np
    import polars as pl
    import pyarrow as pa

#: Stands for the item's index in its call in a fragment: percent-encoding never leaves one
#: (a NUL in a value is sent as %00), so every one found was put there.
PLACEHOLDER = "\x00"
#: Decision codes (push.columnar's) of the items sent.
CREATE_CODE, UPDATE_CODE = 1, 2
_DECISIONS = {CREATE_CODE: Decision.CREATE, UPDATE_CODE: Decision.UPDATE}
#: Characters PHP's urlencode leaves as they are (a space becomes "+").
_SAFE_CHARACTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
#: A staged number the form sends as staged and stores as an int: no leading zero, not "-0".
_PLAIN_INTEGER = r"^(0|-?[1-9][0-9]*)$"
#: A staged number sent as staged (an ExactNumber): a fraction with a digit other than 0.
_PLAIN_FRACTION = r"^-?[0-9]+\.[0-9]*[1-9][0-9]*$"


@dataclass(frozen=True)
class FormEncoding:
    """What a transport encodes items into: the Import Connector section, table and reference
    field (the field an item's reference is sent under, first)."""

    table: str
    reference_field: str
    section: str = INPUT_DATA


# --------------------------------------------------------------------------- percent-encoding


def _safe_table() -> np.ndarray:
    import numpy as np

    table = np.zeros(256, dtype=bool)
    table[np.frombuffer(_SAFE_CHARACTERS, dtype=np.uint8)] = True
    return table


_TABLES: dict[str, Any] = {}


def urlencoded(array: pa.Array) -> pa.Array:
    """PHP ``urlencode`` of every value of a string array, on its UTF-8 bytes: bytes outside
    ``A-Za-z0-9_.-`` become ``%XX`` (upper case hex), spaces ``+``; exactly what
    :func:`~saleslayer_airflow.saleslayer.connector_api._urlencode` gives each value. Nulls stay
    null. Returns a ``large_string`` array."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if "safe" not in _TABLES:
        _TABLES["safe"] = _safe_table()
        _TABLES["hex"] = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)
    safe_table, hex_digits = _TABLES["safe"], _TABLES["hex"]
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    array = array.cast(pa.large_string())
    size = len(array)
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[array.offset : array.offset + size + 1]
    first, last = int(offsets[0]), int(offsets[-1])
    if data_buffer is None or last == first:
        return array
    data = np.frombuffer(data_buffer, dtype=np.uint8)[first:last]
    safe = safe_table[data]
    if safe.all():
        return array
    space = data == 0x20
    escaped = ~(safe | space)
    validity = pc.is_valid(array).buffers()[1] if array.null_count else None
    if not escaped.any():
        # Spaces only (most text): "+" for each, the offsets stay.
        out = np.where(space, np.uint8(ord("+")), data)
        boundaries = offsets - first
    else:
        # Each escaped byte takes 3 characters: where each byte goes, in 32 bits (a record
        # batch's text is far below 2 GB) to keep the temporaries small.
        width = np.ones(len(data), dtype=np.int32)
        width[escaped] = 3
        ends = np.cumsum(width, dtype=np.int64)
        starts = ends - width
        out = np.empty(int(ends[-1]), dtype=np.uint8)
        plain = ~escaped
        out[starts[plain]] = np.where(space[plain], np.uint8(ord("+")), data[plain])
        where, byte = starts[escaped], data[escaped]
        out[where] = ord("%")
        out[where + 1] = hex_digits[byte >> 4]
        out[where + 2] = hex_digits[byte & 15]
        boundaries = np.concatenate([np.zeros(1, dtype=np.int64), ends])[offsets - first]
    return pa.Array.from_buffers(
        pa.large_string(),
        size,
        [validity, pa.py_buffer(boundaries), pa.py_buffer(out)],
        null_count=array.null_count,
    )


# --------------------------------------------------------------------------- one column


@dataclass
class _Column:
    """One staged column of the rows sent: its text in the form (not yet percent-encoded;
    null where the field is left out), its content JSON token (null where left out), which rows
    send it empty, and which rows only the per-item path encodes exactly."""

    text: pl.Series
    token: pl.Series
    sent_empty: pl.Series
    fallback: pl.Series | None = None


class _Unusual(Exception):
    """A column the column encoding has no exact rule for: the batch takes the per-item path."""


def _number_texts(series: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Form text and JSON token of an exact number column (staged decimal text), as
    ``_exact`` reads each value: plain integers and fractions on the column, each other
    distinct value once in Python (which raises on a value that is no number, as
    :meth:`StagedLayout.fields` does)."""
    import polars as pl

    from saleslayer_airflow.push.items import _exact
    from saleslayer_airflow.saleslayer.connector_api import _text

    integer = series.str.contains(_PLAIN_INTEGER).fill_null(value=False)
    fraction = series.str.contains(_PLAIN_FRACTION).fill_null(value=False)
    quoted = pl.concat_str([pl.lit('"'), series, pl.lit('"')])
    frame = pl.DataFrame({"value": series, "integer": integer, "fraction": fraction})
    token = frame.select(
        pl.when(pl.col("integer"))
        .then(pl.col("value"))
        .when(pl.col("fraction"))
        .then(quoted)
        .otherwise(pl.lit(None, dtype=pl.String))
    ).to_series()
    text = frame.select(
        pl.when(pl.col("integer") | pl.col("fraction")).then(pl.col("value"))
    ).to_series()
    other = ~(integer | fraction) & series.is_not_null() & (series != "")
    if other.any():
        positions = other.arg_true()
        distinct = series.gather(positions).unique().to_list()
        values = [_exact(value) for value in distinct]
        texts = [_text(value) for value in values]
        tokens = [content_json(value) for value in values]
        others = series.gather(positions)
        text = text.scatter(positions, others.replace_strict(distinct, texts))
        token = token.scatter(positions, others.replace_strict(distinct, tokens))
    return text, token


def _list_texts(series: pl.Series) -> tuple[pl.Series, pl.Series, pl.Series]:
    """Form text (comma-joined element texts), JSON token, and the rows the form module would
    refuse (a comma inside an element) of a list column."""
    import polars as pl

    from saleslayer_airflow.push.columnar import _list_tokens

    inner = series.dtype.inner  # type: ignore[attr-defined]
    element = pl.element()
    if inner == pl.String:
        texts = element
        comma = series.list.eval(element.str.contains(",", literal=True).fill_null(value=False))
        refused = comma.list.any().fill_null(value=False)
    elif inner == pl.Boolean:
        texts = pl.when(element).then(pl.lit("1")).otherwise(pl.lit("0"))
        refused = pl.Series([False] * len(series))
    elif inner.is_integer():
        texts = element.cast(pl.String)
        refused = pl.Series([False] * len(series))
    else:
        raise _Unusual(f"list of {inner}")
    joined = series.list.eval(
        pl.when(element.is_null()).then(pl.lit("")).otherwise(texts)
    ).list.join(",")
    return joined, _list_tokens(series), refused


def _empty(series: pl.Series) -> pl.Series:
    """Where a staged column's cells are empty (``value in (None, "", [])``)."""
    import polars as pl

    if series.dtype == pl.String:
        return (series.is_null() | (series == "")).fill_null(value=True)
    if isinstance(series.dtype, pl.List):
        return (series.is_null() | (series.list.len() == 0)).fill_null(value=True)
    return series.is_null()


def _column(series: pl.Series, *, number: bool, clear: Any, clears: pl.Series | None) -> _Column:
    """The :class:`_Column` of one staged column. ``clear``: the value an empty cell is sent as
    ("" or []), or ``None`` when the field is left out; ``clears``: with a category path, the
    rows whose empty cells are sent (the others leave them out)."""
    import polars as pl

    from saleslayer_airflow.push.columnar import _string_tokens

    dtype = series.dtype
    fallback = None
    empty = _empty(series)
    if dtype == pl.String:
        if number:
            text, token = _number_texts(series)
        else:
            text, token = series, _string_tokens(series)
    elif dtype == pl.Boolean:
        text = pl.select(
            pl.when(series).then(pl.lit("1")).when(~series).then(pl.lit("0"))
        ).to_series()
        token = series.cast(pl.String)
    elif dtype.is_integer():
        text = token = series.cast(pl.String)
    elif dtype == pl.Null:
        text = token = pl.Series([None] * len(series), dtype=pl.String)
    elif isinstance(dtype, pl.List):
        text, token, fallback = _list_texts(series)
    else:
        raise _Unusual(str(dtype))
    if clear is None:
        sent_empty = pl.Series([False] * len(series))
    else:
        sent_empty = empty if clears is None else empty & clears
    empty_token = "[]" if clear == [] else '""'
    frame = pl.DataFrame({"empty": empty, "sent": sent_empty, "text": text, "token": token})
    text, token = frame.select(
        pl.when(pl.col("sent"))
        .then(pl.lit(""))
        .when(pl.col("empty"))
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(pl.col("text"))
        .alias("text"),
        pl.when(pl.col("sent"))
        .then(pl.lit(empty_token))
        .when(pl.col("empty"))
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(pl.col("token"))
        .alias("token"),
    )
    return _Column(text, token, sent_empty, fallback)


# --------------------------------------------------------------------------- rows


@dataclass
class EncodedRows:
    """The rows sent of one record batch, encoded (see the module's doc): per row its form
    fragment and content JSON (None: the per-item path encodes it), the fragment's length and
    placeholders, and whether it sends an empty field."""

    fragments: list[str | None]
    contents: list[str | None]
    lengths: np.ndarray
    holes: np.ndarray
    sends_empty: np.ndarray
    #: Each field that may be sent empty, and the rows that send it empty.
    empty_fields: list[tuple[str, np.ndarray]]


def _plain_name(name: str) -> bool:
    return bool(name) and "[" not in name and "]" not in name


def encode_rows(
    batch: pa.RecordBatch, layout: StagedLayout, encoding: FormEncoding
) -> EncodedRows | None:
    """The rows of ``batch`` (its first column the references, then staged columns) encoded;
    None when the batch takes the per-item path whole (see the module's doc)."""
    import numpy as np
    import polars as pl

    targets = list(layout.names.values())
    names_ok = all(_plain_name(name) for name in (encoding.table, *targets))
    if (
        not names_ok
        or len(set(targets)) != len(targets)
        or encoding.reference_field in layout.names.values()
        or not _plain_name(encoding.reference_field)
    ):
        return None
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    rows = batch.num_rows
    clears = None
    if layout.levels:
        # A level above a row's own category (every level field empty) clears nothing.
        level_empty = [_empty(frame[column]) for column in sorted(layout.levels)]
        clears = ~pl.select(pl.all_horizontal(level_empty)).to_series()
    head = (
        f"{php_urlencode(encoding.section)}%5B{php_urlencode(encoding.table)}%5D%5B"
        f"{PLACEHOLDER}%5D%5B"
    )
    reference = frame[batch.schema.names[0]]
    if not (reference.dtype == pl.String or reference.dtype.is_integer()):
        return None  # str() of another kind is Python's own: the per-item path
    reference = reference.cast(pl.String)
    fragments = [pl.concat_str([pl.lit(f"{head}{php_urlencode(encoding.reference_field)}%5D=")])]
    encoded: list[pl.Series] = [pl.Series(urlencoded(reference.to_arrow()))]
    tokens: list[tuple[str, pl.Series]] = []
    sends_empty = np.zeros(rows, dtype=bool)
    empty_fields: list[tuple[str, np.ndarray]] = []
    fallback = np.zeros(rows, dtype=bool)
    try:
        for column in batch.schema.names[1:]:
            if column not in layout.names:
                continue
            name = layout.names[column]
            clear = layout.clear.get(column)
            staged = _column(
                frame[column], number=column in layout.numbers, clear=clear, clears=clears
            )
            fragments.append(pl.lit(f"{head}{php_urlencode(name)}%5D="))
            encoded.append(pl.Series(urlencoded(staged.text.to_arrow())))
            tokens.append((name, staged.token))
            if clear is not None:
                sent_empty = staged.sent_empty.to_numpy()
                sends_empty |= sent_empty
                empty_fields.append((name, sent_empty))
            if staged.fallback is not None:
                fallback |= staged.fallback.to_numpy()
    except _Unusual:
        return None
    parts = [
        pl.concat_str([prefix, value]) for prefix, value in zip(fragments, encoded, strict=True)
    ]
    fragment = pl.select(pl.concat_str(parts, separator="&", ignore_nulls=True)).to_series()
    content = _content(tokens, rows)
    measured = pl.DataFrame({"fragment": fragment}).select(
        pl.col("fragment").str.len_bytes().alias("length"),
        pl.col("fragment").str.count_matches(PLACEHOLDER, literal=True).alias("holes"),
    )
    fragment_list: list[str | None] = fragment.to_list()
    content_list: list[str | None] = content.to_list()
    if fallback.any():
        for position in np.flatnonzero(fallback).tolist():
            fragment_list[position] = content_list[position] = None
    return EncodedRows(
        fragment_list,
        content_list,
        measured["length"].to_numpy().astype(np.int64),
        measured["holes"].to_numpy().astype(np.int64),
        sends_empty,
        empty_fields,
    )


def _content(tokens: list[tuple[str, pl.Series]], rows: int) -> pl.Series:
    """The content JSON of each row: ``{"name":token,...}`` in key order, fields left out
    skipped."""
    import json

    import polars as pl

    if not tokens:
        return pl.Series(["{}"] * rows, dtype=pl.String)
    fragments = [
        pl.concat_str([pl.lit(json.dumps(name, ensure_ascii=False) + ":"), token])
        for name, token in sorted(tokens, key=lambda pair: pair[0])
    ]
    body = pl.concat_str(fragments, separator=",", ignore_nulls=True)
    return pl.select(pl.concat_str([pl.lit("{"), body.fill_null(""), pl.lit("}")])).to_series()


# --------------------------------------------------------------------------- the batch


class RowSource:
    """The staged rows of one record batch that are sent, to build an item's fields when asked
    (``rows``: their row numbers in the table, ascending)."""

    def __init__(
        self,
        rows: np.ndarray,
        batch: pa.RecordBatch,
        layout: StagedLayout,
        fields: list[dict[str, Any]] | None = None,
    ) -> None:
        self.rows, self.batch, self.layout = rows, batch, layout
        #: Every row's fields, when they were built already (a batch on the per-item path).
        self.built = fields

    def fields(self, row: int) -> dict[str, Any] | None:
        """The fields of the row numbered ``row`` in the table; None when it is not here."""
        import numpy as np

        index = int(np.searchsorted(self.rows, row))
        if index >= len(self.rows) or int(self.rows[index]) != row:
            return None
        if self.built is not None:
            return self.built[index]
        [fields] = self.layout.batch_fields(self.batch.slice(index, 1))
        return fields


class EncodedBatch(Sequence[SentItem]):
    """Items to send, as columns (see the module's doc): a ``Sequence[SentItem]`` whose items
    are built only when asked for. ``rows``: each item's row number in its staged table."""

    def __init__(
        self,
        *,
        references: list[str],
        digests: list[str],
        codes: list[int],
        fragments: list[str | None],
        contents: list[str | None],
        lengths: np.ndarray,
        holes: np.ndarray,
        cleared: list[int],
        rows: list[int],
        sources: tuple[RowSource, ...],
    ) -> None:
        self.references, self.digests, self.codes = references, digests, codes
        self.fragments, self.contents = fragments, contents
        self.lengths, self.holes = lengths, holes
        self.cleared, self.rows, self.sources = cleared, rows, sources

    @classmethod
    def concat(cls, parts: Sequence[EncodedBatch]) -> EncodedBatch:
        import numpy as np

        if len(parts) == 1:
            return parts[0]
        sources: dict[int, RowSource] = {}
        for part in parts:
            sources.update((id(source), source) for source in part.sources)
        chain = itertools.chain.from_iterable
        return cls(
            references=list(chain(p.references for p in parts)),
            digests=list(chain(p.digests for p in parts)),
            codes=list(chain(p.codes for p in parts)),
            fragments=list(chain(p.fragments for p in parts)),
            contents=list(chain(p.contents for p in parts)),
            lengths=np.concatenate([p.lengths for p in parts]),
            holes=np.concatenate([p.holes for p in parts]),
            cleared=list(chain(p.cleared for p in parts)),
            rows=list(chain(p.rows for p in parts)),
            sources=tuple(sources.values()),
        )

    def __len__(self) -> int:
        return len(self.references)

    @overload
    def __getitem__(self, index: int) -> SentItem: ...

    @overload
    def __getitem__(self, index: slice) -> EncodedBatch: ...

    def __getitem__(self, index: int | slice) -> SentItem | EncodedBatch:
        if isinstance(index, slice):
            return self.take(range(len(self))[index])
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return SentItem(
            OutgoingItem(self.references[index], self.fields(index)),
            _DECISIONS[self.codes[index]],
            self.digests[index],
            self.cleared[index],
        )

    def __iter__(self) -> Iterator[SentItem]:
        return (self[index] for index in range(len(self)))

    def fields(self, index: int) -> dict[str, Any]:
        """The fields of the item at ``index``, as :meth:`StagedLayout.fields` gives them."""
        row = self.rows[index]
        for source in self.sources:
            found = source.fields(row)
            if found is not None:
                return found
        raise LookupError(f"row {row} of the staged table is in no source of this batch")

    def take(self, indices: Sequence[int]) -> EncodedBatch:
        """The items at ``indices``, in that order, as a batch."""
        if isinstance(indices, range) and indices.step == 1:
            window = slice(indices.start, indices.stop)
            return EncodedBatch(
                references=self.references[window],
                digests=self.digests[window],
                codes=self.codes[window],
                fragments=self.fragments[window],
                contents=self.contents[window],
                lengths=self.lengths[window],
                holes=self.holes[window],
                cleared=self.cleared[window],
                rows=self.rows[window],
                sources=self.sources,
            )
        chosen = list(indices)
        return EncodedBatch(
            references=[self.references[i] for i in chosen],
            digests=[self.digests[i] for i in chosen],
            codes=[self.codes[i] for i in chosen],
            fragments=[self.fragments[i] for i in chosen],
            contents=[self.contents[i] for i in chosen],
            lengths=self.lengths[chosen],
            holes=self.holes[chosen],
            cleared=[self.cleared[i] for i in chosen],
            rows=[self.rows[i] for i in chosen],
            sources=self.sources,
        )

    def creates(self) -> int:
        """How many items are new (``Decision.CREATE``)."""
        return self.codes.count(CREATE_CODE)

    def key(self, table: str) -> str:
        """:func:`~saleslayer_airflow.push.pipeline.batch_key` of these items, on columns."""
        pairs: list[str] = [""] * (2 * len(self.references))
        pairs[0::2] = self.references
        pairs[1::2] = self.digests
        digest = hashlib.sha256(table.encode())
        if pairs:
            digest.update(("\0" + "\0".join(pairs)).encode())
        return digest.hexdigest()

    def fill(self, encode: Callable[[int, dict[str, Any]], str]) -> None:
        """Encode the items the columns left to the per-item path: ``encode(index, fields)``
        gives the fragment (with :data:`PLACEHOLDER`), or raises the form module's error."""
        import numpy as np

        missing = [i for i, fragment in enumerate(self.fragments) if fragment is None]
        if not missing:
            return
        self.lengths = np.array(self.lengths, dtype=np.int64)
        self.holes = np.array(self.holes, dtype=np.int64)
        self.fragments = list(self.fragments)
        for index in missing:
            fragment = encode(index, self.fields(index))
            self.fragments[index] = fragment
            self.lengths[index] = len(fragment)
            self.holes[index] = fragment.count(PLACEHOLDER)

    def content_texts(self) -> list[str]:
        """Each item's content JSON; the per-item path's encoder for the items without one."""
        contents = self.contents
        if None not in contents:
            return contents  # type: ignore[return-value]
        return [
            text if text is not None else content_json(self.fields(index))
            for index, text in enumerate(contents)
        ]


#: str(i) for the indices of a call, built once (a call holds at most 50,000 items).
_INDEX_TEXTS: list[str] = []


def call_parts(fragments: Sequence[str]) -> list[str]:
    """The body parts of one call: each fragment with its index in the call for
    :data:`PLACEHOLDER`."""
    if len(_INDEX_TEXTS) < len(fragments):
        _INDEX_TEXTS.extend(str(i) for i in range(len(_INDEX_TEXTS), len(fragments)))
    return list(
        map(str.replace, fragments, [PLACEHOLDER] * len(fragments), _INDEX_TEXTS[: len(fragments)])
    )
