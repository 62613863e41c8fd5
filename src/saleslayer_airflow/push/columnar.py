"""The delta on columns: hash a staged table's items and decide them against the state store
with a join, so that only the items to send ever become Python objects.

The content hash is :func:`saleslayer_airflow.state.delta.content_hash` of the fields
:class:`~saleslayer_airflow.push.items.StagedLayout` gives each row, byte for byte (hashes
stored by earlier versions keep matching: an upgrade resends nothing). Its canonical JSON is
built on columns, one lazy plan per record batch: one ``"<field>":<token>`` fragment per field
column (null when the value is empty: empty values hash like absent fields), joined in
field-name order; the characters JSON escapes are replaced as ``json`` writes them, in the
columns whose bytes hold one; only the distinct exact numbers and the column types without a
columnar rule go through Python's ``json``. Then the sha256 of each text, on the column.

A table is read twice: once for its references and hashes (by Arrow's own reader when the file
is local; joined with what the delta needs of the state of the connector's table,
:meth:`StateStore.decision_states`, compared with the hex of the digests: row by row when both
list the same references in the same order, the usual re-run), once for the rows to send, in
file order, skipping the row groups that have none. The decisions follow
:func:`~saleslayer_airflow.state.delta.decide` and the pipeline's resume rule (items
acknowledged by an earlier attempt of the same run).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from saleslayer_airflow.arrow_arrays import bool_array
from saleslayer_airflow.numbers import ExactNumber, staged_number
from saleslayer_airflow.push.items import StagedItems, StagedLayout
from saleslayer_airflow.push.sha256 import hex_digests
from saleslayer_airflow.state.delta import Decision
from saleslayer_airflow.state.store import ItemState, StateStore

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy as np
    import polars as pl
    import pyarrow as pa

    from saleslayer_airflow.push.encoded import EncodedBatch, FormEncoding
    from saleslayer_airflow.push.pipeline import OutgoingItem, PushOptions

    #: Rows of a staged file as the split wrote them: a record batch, or a whole table.
    StagedRows: TypeAlias = pa.RecordBatch | pa.Table

#: Decision codes of the decision column.
APPLIED, CREATE, UPDATE, UNCHANGED, STALE = 0, 1, 2, 3, 4
#: Decision of each code that is sent.
SENT = {CREATE: Decision.CREATE, UPDATE: Decision.UPDATE}
#: Rows read at once.
READ_BATCH = 50_000
#: What JSON escapes in a string (ensure_ascii=False): the rows holding one are encoded by json.
_ESCAPED = r'[\x00-\x1f"\\]'
#: The characters JSON escapes otherwise than with a backslash before them.
_CONTROL = r"[\x00-\x1f]"


def _dumps(value: Any) -> str:
    # The encoder of content_hash; keep both alike.
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _is_empty(value: Any) -> bool:
    # read_items' test (``value in (None, "", [])``): such a value is left out or sent empty,
    # and an empty value hashes like an absent field.
    return value is None or value == "" or value == []


def _python_token(value: Any, *, number: bool) -> str | None:
    """The hash token of one staged value, the slow and obviously right way."""
    if _is_empty(value):
        return None
    if number and isinstance(value, str):
        value = staged_number(value)
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, ExactNumber):
        return value.hash_token()
    return _dumps(value)


def _string_tokens(series: pl.Series) -> pl.Series:
    """JSON string tokens of a string column; null where the value is empty."""
    import polars as pl

    body = series
    if series.str.contains(r'["\\]').any():
        # Quotes and backslashes escape as json does (a backslash before them), on the column;
        # only control characters (rare, and escaped in several ways) are left to json.
        body = series.str.replace_all("\\", "\\\\", literal=True).str.replace_all(
            '"', '\\"', literal=True
        )
    quoted = pl.concat_str([pl.lit('"'), body, pl.lit('"')]).alias(series.name)
    tokens = pl.select(
        pl.when(series.is_null() | (series == ""))
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(quoted)
    ).to_series()
    positions = series.str.contains(_CONTROL).fill_null(value=False).arg_true()
    if len(positions):
        values = series.gather(positions).to_list()
        tokens = tokens.scatter(positions, [_dumps(value) for value in values])
    return tokens


def _number_tokens(series: pl.Series) -> pl.Series:
    """Tokens of an exact number column (canonical decimal text): each distinct value once."""
    import polars as pl

    distinct = series.drop_nulls().unique().to_list()
    if not distinct:
        return pl.Series(series.name, [None] * len(series), dtype=pl.String)
    tokens = [_python_token(value, number=True) for value in distinct]
    return series.replace_strict(distinct, tokens, default=None, return_dtype=pl.String)


def _list_tokens(series: pl.Series) -> pl.Series:
    """JSON array tokens of a list column of strings, integers or booleans."""
    import polars as pl

    inner = series.dtype.inner  # type: ignore[attr-defined]
    element = pl.element()
    if inner == pl.String:
        text = pl.concat_str([pl.lit('"'), element, pl.lit('"')])
        special = series.list.eval(element.str.contains(_ESCAPED).fill_null(value=False))
        escaped = special.list.any().fill_null(value=False)
    elif inner.is_integer() or inner == pl.Boolean:
        text = element.cast(pl.String)
        escaped = pl.Series([False] * len(series))
    else:
        return _python_tokens(series.to_list(), number=False)
    joined = series.list.eval(
        pl.when(element.is_null()).then(pl.lit("null")).otherwise(text)
    ).list.join(",")
    tokens = pl.select(
        pl.when(series.is_null() | (series.list.len() == 0))
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(pl.concat_str([pl.lit("["), joined, pl.lit("]")]))
    ).to_series()
    positions = escaped.arg_true()
    if len(positions):
        values = series.gather(positions).to_list()
        tokens = tokens.scatter(positions, [_dumps(value) for value in values])
    return tokens


def _python_tokens(values: list[Any], *, number: bool) -> pl.Series:
    import polars as pl

    return pl.Series([_python_token(value, number=number) for value in values], dtype=pl.String)


def _tokens(series: pl.Series, *, number: bool) -> pl.Series:
    """The hash token of each value of a staged column; null where the value is empty."""
    import polars as pl

    dtype = series.dtype
    if dtype == pl.String:
        return _number_tokens(series) if number else _string_tokens(series)
    if dtype.is_integer() or dtype == pl.Boolean:
        return series.cast(pl.String)
    if dtype == pl.Null:
        return pl.Series([None] * len(series), dtype=pl.String)
    if isinstance(dtype, pl.List):
        return _list_tokens(series)
    # Floats (files staged before numbers were exact) and anything unforeseen: row by row.
    return _python_tokens(series.to_list(), number=number)


def canonical_texts(batch: StagedRows, layout: StagedLayout) -> list[str]:
    """The canonical JSON that :func:`content_hash` hashes, for each row of an Arrow record
    batch (or table) of a staged file."""
    return _canonical_series(batch, layout).to_list()


def _canonical_series(batch: StagedRows, layout: StagedLayout) -> pl.Series:
    """:func:`canonical_texts` as a string column: one lazy plan over the batch's columns (each
    value read once, no intermediate token column), plus the few columns without a rule of
    their own (exact numbers, floats) tokenised first."""
    import polars as pl

    targets = list(layout.names.values())
    if len(set(targets)) != len(targets):
        # Two columns feed one field (the later wins, as read_items builds the dict): rare
        # enough to take row by row.
        return pl.Series(_canonical_rows(batch, layout), dtype=pl.String)
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    fields = sorted(layout.names.items(), key=lambda pair: pair[1])
    numbers = {column for column in layout.numbers if frame.schema[column] == pl.String}
    escaped = _escaped_columns(
        batch, frame, [column for column, _ in fields if column not in numbers]
    )
    fragments: list[pl.Expr] = []
    tokens: list[pl.Series] = []
    for column, name in fields:
        key = _dumps(name) + ":"
        dtype = frame.schema[column]
        if dtype == pl.Null:
            continue  # never a value: the field is always left out
        expression = None
        if column not in numbers:
            expression = _fragment(dtype, column, key, escape=column in escaped)
        if expression is None:
            # Exact numbers (each distinct value once) and columns without a rule on columns:
            # their tokens first, as a column of the frame the plan reads.
            token_name = f"\x00token{len(tokens)}"
            tokens.append(_tokens(frame[column], number=column in layout.numbers).alias(token_name))
            expression = pl.concat_str([pl.lit(key), pl.col(token_name)])
        fragments.append(expression)
    if not fragments:
        return pl.Series(["{}"] * batch.num_rows, dtype=pl.String)
    if tokens:
        frame = frame.with_columns(tokens)
    body = pl.concat_str(fragments, separator=",", ignore_nulls=True).fill_null("")
    text = pl.concat_str([pl.lit("{"), body, pl.lit("}")]).alias("text")
    return frame.lazy().select(text).collect().to_series()


#: What json.dumps (ensure_ascii=False) writes for each character it escapes.
_JSON_ESCAPES = {char: _dumps(char)[1:-1] for char in ['"', "\\", *map(chr, range(0x20))]}


def _escaped_columns(batch: StagedRows, frame: pl.DataFrame, columns: list[str]) -> set[str]:
    """The string (and list of string) columns of the batch that may hold a character JSON
    escapes: only those pay for the escaping. Told from the bytes of the Arrow columns when
    they are plain strings (a scan of one buffer), else on the column."""
    import polars as pl

    found, checks = set(), []
    for column in columns:
        dtype = frame.schema[column]
        if dtype != pl.String and not (isinstance(dtype, pl.List) and dtype.inner == pl.String):
            continue
        arrow = batch.column(column)
        escaped = [_may_escape(chunk) for chunk in getattr(arrow, "chunks", [arrow])]
        if None not in escaped:
            if any(escaped):
                found.add(column)
        elif dtype == pl.String:
            checks.append(pl.col(column).str.contains(_ESCAPED).any())
        else:
            checks.append(pl.col(column).explode().str.contains(_ESCAPED).any().alias(column))
    if checks:
        values = frame.lazy().select(checks).collect().row(0, named=True)
        found.update(column for column, any_escaped in values.items() if any_escaped)
    return found


def _may_escape(array: Any) -> bool | None:
    """Whether the bytes of an Arrow string array (or of the strings of a list array) hold
    one JSON escapes (a control character, a quote, a backslash), values sliced out included;
    None for other layouts."""
    import numpy as np
    import pyarrow as pa

    if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
        array = array.values
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return None
    data = array.buffers()[2]
    if data is None:
        return False
    codes = np.frombuffer(data, dtype=np.uint8)
    # UTF-8 continuation and lead bytes are all >= 0x80: a byte below 0x20, '"' or '\\' is
    # that character.
    return bool((codes < 0x20).any() or (codes == 0x22).any() or (codes == 0x5C).any())


def _fragment(dtype: Any, column: str, key: str, *, escape: bool) -> pl.Expr | None:
    """``"<field>":<token>`` of each value of a column, null where the value is empty (so
    that the field is left out); None for a column without a rule on columns."""
    import polars as pl

    value = pl.col(column)
    if dtype == pl.String:
        text = value.str.replace_many(_JSON_ESCAPES) if escape else value
        return (
            pl.when(value.is_null() | (value == ""))
            .then(pl.lit(None, dtype=pl.String))
            .otherwise(pl.concat_str([pl.lit(key + '"'), text, pl.lit('"')]))
        )
    if dtype.is_integer() or dtype == pl.Boolean:
        return pl.concat_str([pl.lit(key), value.cast(pl.String)])
    if isinstance(dtype, pl.List):
        element = pl.element()
        inner = dtype.inner
        if inner == pl.String:
            text = element.str.replace_many(_JSON_ESCAPES) if escape else element
            token = pl.concat_str([pl.lit('"'), text, pl.lit('"')])
        elif inner.is_integer() or inner == pl.Boolean:
            token = element.cast(pl.String)
        else:
            return None
        joined = value.list.eval(
            pl.when(element.is_null()).then(pl.lit("null")).otherwise(token)
        ).list.join(",")
        return (
            pl.when(value.is_null() | (value.list.len() == 0))
            .then(pl.lit(None, dtype=pl.String))
            .otherwise(pl.concat_str([pl.lit(key + "["), joined, pl.lit("]")]))
        )
    return None


def _canonical_rows(batch: StagedRows, layout: StagedLayout) -> list[str]:
    texts = []
    for row in batch.to_pylist():
        kept = {name: value for name, value in layout.fields(row).items() if not _is_empty(value)}
        texts.append(
            "{"
            + ",".join(
                _dumps(name) + ":" + str(_python_token(value, number=False))
                for name, value in sorted(kept.items())
            )
            + "}"
        )
    return texts


def digest_column(batch: StagedRows, layout: StagedLayout) -> pl.Series:
    """The sha256 of each row's content, as hex (:func:`content_hash`): the canonical texts
    hashed on the column (:mod:`saleslayer_airflow.push.sha256`)."""
    return hex_digests(_canonical_series(batch, layout))


def content_digests(batch: StagedRows, layout: StagedLayout) -> list[str]:
    """:func:`content_hash` of each row's content."""
    return digest_column(batch, layout).to_list()


