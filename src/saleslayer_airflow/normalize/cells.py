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
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeAlias, cast

from saleslayer_airflow.config.tables import FieldType
from saleslayer_airflow.mapping.pairs import (
    key_value,
    pair_field_value,
    simple_pairs,
    undeclared_keys,
    unknown_key_reason,
)
from saleslayer_airflow.mapping.plan import FieldSource, LinkPlan, TablePlan
from saleslayer_airflow.mapping.references import path_titles
from saleslayer_airflow.mapping.values import (
    MAX_REFERENCE_LENGTH,
    ItemReference,
    Rejected,
    RejectedReference,
    emptied_values,
    empties_values,
    field_value,
    item_reference,
    link_value,
    show_value,
    template_cell,
)
from saleslayer_airflow.normalize.results import storable as _storable
from saleslayer_airflow.validation.values import ValueProblem, as_text

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa
    from polars._typing import PolarsDataType

    from saleslayer_airflow.normalize.results import Ignored

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

    def observe(self, cells: Column) -> None:
        """See every mapped row's cell of a batch before it converts (what a rule counts rather
        than rejects: :class:`PairFieldRule`'s unknown keys). Nothing by default."""

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
    """A category path (or several in a cell): ``v`` is the list of the references of its
    levels (``A``, ``A > B``, ...), extras: ``rref`` the row's reference (its rejects are
    recorded under it), ``parents`` each level's parent (null, ``A``, ...), ``leaf`` whether a
    level is a path's deepest (the row's fields go there), and one ``title<k>`` per
    ``plan.titles``: each level's title. With parallel title columns, a value is the tuple of
    the path cell and their cells (:meth:`gather`)."""

    def __init__(self, plan: TablePlan) -> None:
        super().__init__(plan)
        #: the parallel path columns the titles read, in ``plan.titles`` order
        self.parallel = tuple(t.column for t in plan.titles if t.column is not None)

    def dtype(self) -> PolarsDataType:
        import polars as pl

        return pl.List(pl.String)

    def schema(self) -> dict[str, PolarsDataType]:
        import polars as pl

        titles = {f"title{k}": pl.List(pl.String) for k in range(len(self.plan.titles))}
        return {
            **super().schema(),
            "parents": pl.List(pl.String),
            "leaf": pl.List(pl.Boolean),
            **titles,
        }

    def gather(self, cells: Callable[[str | None], Column], rows: int) -> Column:
        """The rule's values for ``rows`` rows: the path column's cells, or with parallel title
        columns, per row the tuple (path cell, title cells...)."""
        main = cells(self.column)
        if not self.parallel:
            return main
        columns = [python_values(main, rows)]
        columns += [python_values(cells(name), rows) for name in self.parallel]
        return list(zip(*columns, strict=True))

    def python(self, raw: object) -> Outcome:
        main, parallel = (raw[0], raw[1:]) if isinstance(raw, tuple) else (raw, ())
        found = item_reference(self.plan, main)
        if isinstance(found, RejectedReference):
            return self._failed(found)
        assert self.plan.path is not None and found.tree is not None
        path, tree = self.plan.path, found.tree
        titles: list[Staged] = []
        cells = iter(parallel)
        for title in self.plan.titles:
            if title.column is None:
                titles.append(_clean(list(tree.segments)))
                continue
            try:
                given = path_titles(
                    tree,
                    next(cells),
                    path.separator,
                    path.list_separator,
                    (self.column, title.column),
                )
            except ValueProblem as problem:
                return self._failed(
                    RejectedReference(problem.reason, problem.code, show_value(main), found.ref)
                )
            titles.append(_clean(list(given)))
        return _ok(
            list(found.levels or ()),
            found.ref,
            _clean(list(tree.parents)),
            cast("Staged", list(tree.leaves)),  # a list of booleans: polars' List(Boolean)
            *titles,
        )

    def _failed(self, rejected: RejectedReference) -> Outcome:
        return (*super()._failed(rejected), None, None, *(None for _ in self.plan.titles))

    def _success(self, found: ItemReference) -> Outcome:  # pragma: no cover - python() decides
        raise AssertionError("PathRule.python builds its outcome itself")

    def fast(self, values: pl.Expr) -> tuple[pl.Expr, pl.Expr] | None:
        return None


class FieldRule(Rule):
    """One field's output column (:func:`~saleslayer_airflow.mapping.values.field_value`); the
    reason names the field."""

    def __init__(self, source: FieldSource) -> None:
        super().__init__()
        self.source = source
        self.column = source.column or f"(constant of {source.field})"
        if source.columns:  # `columns:` a value from one of them; the reject names them all
            self.column = " + ".join(source.columns)
        #: where values a transform's `empty` option leaves empty are counted: (ignored, table)
        self.emptied: tuple[Ignored, str] | None = None
        self._emptied_cache: dict[str | tuple[str, str], tuple[str, ...]] = {}

    def observe(self, cells: Column) -> None:
        """Count the values a transform's ``empty`` option (``on_no_match``, ``on_missing``)
        leaves empty, per field and transform: no reject says so, the report does."""
        if self.emptied is None or cells is None:
            return
        ignored, table = self.emptied
        counts: dict[str, int] = {}
        for raw, rows in _value_counts(cells):
            for where in self._emptied_of(raw):
                counts[where] = counts.get(where, 0) + rows
        for where, rows in counts.items():
            reason = f"field {self.source.out!r}: values left empty by {where}"
            ignored.count(reason, rows, table=table)

    def _emptied_of(self, raw: object) -> tuple[str, ...]:
        if isinstance(raw, list | dict):
            return emptied_values(self.source.spec, raw)
        key = _key(raw)
        found = self._emptied_cache.get(key)
        if found is None:
            if len(self._emptied_cache) >= _CACHE_LIMIT:
                self._emptied_cache.clear()
            found = self._emptied_cache[key] = emptied_values(self.source.spec, raw)
        return found

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


