"""One connector file: the model of the whole file, which becomes one DAG."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated

from pydantic import (
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from saleslayer_airflow.config.common import (
    DurationField,
    Identifier,
    LocatedValueError,
    StrictModel,
    parse_duration,
)
from saleslayer_airflow.config.formats import Format
from saleslayer_airflow.config.settings import Alerting, Staging, ValidationSettings
from saleslayer_airflow.config.sources import Source
from saleslayer_airflow.config.tables import (
    TableKind,
    TableMapping,
    check_category_paths,
    check_product_listings,
    check_table_files,
)
from saleslayer_airflow.config.target import SalesLayerTarget
from saleslayer_airflow.tables import STANDARD_TABLES

#: A connector id is a DAG id (Airflow: letters, digits, '_', '.', '-', at most 250) and the name
#: of the connector's folder in staging, so it may not start with '_' (the staging's own folders,
#: e.g. `_state`, which the web app never serves) nor '.' (hidden, or '..').
CONNECTOR_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
CONNECTOR_ID_MAX = 200
SCHEDULE_PRESETS = frozenset(
    {"@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly"}
)


class ConnectorConfig(StrictModel):
    """One Sales Layer import connector; the file becomes one Airflow DAG."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="Sales Layer import connector")

    id: Annotated[
        str,
        Field(
            description="The DAG id, and the name of the connector's staging folder: letters, "
            "digits, '_', '.', '-', starting with a letter or a digit.",
            json_schema_extra={"pattern": CONNECTOR_ID_PATTERN, "maxLength": CONNECTOR_ID_MAX},
        ),
    ]
    description: str = Field(min_length=1, description="What this connector imports, for people.")
    owner: str = Field("data-engineering", min_length=1)
    tags: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] = Field(
        default_factory=list
    )
    schedule: str | None = Field(
        description="Cron expression ('0 6 * * *'), preset ('@daily'), or null for manual runs "
        "only (a connector without a periodic schedule cannot be backfilled)."
    )
    timezone: str = Field("UTC", description="IANA zone the schedule and start date are in.")
    start_date: date
    end_date: date | None = None
    catchup: bool = False
    max_active_runs: int = Field(1, ge=1, le=64)
    retries: int = Field(2, ge=0, le=20)
    retry_delay: DurationField = Field(timedelta(minutes=5), description="e.g. '5m'.")
    force: bool = Field(
        False, description="Import even when the export equals the last one imported."
    )
    source: Source
    format: Format
    tables: dict[Identifier, TableMapping] = Field(min_length=1)
    target: SalesLayerTarget = Field(default_factory=SalesLayerTarget)
    validation: ValidationSettings = Field(default_factory=ValidationSettings)
    alerting: Alerting = Field(default_factory=Alerting)
    staging: Staging = Field(default_factory=Staging)

    _durations = field_validator("retry_delay", mode="before")(parse_duration)

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not value:
            raise ValueError("the connector id is empty; give the DAG id, e.g. `id: stores_ftp`")
        if len(value) > CONNECTOR_ID_MAX:
            raise ValueError(f"the connector id is longer than {CONNECTOR_ID_MAX} characters")
        if value[0] in "_.":
            allowed = (c if c.isascii() and (c.isalnum() or c in "_.-") else "_" for c in value)
            fixed = "".join(allowed).lstrip("_.-") or "connector"
            raise ValueError(
                f"connector id {value!r} starts with {value[0]!r}: ids become staging folder "
                "names, where '_' marks the staging's own folders and '.' hidden ones, so its "
                f"run files could never be served; start it with a letter or a digit, e.g. "
                f"{fixed!r}"
            )
        if not re.fullmatch(CONNECTOR_ID_PATTERN, value):
            bad = sorted({c for c in value if not (c.isascii() and (c.isalnum() or c in "_.-"))})
            raise ValueError(
                f"connector id {value!r} holds {', '.join(repr(c) for c in bad)}: use only "
                "letters, digits, '_', '.' and '-' (it is the DAG id and a folder name)"
            )
        return value

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str | None) -> str | None:
        if value is None or value in SCHEDULE_PRESETS:
            return value
        if value.startswith("@"):
            raise ValueError(
                f"unknown schedule preset {value!r}; use one of "
                f"{', '.join(sorted(SCHEDULE_PRESETS))}, a cron expression, or null"
            )
        from croniter import croniter

        if not croniter.is_valid(value):
            raise ValueError(
                f"invalid cron expression {value!r}; five fields: minute hour day-of-month "
                "month day-of-week, e.g. '0 6 * * *' for 06:00 every day"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as 'UTC' or 'Europe/Madrid'"
            ) from None
        return value

    @field_validator("tables")
    @classmethod
    def _tables_fit_their_kind(cls, tables: dict[str, TableMapping]) -> dict[str, TableMapping]:
        for key, table in tables.items():
            if table.kind is None and key not in STANDARD_TABLES:
                raise LocatedValueError(
                    (key,),
                    "set `kind: custom_entity` for a custom entity, or name the table one of "
                    f"{', '.join(sorted(STANDARD_TABLES))}",
                )
            try:
                table.check_links(key)
            except ValueError as exc:
                raise LocatedValueError((key,), str(exc)) from None
        seen: dict[TableKind, str] = {}
        for key, table in tables.items():
            kind = table.resolved_kind(key)
            if kind is not TableKind.CUSTOM_ENTITY and kind in seen:
                raise LocatedValueError(
                    (key,),
                    f"a connector feeds one {kind.value} table; {seen[kind]!r} already is one "
                    "(use a second connector for a second account or source)",
                )
            seen[kind] = key
        return tables

    @model_validator(mode="after")
    def _table_files_declared(self) -> ConnectorConfig:
        check_table_files(self.tables, list(self.source.named_files()))
        check_product_listings(self.tables)
        check_category_paths(self.tables)
        return self

    @model_validator(mode="after")
    def _xml_paths_valid(self) -> ConnectorConfig:
        """XML: every column a table names is a path inside the record, its prefixes declared
        in format.namespaces (a misspelt prefix would match nothing, silently)."""
        from saleslayer_airflow.config.formats import XmlFormat

        if isinstance(self.format, XmlFormat):
            from saleslayer_airflow.readers.xml import field_path
            from saleslayer_airflow.validation.columns import named_columns

            for named in named_columns(self):
                try:
                    field_path(named.column, self.format.namespaces)
                except ValueError as exc:
                    raise LocatedValueError(named.path, str(exc)) from None
        return self

    @model_validator(mode="after")
    def _dates_in_order(self) -> ConnectorConfig:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError(f"end_date {self.end_date} is before start_date {self.start_date}")
        return self

    def table_kinds(self) -> dict[str, TableKind]:
        """Each table's key and resolved kind, in file order."""
        return {key: table.resolved_kind(key) for key, table in self.tables.items()}