@dataclass
class Decided:
    """Every row of a staged table decided: its code and digest (hex), in file order."""

    codes: np.ndarray
    digests: pl.Series
    has_previous: np.ndarray


@contextmanager
def _read_natively(staged: StagedItems) -> Iterator[Any]:
    """The staged file as a ``pyarrow.parquet.ParquetFile`` read by Arrow's own file reader
    when it is local: through a Python file object (``StagedItems.open``) every read is a
    Python call, six times the CPU of decoding the columns."""
    import pyarrow.parquet as pq

    path = staged.path
    local: str | None = None
    if isinstance(path, str | PurePath) and not hasattr(path, "protocol"):
        local = os.fspath(path)
    elif getattr(path, "protocol", None) in ("", "file", "local"):  # a local ObjectStoragePath
        local = str(path.path)
    if local is None:
        with staged.open() as parquet:
            yield parquet
        return
    parquet = pq.ParquetFile(local)
    try:
        yield parquet
    finally:
        parquet.close()


def _hashed(staged: StagedItems) -> pl.DataFrame:
    """reference and digest of every row, in file order."""
    import polars as pl

    parts = []
    with _read_natively(staged) as parquet:
        layout = staged.layout(parquet.schema_arrow)
        columns = ["reference", *layout.names]
        for batch in parquet.iter_batches(batch_size=READ_BATCH, columns=columns):
            references = pl.Series("reference", batch.column(0)).cast(pl.String)
            digests = digest_column(batch, layout)
            parts.append(pl.DataFrame([references, digests]))
    if not parts:
        return pl.DataFrame(schema={"reference": pl.String, "digest": pl.String})
    return pl.concat(parts, rechunk=False)


