"""`format:` how the landed export is read (CSV, JSON, JSON Lines, XLSX)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
    field_validator,
)

from saleslayer_airflow.config.common import (
    StrictModel,
)


class CsvFormat(StrictModel):
    """Delimited text."""

    type: Literal["csv"]
    delimiter: str = Field(",", min_length=1, max_length=1)
    quotechar: str = Field('"', min_length=1, max_length=1)
    escapechar: str | None = Field(None, min_length=1, max_length=1)
    header: bool = Field(True, description="false: columns are named col_1, col_2, ...")
    skip_lines: int = Field(0, ge=0, description="Lines to skip before the header.")
    encoding: str = Field(
        "utf-8", description="Python codec name, or 'auto' to detect (BOM, UTF-8, cp1252)."
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        if value != "auto":
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(
                    f"unknown encoding {value!r}; use a Python codec name such as "
                    "'utf-8', 'cp1252', 'latin-1', or 'auto'"
                ) from None
        return value


class JsonFormat(StrictModel):
    """A JSON document holding a list of records."""

    type: Literal["json"]
    records_path: str = Field("", description="Dotted path to the list of records.")


class JsonLinesFormat(StrictModel):
    """One JSON record per line (what the `api` source lands)."""

    type: Literal["jsonl"]


class XlsxFormat(StrictModel):
    """An Excel workbook."""

    type: Literal["xlsx"]
    sheet: str | int = Field(0, description="Sheet name, or 0-based index.")
    skip_lines: int = Field(0, ge=0)


Format = Annotated[
    CsvFormat | JsonFormat | JsonLinesFormat | XlsxFormat, Field(discriminator="type")
]
