"""Readers of landed exports (CSV, JSON, JSON Lines, XLSX, XML), record by record in bounded
memory.

Each reader yields :class:`SourceRow` objects with the record's first source line; a record that
cannot be read carries a :class:`RowProblem` instead of raising. A file that cannot be read at all
raises :class:`SourceFileError`.
"""

from __future__ import annotations

from typing import BinaryIO

from saleslayer_airflow.config.formats import (
    CsvFormat,
    JsonFormat,
    JsonLinesFormat,
    XlsxFormat,
    XmlFormat,
)
from saleslayer_airflow.readers.errors import SourceFileError
from saleslayer_airflow.readers.records import RecordReader, RowProblem, SourceRow

__all__ = ["RecordReader", "RowProblem", "SourceFileError", "SourceRow", "open_reader"]


def open_reader(
    raw: BinaryIO,
    fmt: CsvFormat | JsonFormat | JsonLinesFormat | XlsxFormat | XmlFormat,
    name: str,
) -> RecordReader:
    """A reader for ``raw`` (a seekable binary file) in the connector's format."""
    if isinstance(fmt, CsvFormat):
        from saleslayer_airflow.readers.csv import CsvReader

        return CsvReader(raw, fmt, name)
    if isinstance(fmt, JsonFormat):
        from saleslayer_airflow.readers.json import JsonReader

        return JsonReader(raw, fmt.records_path, name)
    if isinstance(fmt, JsonLinesFormat):
        from saleslayer_airflow.readers.json import JsonLinesReader

        return JsonLinesReader(raw, name)
    if isinstance(fmt, XmlFormat):
        from saleslayer_airflow.readers.xml import XmlReader

        return XmlReader(raw, fmt, name)  # every path of each record
    from saleslayer_airflow.readers.xlsx import XlsxReader

    return XlsxReader(raw, fmt, name)