def decide_staged(staged: StagedItems, store: StateStore, options: PushOptions) -> Decided:
    """Decide every row of ``staged`` against the state of its connector's table in one join:
    the rules of :func:`~saleslayer_airflow.state.delta.decide`, plus rows an earlier attempt
    of this run acknowledged (``APPLIED``, not counted again)."""
    from concurrent.futures import ThreadPoolExecutor

    import polars as pl

    # The store's read (SQLite and the database drivers release the GIL while they work) runs
    # beside the hashing of the staged rows (Arrow, polars: GIL released too): on two cores
    # the two overlap.
    with ThreadPoolExecutor(1, thread_name_prefix="saleslayer-state") as pool:
        read = partial(
            store.decision_states,
            options.connector_id,
            options.table,
            export_date=options.export_date,
            run_id=options.run_id,
        )
        states = pool.submit(read)
        rows = _hashed(staged)
        state = states.result().rename({"content_hash": "previous_digest"})
    if rows.height == state.height and rows["reference"].equals(state["reference"]):
        # The usual re-run: the staged file holds the store's items, both in reference order;
        # rows and states line up, nothing to look up.
        joined = pl.concat([rows, state.drop("reference")], how="horizontal")
    else:
        joined = rows.join(state, on="reference", how="left", maintain_order="left")
    exists = pl.col("newer").is_not_null()
    same = (pl.col("previous_digest") == pl.col("digest")).fill_null(value=False)
    applied = pl.lit(value=False)
    if not options.dry_run:
        applied = exists & pl.col("this_run").fill_null(value=False) & same
    stale = pl.lit(value=False)
    if not options.apply_older_exports:
        stale = pl.col("newer").fill_null(value=False)
    unchanged = pl.lit(value=False) if options.send_unchanged else same
    code = (
        pl.when(applied)
        .then(APPLIED)
        .when(~exists | pl.col("deleted").fill_null(value=False))
        .then(CREATE)
        .when(stale)
        .then(STALE)
        .when(unchanged)
        .then(UNCHANGED)
        .otherwise(UPDATE)
        .cast(pl.Int8)
    )
    decided = joined.select(code.alias("code"), "digest", exists.alias("exists"))
    return Decided(
        decided["code"].to_numpy(),
        decided["digest"],
        decided["exists"].to_numpy(),
    )


