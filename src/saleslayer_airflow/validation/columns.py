"""Column preflight: every column a connector names, checked against an export's header.

A connector names source columns in many places (a table's reference, its fields and their
per-language columns, links and parents, category paths, ``where:`` filters). A typo in any of
them used to be found by the split only, with a suggestion only for a case slip. This module reads
a file's header cheaply (a CSV's header record, an XLSX sheet's first row, the keys of a JSON
export's first records: never the whole file) and lists every named column the header lacks, with
the config path of the name, "did you mean ...?" and the header's columns. Both
``python -m saleslayer_airflow validate CONNECTOR --sample FILE`` and the run's
``validate_and_split`` (before it reads a file) use it.

Record formats (JSON, JSON Lines) have no header: a key may be absent from some records (the split
reads an absent key as an empty value, and fails only for a path found in none of a file's
records). So the keys of the first :data:`SAMPLE_RECORDS` records stand for the header, and a path
found in none of them is *certain* only when those records were the whole file; otherwise it is a
warning, and the split's own end-of-file check decides. A ``where:`` filter's JSON key is never
certain (the split reads an absent key as empty, so the filter just selects no record), and one
testing ``empty:`` is a test of the key's absence: never a problem. XML exports are record
files too: their "columns" are the paths the first records hold (``name``, ``@id``,
``price/@currency``, ``g:image_link``: ``readers.xml.discover_paths``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from saleslayer_airflow.mapping.errors import MappingError

if TYPE_CHECKING:
    from saleslayer_airflow.config.connector import ConnectorConfig
    from saleslayer_airflow.config.formats import Format, XmlFormat
    from saleslayer_airflow.config.tables import TableMapping

#: JSON / JSON Lines: records whose keys stand for the header.
SAMPLE_RECORDS = 1_000
#: Nested JSON objects are walked this deep for dotted paths (``fields.parent``).
MAX_DEPTH = 8
#: At most this many distinct JSON paths are collected (a record of ever-new keys is no header).
MAX_PATHS = 5_000
#: Header columns shown in a message; the rest are counted.
SHOWN_COLUMNS = 40

ConfigPath = tuple[str | int, ...]


@dataclass(frozen=True)
class NamedColumn:
    """One source column a table of the connector reads, and where the connector names it."""

    table: str
    path: ConfigPath
    column: str
    #: how the name was made, when it is not written as is (a language column)
    note: str = ""
    #: a `where:` filter's column
    is_filter: bool = False
    #: a JSON key whose absence is meaningful (a `where: {empty: ...}` filter)
    absence_allowed: bool = False

    @property
    def field(self) -> str:
        """The config path as a person finds it in the file: ``tables.products.fields.x.column``."""
        out = ""
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return out


@dataclass(frozen=True)
class Header:
    """The column names the split would see in one file.

    Tabular files (CSV, XLSX): the header's names in order (``col_1``, ... without a header row).
    Record files (JSON, JSON Lines): the dotted paths of the first ``records`` records' keys, in
    order of appearance; ``complete`` when those records were the whole file.
    """

    file: str
    columns: tuple[str, ...]
    records: int | None = None
    complete: bool = True
    #: how a record file's paths are written, for a message
    syntax: str = "paths are dotted and match exactly, case included"
    #: XML: a named path is found when its elements are, whatever its [tests] say (the split's
    #: end-of-file check decides those)
    xml: bool = False

    @property
    def is_records(self) -> bool:
        return self.records is not None


@dataclass(frozen=True)
class ColumnProblem:
    """A named column the header lacks (or holds twice)."""

    named: NamedColumn
    header: Header
    message: str
    #: False: a JSON key missing from the first records of a longer file (it may come later)
    certain: bool = True
    #: False: the column is there, but more than once
    missing: bool = True

    @property
    def table(self) -> str:
        return self.named.table

    @property
    def column(self) -> str:
        return self.named.column

    def __str__(self) -> str:
        return f"{self.named.field}: {self.message}"


class MissingColumnsError(MappingError):
    """Columns the connector names are not in a landed file's header: a typo in the connector
    file, or a renamed column in the export. Terminal: the same file fails the same way."""

    def __init__(self, connector: str, problems: Sequence[ColumnProblem]) -> None:
        self.connector = connector
        self.problems = tuple(problems)
        files = sorted({p.header.file for p in problems})
        names = ", ".join(repr(c) for c in dict.fromkeys(p.column for p in problems))
        where = "not in" if all(p.missing for p in problems) else "missing from or doubled in"
        # The first line names the columns: it is the line Airflow shows as the task's error.
        head = (
            f"connector {connector!r}: {len(problems)} column(s) named in the connector file are "
            f"{where} {', '.join(files)} ({names}); fix the names in the connector file (or the "
            "export). Nothing was read further or sent:"
        )
        super().__init__("\n".join([head, *(f"  {p}" for p in problems)]))


# -- the columns a connector names -------------------------------------------------------------


def named_columns(
    config: ConnectorConfig, tables: Iterable[str] | None = None
) -> list[NamedColumn]:
    """Every source column the ``tables`` (default: all) read, with the config path naming it.

    The list holds exactly what the split reads (``mapping.plan.TablePlan.source_columns`` and the
    ``where:`` columns): a name the split reads that no known place of the config gives (a newer
    option) is still listed, located at its table.
    """
    from saleslayer_airflow.mapping.plan import build_plans

    wanted = None if tables is None else set(tables)
    plans = {plan.key: plan for plan in build_plans(config)}
    found: list[NamedColumn] = []
    for key, table in config.tables.items():
        if wanted is not None and key not in wanted:
            continue
        mine = _table_columns(key, table)
        plan = plans.get(key)
        if plan is not None:
            listed = {n.column for n in mine}
            for column in plan.source_columns() + [f.column for f in plan.where]:
                if column not in listed:
                    mine.append(NamedColumn(key, ("tables", key), column))
                    listed.add(column)
        found += mine
    return found


def _path_title_columns(key: str, table: TableMapping) -> list[NamedColumn]:
    """The parallel path columns a category path's per-language titles read."""
    title = table.path.title if table.path is not None else None
    if table.path is None or title is None or title.languages is None:
        return []
    found = []
    for index, lang in enumerate(title.languages):
        if lang == title.path_language:
            continue  # from the path column itself
        column = title.language_pattern.format(column=table.path.column, lang=lang)
        note = f"its {lang!r} titles by language_pattern {title.language_pattern!r}"
        at: ConfigPath = ("tables", key, "path", "title", "languages", index)
        found.append(NamedColumn(key, at, column, note))
    return found


