"""`source:` where the ERP export comes from (a URL, FTP/FTPS/SFTP, a paginated JSON API)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from saleslayer_airflow.config.common import (
    ConnId,
    DurationField,
    Identifier,
    LocatedValueError,
    StrictModel,
    Template,
    check_optional_template,
    check_template,
    parse_duration,
)


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
        description="fail the run, skip it, or wait up to `timeout` (the task defers between "
        "looks, holding no worker). With named files, applies to each file.",
    )
    timeout: DurationField = Field(
        timedelta(hours=1),
        description="How long `wait` waits, from the first look, e.g. '30m' or '2h'.",
    )
    poke_interval: DurationField = Field(
        timedelta(minutes=1),
        description="How often `wait` looks again (the timer's resolution is about a second).",
    )
    on_timeout: Literal["fail", "skip"] = Field(
        "fail", description="What `wait` does when `timeout` has passed: fail or skip the run."
    )

    _durations = field_validator("timeout", "poke_interval", mode="before")(parse_duration)


def _check_named_files(files: dict[str, str] | None) -> dict[str, str] | None:
    """Each named file's path or endpoint must be a valid template; errors point at the name."""
    for name, value in (files or {}).items():
        try:
            check_template(value)
        except ValueError as exc:
            raise LocatedValueError((name,), str(exc)) from None
    return files


NAMED_FILES_DESCRIPTION = (
    "Several exports per run, by name: name -> templated {what} "
    "({example}). A table reads only the files its `file:` names (default: all of them). "
    "Give either this or {single}."
)


def _named_files(what: str, example: str, single: str) -> Any:
    """The `files:` field of a source whose single export is ``single``: its description says
    what each file's template is (``what``) and shows ``example``."""
    return Field(
        None,
        min_length=1,
        description=NAMED_FILES_DESCRIPTION.format(what=what, example=example, single=single),
    )


def _strings(
    value: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string in the raw `source:` data, with its path (dict keys are not rendered)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))


#: The templated fields of the source kinds, each checked by its own field validator.
_TEMPLATE_FIELDS = frozenset({"path", "directory", "endpoint", "files"})


class _SourceBase(StrictModel):
    conn_id: ConnId
    on_missing: MissingExport = Field(default_factory=MissingExport)

    @model_validator(mode="before")
    @classmethod
    def _templates_see_only_dates_and_params(cls, data: Any) -> Any:
        """The fetch task renders every string of `source:` (headers and query params too), so
        every one is checked; the documented templates are checked by their own field validators
        (once, and reported beside the section's other problems), the rest here."""
        for path, text in _strings(data):
            if "{" in text and path[0] not in _TEMPLATE_FIELDS:
                try:
                    check_template(text)
                except ValueError as exc:
                    raise LocatedValueError(path, str(exc)) from None
        return data

    def named_files(self) -> dict[str, str]:
        """The declared named files (name -> path or endpoint); empty for a single export."""
        return {}


class _FileSourceBase(_SourceBase):
    """A file on a server: a templated `path`, or a `directory` plus a `pattern` glob."""

    path: Template | None = Field(
        None,
        description="Full path of the export, templated per run "
        "('/exports/products_{{ ds_nodash }}.csv'). Give either this, directory + pattern, "
        "or files.",
    )
    files: dict[Identifier, Template] | None = _named_files(
        what="full path",
        example="categories: '/exports/categories_{{ ds_nodash }}.csv'",
        single="`path` or `directory` + `pattern`",
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

    _durations = field_validator("stable_for", mode="before")(parse_duration)
    _templates = field_validator("path", "directory")(check_optional_template)
    _named = field_validator("files")(_check_named_files)

    @model_validator(mode="after")
    def _path_or_glob(self) -> _FileSourceBase:
        if self.files is not None and (self.path or self.directory or self.pattern):
            given = [k for k in ("path", "directory", "pattern") if getattr(self, k)]
            raise ValueError(
                f"give either `files` (several named exports) or {' + '.join(given)}, not both; "
                "put every export of the run under `files`, one name per file"
            )
        if self.files is not None:
            return self
        if self.path and (self.directory or self.pattern):
            raise ValueError(
                "give either `path` or `directory` + `pattern`, not both "
                "(path names one file; directory + pattern choose among many)"
            )
        if not self.path and not (self.directory and self.pattern):
            raise ValueError(
                "say which file to fetch: `path: /exports/products_{{ ds_nodash }}.csv`, "
                "or `directory: /exports` with `pattern: products_*.csv`, or several named "
                "files: `files: {categories: /exports/categories.csv, products: ...}`"
            )
        return self

    def named_files(self) -> dict[str, str]:
        """The declared named files (name -> templated path); empty for a single export."""
        return dict(self.files or {})


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
    endpoint: Template | None = Field(
        None,
        description="Path under the connection's base URL, templated per run "
        "('exports/products_{{ ds }}.csv'). Give either this or files.",
    )
    files: dict[Identifier, Template] | None = _named_files(
        what="endpoint",
        example="categories: 'exports/categories_{{ ds }}.csv'",
        single="`endpoint`",
    )
    method: Literal["GET", "POST"] = "GET"
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra non-secret request headers."
    )
    timeout: DurationField = Field(timedelta(minutes=5), description="Read timeout.")

    _durations = field_validator("timeout", mode="before")(parse_duration)
    _templates = field_validator("endpoint")(check_optional_template)
    _named = field_validator("files")(_check_named_files)
    _headers = field_validator("headers")(_check_headers)

    @model_validator(mode="after")
    def _endpoint_or_files(self) -> HttpSource:
        if (self.endpoint is None) == (self.files is None):
            raise ValueError(
                "give either `endpoint` (one export) or `files` (several named exports: "
                "`files: {categories: exports/categories.csv, products: ...}`), not "
                f"{'both' if self.files is not None else 'neither'}"
            )
        return self

    def named_files(self) -> dict[str, str]:
        """The declared named files (name -> templated endpoint); empty for one export."""
        return dict(self.files or {})


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

    _durations = field_validator("timeout", mode="before")(parse_duration)
    _templates = field_validator("endpoint")(check_template)
    _headers = field_validator("headers")(_check_headers)


Source = Annotated[
    HttpSource | FtpSource | FtpsSource | SftpSource | ApiSource,
    Field(discriminator="kind"),
]
