"""One mapped source column of a batch converted at once: a reference, a field, or a link.

Exactness first: every value goes through the value rules of
:mod:`saleslayer_airflow.mapping.values` (``item_reference``, ``field_value``, ``link_value``: the
functions the row engine of the tests applies row by row), except the values a *fast predicate*
proves those rules return unchanged (a plain ASCII reference with no blank at either end is its
own normalised form; a canonical decimal text is its own number). The fast predicate runs in
polars over the whole column; the rules run once per *distinct* other value (a few hundred
category paths, a few thousand prices), and their results are joined back. Non-text columns
(JSON numbers, booleans, lists, objects) go through the rules value by value, with a cache for
the hashable ones.

A :class:`Rule` gives, per row, the columns of its :meth:`~Rule.schema` (plus its own extras):

- ``v``: the converted value (null when the row fails here);
- ``reason``, ``code``: why the row fails here (null when it does not);
- ``shown``: the value the reject shows (:func:`~saleslayer_airflow.mapping.values.show_value`);
  null when the row does not fail here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeAlias

from saleslayer_airflow.config.tables import FieldType
from saleslayer_airflow.mapping.plan import FieldSource, LinkPlan, TablePlan
from saleslayer_airflow.mapping.values import (
    MAX_REFERENCE_LENGTH,
    ItemReference,
    Rejected,
    RejectedReference,
    field_value,
    item_reference,
    link_value,
)
from saleslayer_airflow.normalize.results import storable as _storable

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa
    from polars._typing import PolarsDataType

#: A plain ASCII reference: printable, no blank at either end, at least one character. For such a
#: text ``normalise_reference`` returns the text itself (``strip`` finds nothing to trim, ASCII is
#: already NFC and ``isprintable`` holds for 0x20-0x7E).
PLAIN_REFERENCE = r"^[!-~](?:[ -~]*[!-~])?$"
#: A canonical decimal text: ``decimal_text(to_decimal(text)) == text`` (no sign but a minus, no
#: leading zero, no trailing fractional zero, no exponent); at most 21 + 16 digits, well within
#: the 38 a number field carries. ``-0`` is left out (:data:`_MINUS_ZERO`): its text is ``0``.
CANONICAL_NUMBER = r"^-?(?:0|[1-9][0-9]{0,20})(?:\.[0-9]{0,15}[1-9])?$"
#: A canonical integer text well inside int64: ``str(int(text)) == text``.
CANONICAL_INTEGER = r"^-?(?:0|[1-9][0-9]{0,17})$"
_MINUS_ZERO = r"^-0(?:\.0*)?$"
_TRUE_TEXTS = ("true", "True", "TRUE", "1", "yes", "Yes", "YES", "y", "Y")
_FALSE_TEXTS = ("false", "False", "FALSE", "0", "no", "No", "NO", "n", "N")
#: Distinct values remembered per rule across batches (a category path repeats in every batch).
_CACHE_LIMIT = 200_000
_SURROGATE = re.compile("[\ud800-\udfff]")


#: A value of an outcome's column: a staged value (text, integer, boolean, list of texts), a
#: reject's text, or None.
Staged: TypeAlias = str | int | bool | list[str] | list[str | None] | None
#: One rule's result for one source value, aligned with :meth:`Rule.schema`.
Outcome: TypeAlias = tuple[Staged, ...]
#: A column of a batch: Arrow text, raw Python values, or None (no such column: all empty).
Column: TypeAlias = "pa.Array | list[object] | None"


def _text(value: str | None) -> str | None:
    """A text polars can hold (a lone surrogate of a JSON string cannot be UTF-8)."""
    return None if value is None else _storable(value)


def _polars_text(text: str) -> str:
    """A staged text polars can hold: only its lone surrogates (an undecodable byte read with
    ``surrogateescape``, a JSON ``"\\ud800"``: no UTF-8) are escaped, as the rejects file writes
    them. A NUL stays: the fast path and the row engine stage it as it is."""
    if _SURROGATE.search(text) is None:
        return text
    return _SURROGATE.sub(lambda m: _storable(m.group()), text)


def _clean(value: Staged) -> Staged:
    if isinstance(value, str):
        return _polars_text(value)
    if isinstance(value, list):
        return [_polars_text(v) if isinstance(v, str) else v for v in value]
    return value


def _key(value: object) -> str | tuple[str, str]:
    """A cache key telling apart values Python finds equal (True, 1, 1.0, Decimal('1.0'))."""
    if type(value) is str:
        return value
    return (type(value).__name__, repr(value))


class Rule:
    """How one mapped column of a table converts: exact Python per value, and a fast path."""

    #: the column the reject names when a row fails here
    column: str

    def __init__(self) -> None:
        self._cache: dict[str | tuple[str, str], Outcome] = {}
        self._lut: pl.DataFrame | None = None

    def schema(self) -> dict[str, PolarsDataType]:
        """Output columns and polars dtypes; ``v`` first, then reason, code, shown, extras."""
        import polars as pl

        return {
            "v": self.dtype(),
            "reason": pl.String,
            "code": pl.String,
            "shown": pl.String,
        }

    def dtype(self) -> PolarsDataType:
        raise NotImplementedError

    def python(self, raw: object) -> Outcome:
        """The outcome of one source value (None, MISSING or "" for no value), aligned with
        :meth:`schema`: the value rule's verdict."""
        raise NotImplementedError

    def fast(self, values: pl.Expr) -> tuple[pl.Expr, pl.Expr] | None:
        """Expressions over a text column: (which rows the fast path knows, their ``v``); None
        when there is no fast path. ``v`` may hold anything where the mask is false."""
        return None

    def outcome(self, raw: object) -> Outcome:
        try:
            key = _key(raw)
        except TypeError:  # pragma: no cover - repr never fails on JSON values
            return self.python(raw)
        if isinstance(raw, list | dict):
            return self.python(raw)
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            found = self._cache[key] = self.python(raw)
        return found

    def _lookup(self, slow: pl.Series) -> pl.DataFrame:
        """The outcomes of the distinct values of ``slow`` (and of others seen before): the
        Python functions run once per value per rule, not once per batch."""
        import polars as pl

        distinct = slow.unique()
        lut = self._lut
        if lut is not None:
            new = distinct.filter(~distinct.is_in(lut.get_column("k").implode(), nulls_equal=True))
            if new.is_empty():
                return lut
            if lut.height + len(new) <= _CACHE_LIMIT:
                distinct = new
            else:
                lut = None  # start over with this batch's values: memory stays bounded
        keys = distinct.to_list()
        outcomes = [self.python(raw) for raw in keys]
        table: dict[str, pl.Series] = {"k": pl.Series("k", keys, dtype=pl.String)}
        for index, (name, dtype) in enumerate(self.schema().items()):
            table[name] = pl.Series(name, [o[index] for o in outcomes], dtype=dtype)
        added = pl.DataFrame(table)
        lut = added if lut is None else pl.concat([lut, added], rechunk=False)
        self._lut = lut
        return lut

    def broadcast(self, outcome: Outcome, rows: int) -> dict[str, pl.Series]:
        """One outcome for ``rows`` rows."""
        import polars as pl

        return {
            name: pl.repeat(value, rows, dtype=dtype, eager=True).alias(name)
            for (name, dtype), value in zip(self.schema().items(), outcome, strict=True)
        }

    def of_objects(self, cells: list[object]) -> dict[str, pl.Series]:
        """The outcomes of raw Python values, value by value (hashable ones cached)."""
        import polars as pl

        outcomes = [self.outcome(raw) for raw in cells]
        columns = list(zip(*outcomes, strict=True)) if outcomes else [()] * len(self.schema())
        return {
            name: pl.Series(name, column, dtype=dtype)
            for (name, dtype), column in zip(self.schema().items(), columns, strict=True)
        }


