"""The connector's mapping applied to batches of records: per table, its contributions and row
rejects (:class:`~saleslayer_airflow.normalize.contributions.TableChunk`), vectorised.

It computes what the row engine's ``_Splitter`` and ``BoundTable`` (tests/oracle/) compute row by
row, with the same value rules (``mapping.values``) and the same results in the same order:

- a table's ``where`` filters decide which rows feed it; a row a reader could not read is judged
  on the cells it recovered (and fed whatever they say when the filter cannot be evaluated);
- a fed row with a reader problem is a reject under the reference read from it
  (``rejected_reference``); every row with a problem, fed or not, may be an unreadable note of the
  table (``hides_references``);
- a fed row is mapped: reference, then fields in plan order, then links in plan order (the
  variant's product check in its place): the first check that fails is the row's reject;
- a row that maps gives one contribution, a category path one per level, in level order.

Order: every contribution and reject carries ``_order`` = file << 44 | record << 10 | level. A
category path has at most 256 levels (its reference is at most 512 characters and every level is
at least one character plus a separator), so levels never reach the record's bits; 34 bits of
records and 19 of files leave the sign bit alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from saleslayer_airflow.arrow_arrays import int64_array
from saleslayer_airflow.background import read_ahead
from saleslayer_airflow.mapping.columns import MappedColumns
from saleslayer_airflow.mapping.plan import PARENT_REF, TablePlan
from saleslayer_airflow.mapping.values import rejected_reference
from saleslayer_airflow.normalize.cells import (
    Column,
    FieldRule,
    PathRule,
    Rule,
    TemplateRule,
    convert_all,
    python_values,
    rules_of,
)
from saleslayer_airflow.normalize.continuation import Continuations, joined_cells
from saleslayer_airflow.normalize.contributions import (
    TableChunk,
    empty_chunk,
    items_schema,
    rejects_schema,
)
from saleslayer_airflow.normalize.results import (
    NO_TABLE,
    Ignored,
    LandedFile,
    describe_where,
    tables_of_file,
)
from saleslayer_airflow.normalize.results import storable as _storable
from saleslayer_airflow.readers.json import MISSING
from saleslayer_airflow.validation.completeness import Unreadable, hides_references
from saleslayer_airflow.validation.values import as_text

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

    from saleslayer_airflow.config.formats import Format
    from saleslayer_airflow.readers.batches import BatchReader, SourceBatch

#: the reason a `continuation:` row without the table's reference is counted under
CONTINUED_WITHOUT_REFERENCE = "continuation rows without a reference (they feed the other tables)"

LEVEL_BITS = 10
RECORD_BITS = 34
FILE_SHIFT = LEVEL_BITS + RECORD_BITS

#: Opens a landed file as batches: (path, format, name, file index, wanted columns, batch rows).
BatchOpener = Callable[..., "BatchReader"]


def order_base(file: int, record: int) -> int:
    """The ``_order`` of a record's first contribution (or its reject)."""
    return (file << FILE_SHIFT) | (record << LEVEL_BITS)


def _column(batch: SourceBatch, name: str) -> Column:
    found = batch.text.get(name)
    if found is not None:
        return found
    return batch.objects.get(name)


def _empty(value: object) -> bool:
    return value is None or value is MISSING or value == ""


def _rule_cells(rule: Rule, cells: Callable[[str | None], Column], rows: int) -> Column:
    """The cells a rule converts: its column's; a `columns:` field's columns joined; a
    template's columns combined."""
    if isinstance(rule, FieldRule) and rule.source.columns:
        separator = rule.source.spec.separator
        assert separator is not None  # the model requires it with `columns`
        return joined_cells([cells(c) for c in rule.source.columns], separator, rows)
    if isinstance(rule, TemplateRule):
        return rule.combine(cells, rows)
    if isinstance(rule, PathRule):  # with its parallel title columns, if any
        return rule.gather(cells, rows)
    return cells(rule.column)