@dataclass(frozen=True)
class Span:
    """Consecutive rows of the table: their decision codes, and the items to send among them
    (their positions in the span, ascending, with the item's previous state when the pipeline
    needs it: for the fields an update clears, and a dry run's sample).

    With a form encoding, the items to send are ``encoded`` instead (an
    :class:`~saleslayer_airflow.push.encoded.EncodedBatch`, ``positions`` their positions in
    the span) and ``sends`` is empty."""

    codes: np.ndarray
    sends: Sequence[tuple[int, OutgoingItem, Decision, str, ItemState | None]]
    encoded: EncodedBatch | None = None
    positions: np.ndarray | None = None


def spans(
    staged: StagedItems,
    decided: Decided,
    store: StateStore,
    options: PushOptions,
    *,
    encoding: FormEncoding | None = None,
) -> Iterator[Span]:
    """The table's rows in file order, a record batch at a time: only the rows to send are read
    into Python (row groups without any are not read at all). With ``encoding``, the items to
    send are encoded on columns for the transport (:mod:`~saleslayer_airflow.push.encoded`)."""
    import numpy as np
    import pyarrow as pa

    from saleslayer_airflow.push.pipeline import OutgoingItem

    send_mask = (decided.codes == CREATE) | (decided.codes == UPDATE)
    with staged.open() as parquet:
        layout = staged.layout(parquet.schema_arrow)
        columns = ["reference", *layout.names]
        start = 0
        for group in range(parquet.num_row_groups):
            size = parquet.metadata.row_group(group).num_rows
            if not send_mask[start : start + size].any():
                if size:
                    yield Span(decided.codes[start : start + size], ())
                start += size
                continue
            for batch in parquet.iter_batches(
                batch_size=READ_BATCH, row_groups=[group], columns=columns
            ):
                end = start + batch.num_rows
                mask = send_mask[start:end]
                positions = np.flatnonzero(mask)
                if encoding is not None and len(positions):
                    if len(positions) < batch.num_rows:
                        batch = batch.filter(bool_array(mask))
                    encoded = _encoded(
                        batch, layout, positions + start, decided, store, options, encoding
                    )
                    yield Span(decided.codes[start:end], (), encoded, positions)
                    start = end
                    continue
                items: list[OutgoingItem] = []
                if len(positions):
                    if len(positions) < batch.num_rows:
                        batch = batch.filter(bool_array(mask))
                    # Read a column at a time (StagedLayout.batch_fields), not a dict per row.
                    column = batch.column(0)
                    references = column.to_pylist()
                    if not pa.types.is_string(column.type):
                        references = [str(reference) for reference in references]
                    fields = layout.batch_fields(batch)
                    items = list(map(OutgoingItem, references, fields))
                previous = _previous_states(items, positions + start, decided, store, options)
                codes = decided.codes[start:end]
                digests = decided.digests.gather(positions + start).to_list()
                # Plain Python ints: indexing numpy arrays per item costs more than the rest.
                sent_codes = codes[positions].tolist()
                rows = zip(positions.tolist(), items, sent_codes, digests, strict=True)
                if previous:
                    sends = [
                        (position, item, SENT[code], digest, previous.get(item.reference))
                        for position, item, code, digest in rows
                    ]
                else:  # the usual case, and every item of a first import
                    sends = [
                        (position, item, SENT[code], digest, None)
                        for position, item, code, digest in rows
                    ]
                yield Span(codes, sends)
                start = end