def _ok(value: Staged, *extras: Staged) -> Outcome:
    return (_clean(value), None, None, None, *extras)


def _fail(rejected: Rejected, *extras: Staged) -> Outcome:
    return (None, _text(rejected.reason), rejected.code, _text(rejected.shown), *extras)


def _plain_reference(values: pl.Expr) -> pl.Expr:
    return values.str.contains(PLAIN_REFERENCE)


class ReferenceRule(Rule):
    """The item reference (:func:`~saleslayer_airflow.mapping.values.item_reference`): ``v`` is
    the reference; extra ``rref``: the reference a failing row is rejected under (``''``, the
    loose form, or the too-long reference). A category path: see :class:`PathRule`."""

    def __init__(self, plan: TablePlan) -> None:
        super().__init__()
        self.plan = plan
        self.column = plan.path.column if plan.path else plan.reference

    def dtype(self) -> PolarsDataType:
        import polars as pl

        return pl.String

    def schema(self) -> dict[str, PolarsDataType]:
        import polars as pl

        return {**super().schema(), "rref": pl.String}

    def python(self, raw: object) -> Outcome:
        found = item_reference(self.plan, raw)
        if isinstance(found, RejectedReference):
            return self._failed(found)
        return self._success(found)

    def _failed(self, rejected: RejectedReference) -> Outcome:
        return _fail(rejected, _text(rejected.ref))

    def _success(self, found: ItemReference) -> Outcome:
        return _ok(found.ref, None)

    def fast(self, values: pl.Expr) -> tuple[pl.Expr, pl.Expr] | None:
        mask = _plain_reference(values) & (values.str.len_bytes() <= MAX_REFERENCE_LENGTH)
        return mask, values