class TableMapper:
    """One table's plan applied to the batches of one landed file.

    Raises the row engine's :class:`~saleslayer_airflow.mapping.errors.MappingError` for a mapped
    column missing from (or doubled in) a file's header, before any row is read.
    """

    def __init__(
        self,
        plan: TablePlan,
        columns: Sequence[str] | None,
        file_name: str,
        file_index: int,
        table: int = 0,
        ignored: Ignored | None = None,
    ) -> None:
        # The header check (MappingError) and the JSON seen-paths bookkeeping, with its message.
        self.bound = MappedColumns(plan, columns, file_name)
        self.plan = plan
        #: what this table leaves out, counted per reason (``ignored.count(reason, n,
        #: table=self.plan.key)``): shared by the run, shown in the report
        self.ignored = ignored if ignored is not None else Ignored()
        self.file_name = file_name
        self.file_index = file_index
        self.table = table
        self.ref_rule, self.rules = rules_of(plan, self.ignored)
        self.ref_column = self.ref_rule.column
        self.fed = 0
        #: `continuation:` groups of this file (None without), and the rows they left out
        self.continuations = Continuations(plan) if plan.continuation is not None else None
        self.continued_without_reference = 0
        self._items_schema = items_schema(plan)

    # -- which rows feed the table ------------------------------------------------------------

    def accepts(self, batch: SourceBatch) -> pl.Series:
        """Per row, whether it passes the table's ``where`` filters (``passes_filter``)."""
        import polars as pl

        if self.continuations is not None:  # a continuation row is judged on its filled cells
            batch = self.continuations.apply(batch)[0]
        mask = pl.repeat(True, batch.num_rows, dtype=pl.Boolean, eager=True)
        for row_filter in self.plan.where:
            cells = _column(batch, row_filter.column)
            wanted = row_filter.equals
            choices = wanted if isinstance(wanted, list) else [wanted]
            if cells is None or isinstance(cells, list):
                values = python_values(cells, batch.num_rows)
                if row_filter.empty is not None:
                    passed = [_empty(v) == row_filter.empty for v in values]
                else:
                    passed = [("" if _empty(v) else as_text(v)) in choices for v in values]
                mask = mask & pl.Series(passed, dtype=pl.Boolean)
                continue
            text = pl.Series(cells).cast(pl.String)
            empty = (text.is_null() | (text == "")).fill_null(True)
            if row_filter.empty is not None:
                mask = mask & (empty == row_filter.empty)
            else:
                mask = mask & text.fill_null("").is_in([str(c) for c in choices])
        return mask

    # -- rows a reader could not read ---------------------------------------------------------

    def _reference_of(self, batch: SourceBatch, position: int) -> str:
        cells = _column(batch, self.ref_column)
        if cells is None:
            return ""
        raw = cells[position] if isinstance(cells, list) else cells[position].as_py()
        return rejected_reference(self.plan, raw)

    def note_unreadable(self, batch: SourceBatch, unreadable: Unreadable) -> None:
        """Count the batch's unreadable rows that may hide references of this table, whatever
        its filters say (their cells, so the filters' verdict, cannot be trusted)."""
        codes = batch.problem_code
        if codes.null_count == len(codes):
            return
        lines = batch.lines.to_pylist()
        for position, code in enumerate(codes.to_pylist()):
            if code is not None and hides_references(code, self._reference_of(batch, position)):
                unreadable.note(self.file_name, lines[position], code)

    # -- mapping ------------------------------------------------------------------------------

    def map_batch(self, batch: SourceBatch, feeds: pl.Series | None = None) -> TableChunk:
        """The table's contributions and row rejects from one batch; ``feeds``: the rows that
        pass its filters (:meth:`accepts`, computed when None)."""
        import polars as pl

        rows = batch.num_rows
        if feeds is None:
            feeds = self.accepts(batch)
        if self.continuations is not None:
            batch, feeds = self._continued(batch, feeds)
        problem = pl.Series(batch.problem_code).is_not_null()
        self.fed += int(feeds.sum())
        base = order_base(self.file_index, batch.first_record)
        step = 1 << LEVEL_BITS
        bookkeeping = pl.DataFrame(
            {
                "_pos": pl.int_range(0, rows, dtype=pl.Int64, eager=True),
                "_line": pl.Series(batch.lines, dtype=pl.Int64),
            }
        ).with_columns(
            (pl.col("_pos") + batch.first_record).alias("_record"),
            (pl.col("_pos") * step + base).alias("_order"),
            pl.lit(self.file_index, dtype=pl.Int32).alias("_file"),
        )
        rejects = [self._problem_rejects(batch, feeds & problem, bookkeeping)]
        mapped = feeds & ~problem
        count = int(mapped.sum())
        if count == 0:
            if not any(frame.height for frame in rejects):
                return empty_chunk(self.table, self.plan)
            return TableChunk(self.table, empty_chunk(self.table, self.plan).items, rejects[0])
        positions = None if count == rows else mapped.arg_true()
        keys = bookkeeping if positions is None else bookkeeping.filter(mapped)
        self._note_seen(batch, mapped)

        def cells(name: str | None) -> Column:
            found = None if name is None else _column(batch, name)
            if found is None or positions is None:
                return found
            if isinstance(found, list):
                return [found[i] for i in positions.to_list()]
            return found.take(int64_array(positions.to_numpy()))

        rules: list[Rule] = [self.ref_rule, *self.rules]
        outcomes = convert_all([(rule, _rule_cells(rule, cells, count)) for rule in rules], count)
        frame = keys.with_columns(
            [
                series.alias(f"{name}{index}")
                for index, outcome in enumerate(outcomes)
                for name, series in outcome.items()
            ]
        )
        # the stages where some row fails: the first failing one decides the row's reject
        failing = [i for i, outcome in enumerate(outcomes) if "reason" in outcome]
        if failing:
            failed = pl.coalesce([pl.col(f"reason{i}") for i in failing]).is_not_null()
            rejects.append(self._mapping_rejects(frame.filter(failed), rules, failing))
            frame = frame.filter(~failed)
        items = self._items(frame)
        reject_frame = pl.concat(rejects)
        if len(rejects) > 1 and rejects[0].height:
            reject_frame = reject_frame.sort("_order")
        return TableChunk(self.table, items, reject_frame)

    def _continued(self, batch: SourceBatch, feeds: pl.Series) -> tuple[SourceBatch, pl.Series]:
        """The batch with its continuation rows filled, and the rows that feed the table without
        the continuation rows that have no reference of it (counted, not rejected: an image-only
        row gives the variants table nothing, its image goes to the product)."""
        assert self.continuations is not None
        batch, without_reference = self.continuations.apply(batch)
        left_out = int((feeds & without_reference).sum())
        if left_out:
            self.continued_without_reference += left_out
            self.ignored.count(CONTINUED_WITHOUT_REFERENCE, left_out, table=self.plan.key)
            self._list_continued(batch, feeds & without_reference)
            feeds = feeds & ~without_reference
        return batch, feeds

    def _list_continued(self, batch: SourceBatch, rows: pl.Series) -> None:
        """List the first continuation rows left out (ignored.csv), each saying why."""
        if self.ignored.full:
            return
        room = self.ignored.limit - len(self.ignored.rows)
        lines = batch.lines.to_pylist()
        reference = self.ref_column
        why = (
            f"a continuation row (its {self.plan.continuation!r} repeats the row before) with no "
            f"{reference!r}: it gives {self.plan.key} no item; its values feed the other tables"
        )
        for position in rows.arg_true().to_list()[:room]:
            self.ignored.listed(self.file_name, lines[position], why, table=self.plan.key)

    def _problem_rejects(
        self, batch: SourceBatch, where: pl.Series, keys: pl.DataFrame
    ) -> pl.DataFrame:
        import polars as pl

        schema = rejects_schema()
        if not where.any():
            return pl.DataFrame(schema=schema)
        positions = where.arg_true().to_list()
        picked = keys.filter(where)

        def texts(array: pa.Array) -> list[str]:
            values = array.to_pylist()
            return [_storable(values[p] or "") for p in positions]

        return picked.select("_file", "_line", "_record", "_order").with_columns(
            pl.Series("ref", [_storable(self._reference_of(batch, p)) for p in positions]),
            pl.Series("col", texts(batch.problem_column), dtype=pl.String),
            pl.Series("val", texts(batch.problem_value), dtype=pl.String),
            pl.Series("reason", texts(batch.problem_reason), dtype=pl.String),
            pl.Series("code", texts(batch.problem_code), dtype=pl.String),
        )

    def _mapping_rejects(
        self, frame: pl.DataFrame, rules: Sequence[Rule], failing: Sequence[int]
    ) -> pl.DataFrame:
        import polars as pl

        # a category path's reference is its deepest level
        # a category path's reference is its deepest level; a cell of several paths is
        # recorded as a whole (every path stays present: validation/completeness.py)
        row_ref = pl.col("rref0") if self.plan.path is not None else pl.col("v0")
        ref = row_ref
        if failing[0] == 0:
            ref = pl.when(pl.col("reason0").is_not_null()).then(pl.col("rref0")).otherwise(row_ref)
        return frame.select(
            "_file",
            "_line",
            "_record",
            "_order",
            ref.alias("ref"),
            pl.coalesce(
                [
                    pl.when(pl.col(f"reason{i}").is_not_null()).then(pl.lit(rules[i].column))
                    for i in failing
                ]
            ).alias("col"),
            pl.coalesce([pl.col(f"shown{i}") for i in failing]).alias("val"),
            pl.coalesce([pl.col(f"reason{i}") for i in failing]).alias("reason"),
            pl.coalesce([pl.col(f"code{i}") for i in failing]).alias("code"),
        )

    def _items(self, frame: pl.DataFrame) -> pl.DataFrame:
        import polars as pl

        values: list[pl.Expr] = []
        rule_index = 1
        for source in self.plan.fields:
            value = pl.col(f"v{rule_index}")
            if source.spec.collect or source.columns:  # each value once, in order
                value = value.list.unique(maintain_order=True)
            values.append(value.alias(source.out))
            rule_index += 1
        for link in self.plan.links:
            if link.column is None:
                values.append(pl.lit(None, dtype=pl.String).alias(link.out))
            else:
                values.append(pl.col(f"v{rule_index}").alias(link.out))
                rule_index += 1
        if self.plan.path is None:
            items = frame.select(
                pl.col("v0").alias("ref"), "_file", "_line", "_record", "_order", *values
            )
            return items.cast(self._items_schema)  # type: ignore[arg-type]
        # One item per level; the row's fields and links go to the deepest level of each path
        # (``leaf0``), the titles to every level.
        titles = [f"title{k}0" for k in range(len(self.plan.titles))]
        exploded = frame.with_columns(
            pl.int_ranges(0, pl.col("v0").list.len()).alias("_level"),
        ).explode("v0", "parents0", "leaf0", "_level", *titles)
        last = pl.col("leaf0")
        leveled = [
            pl.col("parents0").alias(PARENT_REF)
            if value.meta.output_name() == PARENT_REF
            else pl.when(last).then(value).otherwise(None).alias(value.meta.output_name())
            for value in values
        ]
        leveled += [
            pl.col(column).alias(title.out)
            for column, title in zip(titles, self.plan.titles, strict=True)
        ]
        items = exploded.select(
            pl.col("v0").alias("ref"),
            "_file",
            "_line",
            "_record",
            (pl.col("_order") + pl.col("_level")).alias("_order"),
            *leveled,
        )
        return items.cast(self._items_schema)  # type: ignore[arg-type]

    # -- JSON: mapped paths never seen --------------------------------------------------------

    def _note_seen(self, batch: SourceBatch, mapped: pl.Series) -> None:
        unseen = self.bound.unseen
        if not unseen:
            return
        seen = set()
        for path in unseen:
            present = batch.present.get(path)
            if present is not None:
                import polars as pl

                if (pl.Series(present).fill_null(False) & mapped).any():
                    seen.add(path)
                continue
            cells = _column(batch, path)
            if cells is None:
                continue
            values = python_values(cells, batch.num_rows)
            flags = mapped.to_list()
            # without `present`, a null cell cannot be told from an absent key: count it absent
            if any(
                flag and v is not None and v is not MISSING
                for flag, v in zip(flags, values, strict=True)
            ):
                seen.add(path)
        self.bound.unseen = unseen - seen

    def finish(self) -> None:
        """At the end of the file: a mapped JSON path found in none of the table's records is
        the row engine's MappingError (``check_all_seen``)."""
        self.bound.check_all_seen(self.fed)


