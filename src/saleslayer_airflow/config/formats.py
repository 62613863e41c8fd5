"""`format:` how the landed export is read (CSV, JSON, JSON Lines, XLSX, XML)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from saleslayer_airflow.config.common import (
    LocatedValueError,
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


class XmlFormat(StrictModel):
    """An XML document whose records are the elements at `record`, read as a stream.

    Fields name paths inside a record: `name`, `@id` (an attribute of the record),
    `price/@currency`, `g:price` (a prefix declared in `namespaces`), `name[@lang='en']`,
    `images/image` (several elements: a list value). See readers/xml.py for the rules.
    """

    type: Literal["xml"]
    record: str = Field(
        min_length=1,
        description="Where the records are: '/catalog/products/product' (from the root), "
        "'//item' or 'item' (at any depth; the outermost match).",
    )
    namespaces: dict[str, str] = Field(
        default_factory=dict,
        description="Prefixes used in the paths, by namespace URI: {g: 'http://base.google.com/"
        "ns/1.0'}. The URI must be the one the file declares (its own prefix may differ). A "
        "name without a prefix matches an element written without one.",
    )
    encoding: str | None = Field(
        None,
        description="Python codec name overriding the file's XML declaration (only when the "
        "declaration is wrong). Unset: the declaration (or byte-order mark) decides.",
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        import codecs

        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(
                    f"unknown encoding {value!r}; use a Python codec name such as 'utf-8', "
                    "'cp1252', 'latin-1', or leave it unset to follow the XML declaration"
                ) from None
        return value

    @field_validator("namespaces")
    @classmethod
    def _valid_namespaces(cls, value: dict[str, str]) -> dict[str, str]:
        from saleslayer_airflow.readers.xml import check_namespaces

        try:
            check_namespaces(value)
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _valid_record(self) -> XmlFormat:
        from saleslayer_airflow.readers.xml import record_path

        try:
            record_path(self.record, self.namespaces)
        except ValueError as exc:
            raise LocatedValueError(("record",), str(exc)) from None
        return self


Format = Annotated[
    CsvFormat | JsonFormat | JsonLinesFormat | XlsxFormat | XmlFormat,
    Field(discriminator="type"),
]
