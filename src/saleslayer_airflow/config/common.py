"""Building blocks shared by the connector file models: strict base, durations, templates."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

Identifier = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=200),
    Field(description="Letters, digits and underscores, starting with a letter."),
]
ConnId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_.\-]+$", max_length=250),
    Field(description="The id of an Airflow connection that holds the host and the credentials."),
]
ColumnName = Annotated[
    str,
    StringConstraints(min_length=1),
    Field(description="A source column, matched exactly (case included)."),
]
Template = Annotated[
    str,
    StringConstraints(min_length=1),
    Field(
        description="Jinja-templated per run, e.g. 'exports/products_{{ ds_nodash }}.csv'. "
        "Templates see only the run's dates (ds, ds_nodash, ts, logical_date, "
        "data_interval_start/end, run_after), params and macros.ds_add/ds_format/datetime/"
        "timedelta; never connections or variables."
    ),
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> Any:
    """Accept `90`, `"90s"`, `"5m"`, `"2h"`, `"1d"` besides what pydantic reads as a timedelta."""
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    return value


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


class ColumnShorthandModel(StrictModel):
    """A model that may also be written as a plain string, short for ``column: <string>``."""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"column": value} if isinstance(value, str) else value

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core_schema))
        shorthand = {"type": "string", "minLength": 1, "description": "Short for `column: ...`."}
        return {"anyOf": [shorthand, schema], "description": schema.get("description", "")}


class LocatedValueError(ValueError):
    """A ValueError that belongs below the field that raised it (e.g. one key of a dict)."""

    def __init__(self, subpath: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.subpath = subpath


DurationField = Annotated[
    timedelta,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "description": "seconds"},
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$"},
            ]
        }
    ),
]


def check_optional_template(value: str | None) -> str | None:
    return None if value is None else check_template(value)


def check_template(value: str) -> str:
    """Reject Jinja syntax errors, and anything but the run's dates and params, when the file is
    read, not when the run renders it (see :mod:`saleslayer_airflow.config.templates`)."""
    from saleslayer_airflow.config import templates

    return templates.check_template(value)
