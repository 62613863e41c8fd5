"""The connector file format: one YAML file describes one connector, which becomes one DAG.

The models are strict: unknown keys are errors (the loader adds "did you mean ...?"), values are
checked when the file is read, and nothing here may hold a secret. Credentials live only in
Airflow connections, which the file names by ``conn_id``.

``ConnectorConfig.model_json_schema()`` is written to ``schema/connector.schema.json`` so that
editors validate and complete connector files (`make schema`).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

# --------------------------------------------------------------------------------------------
# Shared building blocks
# --------------------------------------------------------------------------------------------

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
    Field(description="Jinja-templated per run, e.g. 'exports/products_{{ ds_nodash }}.csv'."),
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def _parse_duration(value: Any) -> Any:
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


def _check_optional_template(value: str | None) -> str | None:
    return None if value is None else _check_template(value)


def _check_template(value: str) -> str:
    """Reject Jinja syntax errors when the file is read, not when the run renders it."""
    import jinja2

    try:
        jinja2.Environment().parse(value)
    except jinja2.TemplateSyntaxError as exc:
        raise ValueError(f"invalid Jinja template {value!r}: {exc.message}") from None
    return value


# --------------------------------------------------------------------------------------------
# Source: where the ERP export comes from
# --------------------------------------------------------------------------------------------


class MissingPolicy(StrEnum):
    """What a run does when the expected export is not there."""

    FAIL = "fail"
    SKIP = "skip"
    WAIT = "wait"


class PickRule(StrEnum):
    """Which files of a folder a run takes when a glob matches several."""

    NEWEST = "newest"
    ALL = "all"


class MissingExport(StrictModel):
    """Behaviour when the export is missing."""

    policy: MissingPolicy = Field(
        MissingPolicy.FAIL,
        description="fail the run, skip it, or wait (a sensor) up to `timeout`.",
    )
    timeout: DurationField = Field(
        timedelta(hours=1), description="How long `wait` waits, e.g. '30m' or '2h'."
    )
    poke_interval: DurationField = Field(
        timedelta(minutes=1), description="How often `wait` looks again."
    )

    _durations = field_validator("timeout", "poke_interval", mode="before")(_parse_duration)


class _SourceBase(StrictModel):
    conn_id: ConnId
    on_missing: MissingExport = Field(default_factory=MissingExport)


class _FileSourceBase(_SourceBase):
    """A file on a server: a templated `path`, or a `directory` plus a `pattern` glob."""

    path: Template | None = Field(
        None,
        description="Full path of the export, templated per run "
        "('/exports/products_{{ ds_nodash }}.csv'). Give either this or directory + pattern.",
    )
    directory: Template | None = Field(None, description="Folder to list (templated).")
    pattern: str | None = Field(
        None, description="Glob matched against file names in `directory`, e.g. 'products_*.csv'."
    )
    pick: PickRule = Field(
        PickRule.NEWEST,
        description="With `pattern`: take the newest file, or all matches in name order.",
    )
    stable_for: DurationField = Field(
        timedelta(seconds=10),
        description="A file is taken only once its size has not changed for this long "
        "(the ERP may still be writing it).",
    )

    _durations = field_validator("stable_for", mode="before")(_parse_duration)
    _templates = field_validator("path", "directory")(_check_optional_template)

    @model_validator(mode="after")
    def _path_or_glob(self) -> _FileSourceBase:
        if self.path and (self.directory or self.pattern):
            raise ValueError(
                "give either `path` or `directory` + `pattern`, not both "
                "(path names one file; directory + pattern choose among many)"
            )
        if not self.path and not (self.directory and self.pattern):
            raise ValueError(
                "say which file to fetch: `path: /exports/products_{{ ds_nodash }}.csv`, "
                "or `directory: /exports` with `pattern: products_*.csv`"
            )
        return self


class FtpSource(_FileSourceBase):
    """A file on an FTP server (Airflow FTP connection)."""

    kind: Literal["ftp"]


class FtpsSource(_FileSourceBase):
    """A file on an FTP server over TLS (Airflow FTP connection, FTPS)."""

    kind: Literal["ftps"]


class SftpSource(_FileSourceBase):
    """A file on an SFTP server (Airflow SFTP connection)."""

    kind: Literal["sftp"]


_SECRET_HEADER = re.compile(r"(authorization|token|secret|api[-_]?key|password|cookie)", re.I)


def _check_headers(headers: dict[str, str]) -> dict[str, str]:
    for name in headers:
        if _SECRET_HEADER.search(name):
            raise ValueError(
                f"header {name!r} looks like a credential; connector files must not hold "
                "secrets: put it in the Airflow connection (login/password, or the extra field)"
            )
    return headers


class HttpSource(_SourceBase):
    """A file at a URL (Airflow HTTP connection for host, auth and headers)."""

    kind: Literal["http"]
    endpoint: Template = Field(
        description="Path under the connection's base URL, templated per run "
        "('exports/products_{{ ds }}.csv')."
    )
    method: Literal["GET", "POST"] = "GET"
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra non-secret request headers."
    )
    timeout: DurationField = Field(timedelta(minutes=5), description="Read timeout.")

    _durations = field_validator("timeout", mode="before")(_parse_duration)
    _templates = field_validator("endpoint")(_check_template)
    _headers = field_validator("headers")(_check_headers)


class PaginationStyle(StrEnum):
    """How an ERP API splits its results into pages."""

    PAGE = "page"
    OFFSET = "offset"
    CURSOR = "cursor"
    NEXT_LINK = "next_link"
    LINK_HEADER = "link_header"


class Pagination(StrictModel):
    """Pagination of a JSON API. Parameter names default to the common ones."""

    style: PaginationStyle
    page_param: str = Field("page", description="style page: the page-number parameter.")
    first_page: int = Field(1, ge=0, description="style page: number of the first page.")
    size_param: str = Field(
        "limit", description="page/offset: the page-size parameter ('per_page', 'limit')."
    )
    page_size: int = Field(100, ge=1, le=100_000)
    offset_param: str = Field("offset", description="style offset: the offset parameter.")
    cursor_param: str = Field("cursor", description="style cursor: the parameter to send back.")
    cursor_path: str = Field(
        "next_cursor", description="style cursor: dotted path of the next cursor in the body."
    )
    next_link_path: str = Field(
        "next", description="style next_link: dotted path of the next page's URL in the body."
    )


class Incremental(StrictModel):
    """Ask the API only for what changed since the last successful run."""

    param: str = Field(description="Query parameter, e.g. 'updated_since'.")
    initial: str | None = Field(None, description="Value for the very first run.")
    format: str = Field(
        "%Y-%m-%dT%H:%M:%SZ", description="strftime format of the value sent (UTC)."
    )


class ApiSource(_SourceBase):
    """A paginated JSON API of the ERP (Airflow HTTP connection)."""

    kind: Literal["api"]
    endpoint: Template
    params: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Fixed query parameters (non-secret)."
    )
    headers: dict[str, str] = Field(default_factory=dict)
    records_path: str = Field(
        "", description="Dotted path to the list of records in each page ('' = the body)."
    )
    pagination: Pagination
    incremental: Incremental | None = None
    requests_per_second: float | None = Field(None, gt=0, description="Client-side rate limit.")
    timeout: DurationField = Field(timedelta(minutes=1))

    _durations = field_validator("timeout", mode="before")(_parse_duration)
    _templates = field_validator("endpoint")(_check_template)
    _headers = field_validator("headers")(_check_headers)


Source = Annotated[
    HttpSource | FtpSource | FtpsSource | SftpSource | ApiSource,
    Field(discriminator="kind"),
]

# --------------------------------------------------------------------------------------------
# Format: how the export is read
# --------------------------------------------------------------------------------------------


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

# --------------------------------------------------------------------------------------------
# Tables: mapping source columns onto Sales Layer tables and fields
# --------------------------------------------------------------------------------------------


class TableKind(StrEnum):
    """Sales Layer table kinds; the kind decides which parent links a table may have."""

    CATEGORIES = "categories"
    PRODUCTS = "products"
    VARIANTS = "variants"
    POINTS_OF_SALE = "points_of_sale"
    CUSTOM_ENTITY = "custom_entity"


class FieldType(StrEnum):
    """Value types checked during validation."""

    STRING = "string"
    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    URL = "url"


class Transform(StrictModel):
    """One declared transform applied to a value, in order. Exactly one key is set."""

    trim: bool | None = None
    case: Literal["lower", "upper", "title"] | None = None
    map: dict[str, str | int | float | bool | None] | None = Field(
        None, description="Value map, e.g. {Y: true, N: false}; unmapped values are rejected."
    )
    parse_number: Literal["dot", "comma"] | None = Field(
        None, description="Decimal separator of the source numbers."
    )
    parse_date: str | None = Field(None, description="strptime format, e.g. '%d/%m/%Y'.")

    @model_validator(mode="after")
    def _exactly_one(self) -> Transform:
        given = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "each transform sets exactly one of trim, case, map, parse_number, parse_date "
                f"(this one sets {', '.join(given) or 'none'}); list several transforms instead"
            )
        return self


LanguageCode = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z]{2,3}([_-][A-Za-z0-9]{2,4})?$"),
    Field(description="Language code as used in the column names: en, es, en_US, pt-BR."),
]


class FieldMapping(ColumnShorthandModel):
    """Where one Sales Layer field takes its value. A plain string is short for `column:`."""

    column: ColumnName | None = Field(
        None,
        description="Source column. With `languages`, the base name of one column per language.",
    )
    constant: str | int | float | bool | None = Field(
        None, description="A fixed value for every row instead of a column."
    )
    languages: list[LanguageCode] | None = Field(
        None, description="Multi-language field: one source column per language code."
    )
    language_pattern: str = Field(
        "{column}_{lang}",
        description="How language columns are named: '{column}_{lang}' gives name_en, name_es.",
    )
    separator: str | None = Field(
        None, description="Multi-value field: separator of the values in one cell."
    )
    default: str | int | float | bool | None = Field(None, description="Value for empty cells.")
    type: FieldType = FieldType.STRING
    required: bool = False
    max_length: int | None = Field(None, ge=1)
    enum: list[str] | None = Field(None, description="Allowed values (after transforms).")
    transforms: list[Transform] = Field(default_factory=list)

    @field_validator("language_pattern")
    @classmethod
    def _pattern_has_placeholders(cls, value: str) -> str:
        if "{lang}" not in value:
            raise ValueError("language_pattern must contain '{lang}', e.g. '{column}_{lang}'")
        return value

    @model_validator(mode="after")
    def _one_origin(self) -> FieldMapping:
        if (self.column is None) == (self.constant is None):
            raise ValueError(
                "set exactly one of `column` (a source column) or `constant` (a fixed value)"
            )
        if self.languages is not None and self.column is None:
            raise ValueError("`languages` needs `column`: the base name of the language columns")
        return self


class ReferenceList(ColumnShorthandModel):
    """A column holding one or several references, e.g. a product's categories."""

    column: ColumnName
    separator: str | None = Field(None, description="Separator when a cell lists several.")