class TemplateRule(FieldRule):
    """A field with a `template:` combining columns: its cell is the template rendered over the
    row's cells (:meth:`combine`, one polars expression over text columns), then the field's
    rules as usual; the reject names the template."""

    def __init__(self, source: FieldSource) -> None:
        super().__init__(source)
        assert source.template is not None
        self.template = source.template
        self.column = source.template.text

    def combine(self, cells: Callable[[str], Column], rows: int) -> Column:
        """The rendered cell of each of ``rows`` rows, from the batch's columns by name: Arrow
        text when every column is text (or absent), else Python values row by row (the same
        rule, :func:`~saleslayer_airflow.mapping.values.template_cell`)."""
        import polars as pl

        found = {name: cells(name) for name in self.template.columns}
        if any(isinstance(column, list) for column in found.values()):
            values = {name: python_values(column, rows) for name, column in found.items()}
            names = self.template.names
            return [
                template_cell(self.source, [values[name][row] for name in names])
                for row in range(rows)
            ]
        at = {name: index for index, name in enumerate(found)}
        frame = pl.DataFrame(
            [
                pl.repeat(None, rows, dtype=pl.String, eager=True).alias(f"c{index}")
                if column is None
                else pl.Series(f"c{index}", column).cast(pl.String)
                for index, column in enumerate(found.values())
            ]
        )
        expr = self.template.expr([pl.col(f"c{at[name]}") for name in self.template.names])
        return frame.select(expr.alias("v")).to_series().to_arrow()


class PairFieldRule(FieldRule):
    """A `key` field: the value of one key of a key=value cell
    (:func:`~saleslayer_airflow.mapping.pairs.pair_field_value`). The first such rule of a
    column also counts, per key no field of the table declares there, the rows holding it (in
    ``ignored``: the report shows them)."""

    def __init__(self, source: FieldSource) -> None:
        super().__init__(source)
        self.declared: frozenset[str] | None = None
        self.ignored: Ignored | None = None
        self.table = ""
        self._unknown: dict[object, tuple[str, ...] | None] = {}

    def count_unknown(self, declared: frozenset[str], ignored: Ignored, table: str) -> None:
        self.declared, self.ignored, self.table = declared, ignored, table

    def python(self, raw: object) -> Outcome:
        value = pair_field_value(self.source, raw)
        return _fail(value) if isinstance(value, Rejected) else _ok(value)

    def fast(self, values: pl.Expr) -> tuple[pl.Expr, pl.Expr] | None:
        """A cell of simple pairs (:func:`~saleslayer_airflow.mapping.pairs.simple_pairs`)
        whose keys are distinct: its key's value, extracted, then the field's own fast path; an
        absent key or empty value is no value when the field has no default and is optional."""
        import polars as pl

        spec = self.source.spec
        fmt = spec.pair_format()
        simple = simple_pairs(fmt)
        if simple is None or spec.key is None:
            return None
        value = values.str.extract(key_value(fmt, spec.key), 1)
        inner = super().fast(value)
        if inner is None:
            return None
        known, converted = inner
        keys = values.str.split(fmt.separator).list.eval(
            pl.element().str.split(fmt.assign).list.first()
        )
        readable = values.str.contains(simple) & (keys.list.n_unique() == keys.list.len())
        empty = value.is_null() | (value == "")
        if spec.default is None and not spec.required:
            known = known | empty
            converted = pl.when(empty).then(None).otherwise(converted)
        else:
            known = known & ~empty
        return readable & known, converted

    def _undeclared(self, raw: object) -> tuple[str, ...] | None:
        assert self.declared is not None
        if isinstance(raw, dict | list):
            return undeclared_keys(raw, self.source.spec.pair_format(), self.declared)
        found = self._unknown.get(raw, ())
        if found == ():
            if len(self._unknown) >= _CACHE_LIMIT:
                self._unknown.clear()
            fmt = self.source.spec.pair_format()
            found = self._unknown[raw] = undeclared_keys(raw, fmt, self.declared)
        return found

    def observe(self, cells: Column) -> None:
        import polars as pl

        if self.ignored is None or cells is None:
            return
        counts: dict[str, int] = {}
        if isinstance(cells, list):
            pairs: list[tuple[object, int]] = [(raw, 1) for raw in cells]
        else:
            texts = pl.Series(cells)
            texts = texts if texts.dtype == pl.String else texts.cast(pl.String)
            texts = texts.drop_nulls()
            fmt = self.source.spec.pair_format()
            simple = simple_pairs(fmt)
            if simple is not None:
                # simple cells with distinct keys, vectorised; the others in Python (a key twice
                # with two values rejects the row, which then counts nothing)
                keys = texts.str.split(fmt.separator).list.eval(
                    pl.element().str.split(fmt.assign).list.first()
                )
                plain = texts.str.contains(simple) & (keys.list.n_unique() == keys.list.len())
                plain = plain.fill_null(False)
                found = keys.filter(plain).explode()
                known = pl.Series(sorted(self.declared or ()), dtype=pl.String).implode()
                for key, rows in found.filter(~found.is_in(known)).value_counts().iter_rows():
                    counts[key] = counts.get(key, 0) + rows
                texts = texts.filter(~plain)
            distinct = texts.value_counts()
            pairs = list(zip(distinct[:, 0].to_list(), distinct[:, 1].to_list(), strict=True))
        for raw, rows in pairs:
            for key in self._undeclared(raw) or ():
                counts[key] = counts.get(key, 0) + rows
        for key, rows in counts.items():
            self.ignored.count(unknown_key_reason(key, self.column), rows, table=self.table)