class FileMapping:
    """One landed file mapped into every table it feeds: iterate for ``(table, chunk)`` in source
    order; ``rows_read``, ``rows_used``, ``rows_unused``, ``filtered`` (per table index: rows its
    ``where:`` left out) and ``unread_columns`` (header columns no table reads; None without a
    header) are final once the iteration ends, unreadable rows are noted in ``unreadable`` (one
    per plan, shared across the run's files) and the rows that feed no table in ``ignored``."""

    def __init__(
        self,
        plans: Sequence[TablePlan],
        files_by_table: Mapping[str, tuple[str, ...] | None],
        landed: LandedFile,
        file_index: int,
        fmt: Format,
        *,
        unreadable: Sequence[Unreadable] | None = None,
        batch_rows: int = 65_536,
        opener: BatchOpener | None = None,
        ignored: Ignored | None = None,
    ) -> None:
        self.plans = plans
        self.feeds = tables_of_file(plans, files_by_table, landed.file)
        self.landed = landed
        self.file_index = file_index
        self.fmt = fmt
        self.batch_rows = batch_rows
        self.unreadable = (
            list(unreadable) if unreadable is not None else [Unreadable() for _ in plans]
        )
        self.opener = opener
        self.rows_read = 0
        self.rows_unused = 0
        self.rows_used = 0
        self.filtered = dict.fromkeys(self.feeds, 0)
        self.unread_columns: tuple[str, ...] | None = None
        self.ignored = ignored if ignored is not None else Ignored()

    def _wanted(self) -> list[str]:
        names: list[str] = []
        for tbl in self.feeds:
            plan = self.plans[tbl]
            names += plan.source_columns() + [f.column for f in plan.where]
        return list(dict.fromkeys(names))

    def __iter__(self) -> Iterator[tuple[int, TableChunk]]:
        import polars as pl

        opener = self.opener
        if opener is None:
            from saleslayer_airflow.readers.batches import open_batches

            opener = open_batches
        landed = self.landed
        reader = opener(
            landed.path, self.fmt, landed.name, self.file_index, self._wanted(), self.batch_rows
        )
        try:
            header = reader.columns
            if header is not None:
                read = set(self._wanted())
                self.unread_columns = tuple(c for c in dict.fromkeys(header) if c not in read)
            mappers = {
                tbl: TableMapper(
                    self.plans[tbl],
                    header,
                    landed.name,
                    self.file_index,
                    tbl,
                    ignored=self.ignored,
                )
                for tbl in self.feeds
            }
            # The next batch is read and parsed while this one is mapped.
            for batch in read_ahead(reader):
                rows = batch.num_rows
                self.rows_read += rows
                used = pl.repeat(False, rows, dtype=pl.Boolean, eager=True)
                feeds = {}
                for tbl, mapper in mappers.items():
                    mapper.note_unreadable(batch, self.unreadable[tbl])
                    feeds[tbl] = mapper.accepts(batch)
                    used = used | feeds[tbl]
                fed_some = int(used.sum())
                self.rows_used += fed_some
                self.rows_unused += rows - fed_some
                for tbl, accepted in feeds.items():
                    self.filtered[tbl] += rows - int(accepted.sum())
                if fed_some < rows:
                    self._note_unused(batch, used, rows - fed_some)
                for tbl, mapper in mappers.items():
                    chunk = mapper.map_batch(batch, feeds[tbl])
                    if chunk.rows_in:
                        yield tbl, chunk
            for mapper in mappers.values():
                mapper.finish()
        finally:
            close = getattr(reader, "close", None)
            if close is not None:
                close()

    def _note_unused(self, batch: SourceBatch, used: pl.Series, count: int) -> None:
        """Count the batch's rows that feed no table and list the first ones, each with why: the
        filters of the tables that read the file and the row's own values of their columns."""
        self.ignored.count(NO_TABLE, count)
        if self.ignored.full:
            return
        room = self.ignored.limit - len(self.ignored.rows)
        positions = (~used).arg_true().head(room).to_list()
        lines = batch.lines.to_pylist()
        problems = batch.problem_reason.to_pylist()
        plans = [self.plans[tbl] for tbl in self.feeds]
        if not plans:
            why = f"no table reads {self.landed.name}: every table names other files in its `file:`"
        else:
            why = "no table takes this row: " + "; ".join(
                f"{plan.key} needs {describe_where(plan.where)}" for plan in plans
            )
        names = list(dict.fromkeys(f.column for plan in plans for f in plan.where))
        values = {name: python_values(_column(batch, name), batch.num_rows) for name in names}
        for position in positions:
            shown = ", ".join(f"{name} {_shown(values[name][position])}" for name in names)
            detail = why + (f" (here {shown})" if shown else "")
            if problems[position]:
                detail += f"; the row could not be read: {problems[position]}"
            self.ignored.listed(self.landed.name, lines[position], detail)


def _shown(value: object) -> str:
    """A filter column's value in an ignored row's reason."""
    if value is MISSING:
        return "absent"
    if _empty(value):
        return "empty"
    return f"= {as_text(value)!r}"


def map_file(
    plans: Sequence[TablePlan],
    files_by_table: Mapping[str, tuple[str, ...] | None],
    landed: LandedFile,
    file_index: int,
    fmt: Format,
    *,
    unreadable: Sequence[Unreadable] | None = None,
    batch_rows: int = 65_536,
    opener: BatchOpener | None = None,
    ignored: Ignored | None = None,
) -> FileMapping:
    """:class:`FileMapping` of ``landed``: its rows mapped ``batch_rows`` at a time, read by
    ``opener`` (``readers.batches.open_batches`` when None), its unreadable rows noted in
    ``unreadable`` (one per plan)."""
    return FileMapping(
        plans,
        files_by_table,
        landed,
        file_index,
        fmt,
        unreadable=unreadable,
        batch_rows=batch_rows,
        opener=opener,
        ignored=ignored,
    )


__all__ = ["FileMapping", "TableMapper", "map_file", "order_base"]