class CategoryPath(StrictModel):
    """Build the category tree from a path column such as 'Men > Tops > Hoodies'."""

    column: ColumnName
    separator: str = " > "


class DuplicatePolicy(StrEnum):
    """What happens to a reference seen twice in one table: keep the first, or reject all."""

    FIRST = "first"
    REJECT = "reject"


_PARENT_LINKS: dict[TableKind, frozenset[str]] = {
    TableKind.CATEGORIES: frozenset({"parent", "path"}),
    TableKind.PRODUCTS: frozenset({"categories"}),
    TableKind.VARIANTS: frozenset({"product"}),
    TableKind.POINTS_OF_SALE: frozenset(),
    TableKind.CUSTOM_ENTITY: frozenset({"links"}),
}


class TableMapping(StrictModel):
    """One Sales Layer table fed by this connector."""

    kind: TableKind | None = Field(
        None,
        description="categories, products, variants, points_of_sale or custom_entity. Implied "
        "when the table's key is one of the first four names.",
    )
    sales_layer_table: str | None = Field(
        None, description="The table's name in Sales Layer when it differs from the key."
    )
    reference: ColumnName = Field(description="Source column holding the item reference.")
    parent: ColumnName | None = Field(
        None, description="categories: column with the parent category's reference."
    )
    path: CategoryPath | None = Field(
        None, description="categories: build the tree from a path column instead."
    )
    categories: ReferenceList | None = Field(
        None, description="products: column with the product's category reference(s)."
    )
    product: ColumnName | None = Field(
        None, description="variants: column with the variant's product reference."
    )
    links: dict[Identifier, ReferenceList] = Field(
        default_factory=dict,
        description="custom_entity: links to other tables, e.g. {products: product_refs}.",
    )
    fields: dict[str, FieldMapping] = Field(
        default_factory=dict, description="Sales Layer field name -> where its value comes from."
    )
    on_duplicate: DuplicatePolicy = DuplicatePolicy.FIRST

    def resolved_kind(self, key: str) -> TableKind:
        """The table's kind, implied by its key when not given."""
        if self.kind is not None:
            return self.kind
        return TableKind(key)

    def check_links(self, key: str) -> None:
        """Parent links must fit the table's kind (called by ConnectorConfig with the key)."""
        kind = self.resolved_kind(key)
        given = {
            name
            for name in ("parent", "path", "categories", "product")
            if getattr(self, name) is not None
        } | ({"links"} if self.links else set())
        if extra := sorted(given - _PARENT_LINKS[kind]):
            allowed = sorted(_PARENT_LINKS[kind]) or ["none"]
            raise ValueError(
                f"a {kind.value} table cannot have {', '.join(extra)}; "
                f"its parent links are: {', '.join(allowed)}"
            )
        if kind is TableKind.VARIANTS and self.product is None:
            raise ValueError(
                "a variants table needs `product`: the column of the product reference"
            )
        if self.parent is not None and self.path is not None:
            raise ValueError("give categories either `parent` or `path`, not both")