def _grouping_columns(key: str, table: TableMapping) -> list[NamedColumn]:
    """A table's `continuation.key` and its fields' `columns:` (a field with `columns` has no
    `column`: :func:`_table_columns` skips it)."""
    base: ConfigPath = ("tables", key)
    found: list[NamedColumn] = []
    if table.continuation is not None:
        found.append(NamedColumn(key, (*base, "continuation", "key"), table.continuation.key))
    for name, spec in table.fields.items():
        at = (*base, "fields", name, "columns")
        found += [NamedColumn(key, (*at, i), c) for i, c in enumerate(spec.columns or ())]
    return found


def _table_columns(key: str, table: TableMapping) -> list[NamedColumn]:
    base: ConfigPath = ("tables", key)
    mine: list[NamedColumn] = _grouping_columns(key, table)
    if table.path is None:
        mine.append(NamedColumn(key, (*base, "reference"), table.reference))
    else:  # the split takes the reference from the path column (the deepest level)
        mine.append(NamedColumn(key, (*base, "path", "column"), table.path.column))
        mine += _path_title_columns(key, table)
    for name, spec in table.fields.items():
        if spec.template is not None:
            at = (*base, "fields", name, "template")
            note = f"named in the template {spec.template!r}"
            mine += [NamedColumn(key, at, column, note) for column in spec.template_columns()]
            continue
        if spec.column is None:
            continue
        if spec.languages is None:
            mine.append(NamedColumn(key, (*base, "fields", name, "column"), spec.column))
            continue
        for index, lang in enumerate(spec.languages):
            column = spec.language_pattern.format(column=spec.column, lang=lang)
            note = f"its {lang!r} column by language_pattern {spec.language_pattern!r}"
            mine.append(NamedColumn(key, (*base, "fields", name, "languages", index), column, note))
    if table.parent is not None:
        mine.append(NamedColumn(key, (*base, "parent"), table.parent))
    if table.categories is not None:
        mine.append(NamedColumn(key, (*base, "categories", "column"), table.categories.column))
    if (product := table.product_column()) is not None:
        at = (*base, "product") if isinstance(table.product, str) else (*base, "product", "column")
        mine.append(NamedColumn(key, at, product))
    for name, ref_list in table.links.items():
        mine.append(NamedColumn(key, (*base, "links", name, "column"), ref_list.column))
    for index, row_filter in enumerate(table.where):
        at = (*base, "where", index, "column")
        empty_test = row_filter.empty is not None
        mine.append(
            NamedColumn(key, at, row_filter.column, is_filter=True, absence_allowed=empty_test)
        )
    return mine