class PathRule(ReferenceRule):
    """A category path: ``v`` is the list of the references of its levels (``A``, ``A > B``,
    ...), extra ``parents``: each level's parent (null, ``A``, ...)."""

    def dtype(self) -> PolarsDataType:
        import polars as pl

        return pl.List(pl.String)

    def schema(self) -> dict[str, PolarsDataType]:
        import polars as pl

        return {**super().schema(), "parents": pl.List(pl.String)}

    def _failed(self, rejected: RejectedReference) -> Outcome:
        return (*super()._failed(rejected), None)

    def _success(self, found: ItemReference) -> Outcome:
        assert found.levels is not None
        refs = list(found.levels)
        return _ok(refs, None, _clean([None, *refs[:-1]]))

    def fast(self, values: pl.Expr) -> tuple[pl.Expr, pl.Expr] | None:
        return None


class FieldRule(Rule):
    """One field's output column (:func:`~saleslayer_airflow.mapping.values.field_value`); the
    reason names the field."""

    def __init__(self, source: FieldSource) -> None:
        super().__init__()
        self.source = source
        self.column = source.column or f"(constant of {source.field})"

    def dtype(self) -> PolarsDataType:
        import polars as pl

        spec = self.source.spec
        if spec.separator is not None:
            return pl.List(pl.String)
        if spec.type is FieldType.INTEGER:
            return pl.Int64
        if spec.type is FieldType.BOOLEAN:
            return pl.Boolean
        return pl.String

    def python(self, raw: object) -> Outcome:
        value = field_value(self.source, raw)
        return _fail(value) if isinstance(value, Rejected) else _ok(value)

    def fast(self, values: pl.Expr) -> tuple[pl.Expr, pl.Expr] | None:
        import polars as pl

        spec = self.source.spec
        if spec.separator is not None or spec.transforms:
            return None
        present = values.is_not_null() & (values != "")
        if spec.type is FieldType.STRING:
            mask, value = present, values
        elif spec.type is FieldType.NUMBER:
            mask = values.str.contains(CANONICAL_NUMBER) & ~values.str.contains(_MINUS_ZERO)
            value = values
        elif spec.type is FieldType.INTEGER:
            if spec.enum is not None:
                return None
            mask = values.str.contains(CANONICAL_INTEGER) & (values != "-0")
            return mask, values.cast(pl.Int64, strict=False)
        elif spec.type is FieldType.BOOLEAN:
            if spec.enum is not None:
                return None
            mask = values.is_in(_TRUE_TEXTS + _FALSE_TEXTS)
            return mask, values.is_in(_TRUE_TEXTS)
        else:
            return None
        if spec.enum is not None:
            mask = mask & value.is_in(spec.enum)
        if spec.max_length is not None:
            mask = mask & (value.str.len_chars() <= spec.max_length)
        return mask, value


class ConstantRule(FieldRule):
    """A field with a constant: one outcome for every row (its cells are never read)."""