# --------------------------------------------------------------------------------------------
# Target: Sales Layer
# --------------------------------------------------------------------------------------------


class Transport(StrEnum):
    """How upserts reach Sales Layer."""

    CONNECTOR_API = "connector_api"
    REST = "rest"


class DeletionAction(StrEnum):
    """What happens to items missing from a complete export."""

    DELETE = "delete"
    STATUS = "status"


class Deletions(StrictModel):
    """Opt-in clean-up of items that disappeared from an always-complete export."""

    enabled: bool = False
    action: DeletionAction = DeletionAction.DELETE
    status_value: str | None = Field(None, description="With action status: the status to set.")
    max_ratio: float = Field(
        0.05, ge=0, le=1, description="Refuse when more than this share of the items would go."
    )

    @model_validator(mode="after")
    def _status_needs_value(self) -> Deletions:
        if self.action is DeletionAction.STATUS and not self.status_value:
            raise ValueError("action `status` needs `status_value`, e.g. status_value: 'I'")
        return self


class SalesLayerTarget(StrictModel):
    """The Sales Layer account written to, and how."""

    conn_id: ConnId = Field(
        "saleslayer_default",
        description="Airflow connection of type saleslayer (connector code and private key, "
        "or REST API key).",
    )
    transport: Transport = Transport.CONNECTOR_API
    overwrite: bool = Field(
        False, description="Send every item, not only those changed since the last push."
    )
    only_existing: bool = Field(
        False, description="Update existing items only; never create (Sales Layer's own option)."
    )
    dry_run: bool = Field(False, description="Do everything but write; report what would change.")
    apply_older_exports: bool = Field(
        False,
        description="Let an export dated before the data already applied overwrite it "
        "(off: backfills never roll Sales Layer back).",
    )
    batch_size: int = Field(1000, ge=1, le=50_000, description="Items per call (API max 50,000).")
    max_payload_mb: float = Field(8, gt=0, le=100, description="Payload size cap per call.")
    pool: str = Field("saleslayer", description="Airflow pool bounding pushes per account.")
    deletions: Deletions = Field(default_factory=Deletions)


