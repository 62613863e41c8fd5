"""Writing the stage's files: one Parquet file per table, and the rejects CSV."""

from __future__ import annotations

from typing import Any

from saleslayer_airflow.config.tables import FieldType
from saleslayer_airflow.mapping.plan import TablePlan
from saleslayer_airflow.numbers import FIELD_TYPE_KEY
from saleslayer_airflow.tables import LINE, REFERENCE, SOURCE_FILE

REJECT_COLUMNS = ["source_file", "line", "table", "reference", "column", "value", "reason"]
_BATCH = 50_000


def _arrow_type(kind: FieldType, is_list: bool) -> Any:
    import pyarrow as pa

    # Numbers are the exact canonical decimal text ("12.5", "9007199254740993"), never float64,
    # which would round them; integers are range-checked to int64 when split.
    scalar = {
        FieldType.INTEGER: pa.int64(),
        FieldType.BOOLEAN: pa.bool_(),
    }.get(kind, pa.string())
    return pa.list_(pa.string()) if is_list else scalar


def table_schema(plan: TablePlan) -> Any:
    """reference, _source_file, _line, then one column per field (per language) and link."""
    import pyarrow as pa

    fields = [
        pa.field(REFERENCE, pa.string(), nullable=False),
        pa.field(SOURCE_FILE, pa.string(), nullable=False),
        pa.field(LINE, pa.int64(), nullable=False),
    ]
    fields += [
        pa.field(
            c.name,
            _arrow_type(c.type, c.is_list),
            metadata={FIELD_TYPE_KEY: c.type.value.encode()},
        )
        for c in plan.columns
    ]
    return pa.schema(fields)


#: What a spreadsheet program reads as the start of a formula (or of a DDE command).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell a spreadsheet program shows as text: a string starting like a formula
    (``=``, ``+``, ``-``, ``@``, tab, carriage return) gets a leading ``'``, OWASP's defence
    against CSV injection, so ``=HYPERLINK(...)`` is shown, never run. The value stays readable:
    ``'=1+1``; a negative number written as text reads ``'-12``. Other values are unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