def tables_reading(config: ConnectorConfig, file: str | None) -> list[str]:
    """The tables that read a landed file named ``file`` in `source.files` (None: unnamed), as
    the split chooses them: every table without `file:`, and those whose `file:` names it."""
    return [
        key
        for key, table in config.tables.items()
        if (names := table.source_files()) is None or file in names
    ]


# -- reading a header cheaply ------------------------------------------------------------------


def read_header(path: Path, fmt: Format, name: str | None = None) -> Header:
    """The column names of ``path`` read with the connector's ``format:``, from its start only.

    CSV: the header record as the split's reader gives it (encoding with BOM handling, delimiter,
    quotes, ``skip_lines``, ``header: false``); ``auto`` encoding reads up to 1 MiB to decide, as
    the split does. XLSX: the first non-empty row of the sheet. JSON / JSON Lines: the keys of the
    first :data:`SAMPLE_RECORDS` records. Raises ``SourceFileError`` when the file cannot be read
    with the format (the split would fail the same way).
    """
    from saleslayer_airflow.config.formats import (
        CsvFormat,
        JsonFormat,
        JsonLinesFormat,
        XmlFormat,
    )

    shown = name or path.name
    if isinstance(fmt, CsvFormat):
        from saleslayer_airflow.readers.csv import CsvReader

        with path.open("rb") as raw:
            return Header(shown, tuple(CsvReader(raw, fmt, shown).columns))
    if isinstance(fmt, JsonFormat | JsonLinesFormat):
        return _json_header(path, fmt, shown)
    if isinstance(fmt, XmlFormat):
        return _xml_header(path, fmt, shown)
    return _xlsx_header(path, fmt, shown)