def product_by_pattern(pattern: str, raw: object) -> str | None:
    """The product reference `pattern` cuts out of a variant's cell: its group ``ref``, else
    its only group, else the whole match; None for an empty cell, no match or an empty cut."""
    if raw is None or raw == "" or isinstance(raw, dict | list):
        return None
    found = re.compile(pattern).search(as_text(raw))  # re caches compiled patterns
    if found is None:
        return None
    if "ref" in found.re.groupindex:
        cut = found.group("ref")
    else:
        cut = found.group(1) if found.re.groups == 1 else found.group(0)
    return cut or None


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
        link = self.link
        if link.pattern is not None:
            derived = product_by_pattern(link.pattern, raw)
            if derived is None and not link.listed and raw is not None and raw != "":
                return _fail(
                    Rejected(
                        f"the variant's product reference cannot be cut out of {link.column!r}: "
                        f"the value does not match pattern {link.pattern!r}; every variant "
                        "belongs to a product (fix the pattern, or the reference)",
                        "no_parent",
                        _text(show_value(raw)) or "",
                    )
                )
            raw = derived
        value = link_value(self.plan, link, raw)
        if isinstance(value, Rejected):
            # Listed by the product rows: normalize/children.py gives it its product, or rejects
            # it once every row is read.
            return _ok(None) if link.listed and value.code == "no_parent" else _fail(value)
        return _ok(value)

    def fast(self, values: pl.Expr) -> tuple[pl.Expr, pl.Expr] | None:
        import polars as pl

        link = self.link
        if link.pattern is not None:
            return None
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


def rules_of(plan: TablePlan, ignored: Ignored | None = None) -> tuple[ReferenceRule, list[Rule]]:
    """The reference rule and the field and link rules of a plan, in the row's order (links
    without a column, a path's parent, have none: their value is set per level). With
    ``ignored``, the keys of key=value cells no field declares are counted there."""
    ref: ReferenceRule = PathRule(plan) if plan.path is not None else ReferenceRule(plan)
    rules: list[Rule] = []
    for source in plan.fields:
        if source.template is not None:
            rules.append(TemplateRule(source))
        elif source.column is None:
            rules.append(ConstantRule(source))
        elif source.spec.key is not None:
            rules.append(PairFieldRule(source))
        else:
            rules.append(FieldRule(source))
    if ignored is not None:
        _count_unknown_keys([r for r in rules if isinstance(r, PairFieldRule)], ignored, plan.key)
        for rule in rules:
            if isinstance(rule, FieldRule) and empties_values(rule.source.spec):
                rule.emptied = (ignored, plan.key)
    for link in plan.links:
        if link.column is not None:
            rules.append(LinkRule(plan, link))
    return ref, rules


def _count_unknown_keys(rules: list[PairFieldRule], ignored: Ignored, table: str) -> None:
    """One rule per column and pairs format counts the keys none of its fields declares."""
    groups: dict[tuple[str, object], list[PairFieldRule]] = {}
    for rule in rules:
        spec = rule.source.spec
        groups.setdefault((rule.column, spec.pair_format()), []).append(rule)
    for group in groups.values():
        declared = frozenset(r.source.spec.key for r in group if r.source.spec.key is not None)
        group[0].count_unknown(declared, ignored, table)


def _value_counts(cells: Column) -> list[tuple[object, int]]:
    """The distinct values of a column with their numbers of rows (raw Python values: each
    once, unhashable ones one by one)."""
    import polars as pl

    if cells is None:
        return []
    if isinstance(cells, list):
        return [(raw, 1) for raw in cells]
    texts = pl.Series(cells)
    texts = texts if texts.dtype == pl.String else texts.cast(pl.String)
    distinct = texts.drop_nulls().value_counts()
    return list(zip(distinct[:, 0].to_list(), distinct[:, 1].to_list(), strict=True))


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
        rule.observe(cells)
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