# --------------------------------------------------------------------------------------------
# Validation thresholds, alerting, staging
# --------------------------------------------------------------------------------------------


class ValidationSettings(StrictModel):
    """When rejected rows fail the run."""

    max_reject_ratio: float | None = Field(
        0.05, ge=0, le=1, description="Fail when more than this share of the rows is rejected."
    )
    max_rejects: int | None = Field(
        None, ge=0, description="Fail when more than this many rows are rejected."
    )


class WebhookAlert(StrictModel):
    """POST the run summary to an HTTP connection (URL and any token live in the connection)."""

    kind: Literal["webhook"]
    conn_id: ConnId
    endpoint: str = ""


class EmailAlert(StrictModel):
    """E-mail the run summary through Airflow's SMTP connection."""

    kind: Literal["email"]
    to: list[Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(min_length=1)
    conn_id: ConnId = "smtp_default"


Alert = Annotated[WebhookAlert | EmailAlert, Field(discriminator="kind")]


class Alerting(StrictModel):
    """Who hears about a run's outcome."""

    on_failure: list[Alert] = Field(default_factory=list)
    on_success: list[Alert] = Field(default_factory=list)


class Staging(StrictModel):
    """Where landed and split files live between tasks."""

    base: str | None = Field(
        None,
        description="ObjectStoragePath URI ('file:///data/staging', 's3://conn@bucket/prefix'). "
        "Default: the SALESLAYER_STAGING_BASE environment variable, else a local folder.",
    )
    retention_days: int = Field(14, ge=1)


# --------------------------------------------------------------------------------------------
# The connector
# --------------------------------------------------------------------------------------------

SCHEDULE_PRESETS = frozenset(
    {"@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly"}
)
STANDARD_TABLES = frozenset(k.value for k in TableKind if k is not TableKind.CUSTOM_ENTITY)


class ConnectorConfig(StrictModel):
    """One Sales Layer import connector; the file becomes one Airflow DAG."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="Sales Layer import connector")

    id: Annotated[
        str,
        StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$", max_length=200),
        Field(description="The DAG id. Letters, digits, '_', '.', '-'."),
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

    _durations = field_validator("retry_delay", mode="before")(_parse_duration)

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
    def _dates_in_order(self) -> ConnectorConfig:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError(f"end_date {self.end_date} is before start_date {self.start_date}")
        return self

    def table_kinds(self) -> dict[str, TableKind]:
        """Each table's key and resolved kind, in file order."""
        return {key: table.resolved_kind(key) for key, table in self.tables.items()}