class LinkRule(Rule):
    """A parent link (:func:`~saleslayer_airflow.mapping.values.link_value`, the variant's
    product check included)."""

    def __init__(self, plan: TablePlan, link: LinkPlan) -> None:
        super().__init__()
        assert link.column is not None
        self.plan = plan
        self.link = link
        self.column = link.column

    def dtype(self) -> PolarsDataType:
        import polars as pl

        return pl.List(pl.String) if self.link.is_list else pl.String

    def python(self, raw: object) -> Outcome:
        value = link_value(self.plan, self.link, raw)
        return _fail(value) if isinstance(value, Rejected) else _ok(value)

    def fast(self, values: pl.Expr) -> tuple[pl.Expr, pl.Expr] | None:
        import polars as pl

        link = self.link
        if not link.is_list:
            return _plain_reference(values), values
        if link.path_separator is not None:
            return None
        if link.separator is None:
            return _plain_reference(values), pl.concat_list(values)
        parts = values.str.split(link.separator)
        mask = parts.list.eval(pl.element().str.contains(PLAIN_REFERENCE).all()).list.first()
        mask = mask & (parts.list.n_unique() == parts.list.len())
        return mask, parts


def rules_of(plan: TablePlan) -> tuple[ReferenceRule, list[Rule]]:
    """The reference rule and the field and link rules of a plan, in the row's order (links
    without a column, a path's parent, have none: their value is set per level)."""
    ref: ReferenceRule = PathRule(plan) if plan.path is not None else ReferenceRule(plan)
    rules: list[Rule] = []
    for source in plan.fields:
        rules.append(ConstantRule(source) if source.column is None else FieldRule(source))
    for link in plan.links:
        if link.column is not None:
            rules.append(LinkRule(plan, link))
    return ref, rules


def python_values(cells: Column, rows: int) -> list[object]:
    """A column's values as Python objects (None for an empty text cell or no column)."""
    if cells is None:
        return [None] * rows
    if isinstance(cells, list):
        return cells
    return list(cells.to_pylist())


def convert_all(stages: Sequence[tuple[Rule, Column]], rows: int) -> list[dict[str, pl.Series]]:
    """The outcomes of every row for each (rule, column) pair, as columns by name (``v``,
    ``reason``, ``code``, ``shown``, extras). ``reason`` and the other failure columns are left
    out when no row fails at that rule (the common case: nothing to coalesce later).

    The fast paths of every text column run in one polars query; the other values go through
    the Python functions once per distinct value and are joined back."""
    import polars as pl

    results: list[dict[str, pl.Series] | None] = [None] * len(stages)
    texts: dict[int, pl.Series] = {}
    exprs: list[pl.Expr] = []
    for index, (rule, cells) in enumerate(stages):
        if isinstance(rule, ConstantRule) or cells is None:
            results[index] = rule.broadcast(rule.outcome(None), rows)
        elif isinstance(cells, list):
            results[index] = rule.of_objects(cells)
        else:
            values = pl.Series(f"k{index}", cells)
            texts[index] = values if values.dtype == pl.String else values.cast(pl.String)
            fast = rule.fast(pl.col(f"k{index}"))
            if fast is not None:
                mask, value = fast
                exprs += [
                    mask.fill_null(False).alias(f"m{index}"),
                    value.cast(rule.schema()["v"]).alias(f"f{index}"),
                ]
    fast_frame = pl.DataFrame(list(texts.values())).select(exprs) if exprs else None
    known = (
        dict(
            zip(
                fast_frame.columns[::2],
                fast_frame.select(pl.col("^m.*$").all()).row(0),
                strict=True,
            )
        )
        if fast_frame is not None
        else {}
    )
    for index, values in texts.items():
        rule = stages[index][0]
        everything = known.get(f"m{index}")
        if everything:
            assert fast_frame is not None
            results[index] = {"v": fast_frame.get_column(f"f{index}").alias("v")}
            continue
        sure: pl.Series | None = None
        if everything is not None and fast_frame is not None:
            sure = fast_frame.get_column(f"m{index}")
        lut = rule._lookup(values if sure is None else values.filter(~sure))
        joined = (
            values.alias("k")
            .to_frame()
            .join(lut, on="k", how="left", nulls_equal=True, maintain_order="left")
        )
        if sure is not None:
            assert fast_frame is not None
            joined = joined.with_columns(
                pl.when(sure)
                .then(fast_frame.get_column(f"f{index}"))
                .otherwise(pl.col("v"))
                .alias("v")
            )
        results[index] = {name: joined.get_column(name) for name in rule.schema()}
    return [r for r in results if r is not None]