def _encoded(
    batch: pa.RecordBatch,
    layout: StagedLayout,
    rows: np.ndarray,
    decided: Decided,
    store: StateStore,
    options: PushOptions,
    encoding: FormEncoding,
) -> EncodedBatch:
    """The rows to send of ``batch`` (numbered ``rows`` in the table) as an encoded batch, with
    the fields each update clears (the only items whose previous state is read)."""
    import numpy as np
    import pyarrow as pa

    from saleslayer_airflow.push.encoded import EncodedBatch, RowSource, encode_rows
    from saleslayer_airflow.push.pipeline import OutgoingItem, _cleared
    from saleslayer_airflow.state.store import content_json

    column = batch.column(0)
    references = column.to_pylist()
    if not pa.types.is_string(column.type):
        references = [str(reference) for reference in references]
    size = len(references)
    encoded = encode_rows(batch, layout, encoding)
    codes = decided.codes[rows]
    fields: list[dict[str, Any]] = []
    if encoded is None:  # columns without an exact rule: every row on the per-item path
        fields = layout.batch_fields(batch)
        source = RowSource(rows, batch, layout, fields)
        fragments: list[str | None] = [None] * size
        contents: list[str | None] = [content_json(f) for f in fields]
        lengths = holes = np.zeros(size, dtype=np.int64)
        sends_empty = np.array([any(map(_is_empty, f.values())) for f in fields], dtype=bool)
        empty_fields = None
    else:
        source = RowSource(rows, batch, layout)
        fragments, contents = encoded.fragments, encoded.contents
        lengths, holes, sends_empty = encoded.lengths, encoded.holes, encoded.sends_empty
        empty_fields = encoded.empty_fields
    cleared = [0] * size
    # An update that sends an empty field clears what Sales Layer had (see pipeline._cleared):
    # only those read what was pushed last.
    wanted = np.flatnonzero(decided.has_previous[rows] & (codes == UPDATE) & sends_empty)
    if len(wanted):
        picked = wanted.tolist()
        if empty_fields is None:
            previous = store.items(
                options.connector_id, options.table, [references[i] for i in picked]
            )
            for index in picked:
                if references[index] in previous:
                    item = OutgoingItem(references[index], fields[index])
                    cleared[index] = _cleared(item, Decision.UPDATE, previous[references[index]])
        else:
            _count_cleared(cleared, picked, references, empty_fields, store, options)
    return EncodedBatch(
        references=references,
        digests=decided.digests.gather(rows).to_list(),
        codes=codes.tolist(),
        fragments=fragments,
        contents=contents,
        lengths=lengths,
        holes=holes,
        cleared=cleared,
        rows=rows.tolist(),
        sources=(source,),
    )