def _xlsx_header(path: Path, fmt: Any, name: str) -> Header:
    # The split's XlsxReader scans the whole sheet for merged cells and formulas first; the
    # header needs only its first rows, read the same way (read-only, cached values).
    from openpyxl import load_workbook

    from saleslayer_airflow.readers.errors import SourceFileError

    with path.open("rb") as raw:  # a file object: openpyxl judges a path by its extension
        try:
            book = load_workbook(raw, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises zipfile/KeyError/InvalidFileException kinds
            raise SourceFileError(
                name, f"not a readable .xlsx workbook ({type(exc).__name__}: {exc})"
            ) from None
        return _first_row(book, fmt, name)


def _first_row(book: Any, fmt: Any, name: str) -> Header:
    from saleslayer_airflow.readers.errors import SourceFileError
    from saleslayer_airflow.readers.xlsx import cell_text

    try:
        sheets = book.sheetnames
        if isinstance(fmt.sheet, int):
            if not 0 <= fmt.sheet < len(sheets):
                raise SourceFileError(
                    name, f"format.sheet {fmt.sheet} does not exist; the sheets are {sheets}"
                )
            sheet = book[sheets[fmt.sheet]]
        elif fmt.sheet in sheets:
            sheet = book[fmt.sheet]
        else:
            raise SourceFileError(
                name, f"format.sheet {fmt.sheet!r} does not exist; the sheets are {sheets}"
            )
        for values in sheet.iter_rows(min_row=fmt.skip_lines + 1, values_only=True):
            if any(v is not None for v in values):
                header = [cell_text(v) for v in values]
                while header and header[-1] == "":
                    header.pop()
                return Header(name, tuple(header))
        raise SourceFileError(name, "the sheet is empty: no header row and no data")
    finally:
        book.close()


def _json_header(path: Path, fmt: Any, name: str) -> Header:
    from itertools import islice

    from saleslayer_airflow.config.formats import JsonFormat

    with path.open("rb") as raw:
        reader: Iterable[Any]
        if isinstance(fmt, JsonFormat):
            from saleslayer_airflow.readers.json import JsonReader

            reader = JsonReader(raw, fmt.records_path, name)
        else:
            from saleslayer_airflow.readers.json import JsonLinesReader

            reader = JsonLinesReader(raw, name)
        rows = iter(reader)
        paths: dict[str, None] = {}
        records = 0
        for row in islice(rows, SAMPLE_RECORDS):
            records += 1
            if row.problem is None and isinstance(row.cells, dict):
                for found in _paths(row.cells):
                    if len(paths) >= MAX_PATHS:
                        break
                    paths.setdefault(found)
        # One more record tells whether the sample was the whole file.
        complete = records < SAMPLE_RECORDS or next(rows, None) is None
    return Header(name, tuple(paths), records=records, complete=complete)


def _xml_header(path: Path, fmt: XmlFormat, name: str) -> Header:
    """The paths the first :data:`SAMPLE_RECORDS` records of an XML export hold."""
    from itertools import islice

    from saleslayer_airflow.readers.xml import XmlReader

    with path.open("rb") as raw:
        rows = iter(XmlReader(raw, fmt, name))
        paths: dict[str, None] = {}
        records = 0
        broken = False
        for row in islice(rows, SAMPLE_RECORDS):
            if row.problem is not None and row.problem.code == "bad_xml":
                broken = True  # where the reading stopped: not a record, and not the end
                break
            records += 1
            if isinstance(row.cells, dict):
                for found in row.cells:
                    if len(paths) >= MAX_PATHS:
                        break
                    paths.setdefault(found)
        complete = not broken and (records < SAMPLE_RECORDS or next(rows, None) is None)
    syntax = (
        "XML paths are element names separated by '/', '@' for an attribute, prefixes as "
        "format.namespaces declares them; names match exactly, case included"
    )
    return Header(name, tuple(paths), records=records, complete=complete, syntax=syntax, xml=True)


def _paths(record: Mapping[str, Any], prefix: str = "", depth: int = 0) -> Iterator[str]:
    """The dotted paths ``readers.json.lookup`` finds in ``record``: every top-level key as
    written, and nested keys through keys without a dot (lookup splits a path on dots)."""
    for key, value in record.items():
        if prefix and "." in key:
            continue  # a nested key holding a dot: no dotted path reaches it
        path = f"{prefix}{key}"
        yield path
        if isinstance(value, dict) and "." not in key and depth < MAX_DEPTH:
            yield from _paths(value, f"{path}.", depth + 1)


# -- the check ---------------------------------------------------------------------------------

_SPACES = re.compile(r"[\s\ufeff\u200b]+")
_SEPARATORS = re.compile(r"[\s\ufeff\u200b_\-.]+")
_DELIMITERS = (";", ",", "\t", "|")


def _loose(name: str) -> str:
    return _SPACES.sub("", name).casefold()


def _looser(name: str) -> str:
    return _SEPARATORS.sub("", name).casefold()


def suggest(name: str, columns: Sequence[str]) -> str | None:
    """The header column ``name`` most likely meant: the same name but for case and spaces
    first, then but for ``_``, ``-`` and ``.``, then the closest spelling (difflib)."""
    names = [c for c in dict.fromkeys(columns) if c != name]
    for key in (_loose, _looser):
        wanted = key(name)
        same = [c for c in names if key(c) == wanted]
        if same:
            return same[0]
    folded: dict[str, str] = {}
    for column in names:
        folded.setdefault(column.casefold(), column)
    close = difflib.get_close_matches(name.casefold(), list(folded), n=1, cutoff=0.6)
    return folded[close[0]] if close else None


def show_columns(columns: Sequence[str], limit: int = SHOWN_COLUMNS) -> str:
    """The header's columns for a message: quoted (so spaces and empty names show), the first
    ``limit`` of them and a count of the rest."""
    shown = ", ".join(repr(c) for c in columns[:limit])
    if len(columns) > limit:
        shown += f", ... ({len(columns) - limit} more)"
    return shown or "none"


def _delimiter_hint(header: Header) -> str:
    if header.is_records or len(header.columns) != 1:
        return ""
    for delimiter in _DELIMITERS:
        if delimiter in header.columns[0]:
            return (
                f" The header was read as one column holding {delimiter!r}: the file is "
                f"probably delimited by {delimiter!r}; check format.delimiter."
            )
    return ""


def _did_you_mean(name: str, header: Header) -> str:
    hint = suggest(name, header.columns)
    if hint is None:
        return ""
    if hint.strip() != hint and hint.strip() == name:
        return f" Did you mean {hint!r}? (the header's name has spaces around it)"
    return f" Did you mean {hint!r}?"


def check_columns(
    config: ConnectorConfig, header: Header, *, file: str | None = None
) -> list[ColumnProblem]:
    """Every column the tables reading this file (``file``: its name in `source.files`, None
    for an unnamed file) name and ``header`` lacks, in config order; for tabular files also a
    named column the header holds more than once (the split cannot tell which to read)."""
    problems: list[ColumnProblem] = []
    columns = header.columns
    counts: dict[str, list[int]] = {}
    for index, column in enumerate(columns):
        counts.setdefault(column, []).append(index + 1)
    listing = show_columns(columns)
    for named in named_columns(config, tables_reading(config, file)):
        what = f"table {named.table!r} reads column {named.column!r}" + (
            f" ({named.note})" if named.note else ""
        )
        positions = counts.get(named.column, [])
        if header.xml and not positions:
            from saleslayer_airflow.readers.xml import plain_path

            plain = plain_path(named.column)
            positions = counts.get(plain, [0] if plain == "" else [])
        if header.is_records:
            if positions or named.absence_allowed or not header.records:
                continue
            scope = (
                f"the {header.records:,} record(s) of {header.file}"
                if header.complete
                else f"the first {header.records:,} records of {header.file} (it may occur "
                "further on: the run checks the whole file)"
            )
            message = (
                f"{what}, a key found in none of {scope}; {header.syntax}."
                f"{_did_you_mean(named.column, header)} "
                f"The records' keys ({len(columns)}): {listing}."
            )
            if named.is_filter:
                message += " The filter passes no record without the key."
            # The split reads a JSON filter's absent key as empty: the table gets no row of
            # this file, which a file of another shape may mean (a warning, not a failure).
            certain = header.complete and not named.is_filter
            problems.append(ColumnProblem(named, header, message, certain=certain))
            continue
        if len(positions) > 1:
            message = (
                f"{what}, which appears {len(positions)} times in the header of {header.file} "
                f"(positions {', '.join(map(str, positions))}), so the value to read is "
                "ambiguous; rename the columns in the export"
            )
            problems.append(ColumnProblem(named, header, message, missing=False))
            continue
        if positions:
            continue
        message = (
            f"{what}, which is not in the header of {header.file}; names match exactly, case "
            f"included.{_did_you_mean(named.column, header)} The file's columns "
            f"({len(columns)}): {listing}.{_delimiter_hint(header)}"
        )
        problems.append(ColumnProblem(named, header, message))
    return problems


@dataclass
class Preflight:
    """The column check of every file of a run (or of every ``--sample``)."""

    problems: list[ColumnProblem] = field(default_factory=list)

    @property
    def errors(self) -> list[ColumnProblem]:
        return [p for p in self.problems if p.certain]

    @property
    def warnings(self) -> list[ColumnProblem]:
        return [p for p in self.problems if not p.certain]


def preflight(config: ConnectorConfig, files: Iterable[tuple[Path, str, str | None]]) -> Preflight:
    """:func:`check_columns` of each ``(path, shown name, name in source.files)``."""
    result = Preflight()
    for path, shown, named in files:
        header = read_header(path, config.format, shown)
        result.problems += check_columns(config, header, file=named)
    return result


__all__ = [
    "ColumnProblem",
    "Header",
    "MissingColumnsError",
    "NamedColumn",
    "Preflight",
    "check_columns",
    "named_columns",
    "preflight",
    "read_header",
    "suggest",
    "tables_reading",
]