def _count_cleared(
    cleared: list[int],
    picked: list[int],
    references: list[str],
    empty_fields: list[tuple[str, np.ndarray]],
    store: StateStore,
    options: PushOptions,
) -> None:
    """:func:`~saleslayer_airflow.push.pipeline._cleared` of the updates at ``picked``, from the
    fields each sends empty (``empty_fields``) and the content last pushed, read as text: the
    fields Sales Layer had a value for (all of them when no content was kept)."""
    import json.scanner

    contents = store.contents(options.connector_id, options.table, [references[i] for i in picked])
    # The C scanner json.loads ends in, without its two whitespace matches per call: contents
    # are written without surrounding whitespace (any other text goes through json.loads).
    scan = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]  # typeshed
    masks = [(name, empty.tolist()) for name, empty in empty_fields]
    for index in picked:
        reference = references[index]
        if reference not in contents:
            continue  # never applied: nothing to clear (as _cleared without a previous state)
        text = contents[reference]
        names = [name for name, empty in masks if empty[index]]
        if text is None:
            cleared[index] = len(names)
            continue
        before = scan(text, 0)[0] if text[:1] == "{" and text[-1:] == "}" else json.loads(text)
        # is_empty_value of each: None, "" or [] (== holds for no other kind of value).
        cleared[index] = sum(1 for name in names if before.get(name) not in _CLEARED_BEFORE)


#: What a field holds in the content last pushed when Sales Layer has no value for it.
_CLEARED_BEFORE: tuple[Any, ...] = (None, "", [])


def _previous_states(
    items: list[OutgoingItem],
    rows: np.ndarray,
    decided: Decided,
    store: StateStore,
    options: PushOptions,
) -> dict[str, ItemState]:
    """The previous state (content included) of the items whose outcome needs it: a dry run's
    sample, and updates that send an empty field (the cleared count)."""
    import numpy as np

    # Chosen on the columns first: a new item (every item of a first import) is never looked at.
    candidates = decided.has_previous[rows]
    if not options.dry_run:
        candidates &= decided.codes[rows] == UPDATE
    wanted = [
        items[index].reference
        for index in np.flatnonzero(candidates).tolist()
        if options.dry_run or any(_is_empty(value) for value in items[index].fields.values())
    ]
    if not wanted:
        return {}
    return store.items(options.connector_id, options.table, wanted)
