"""`validation:`, `alerting:` and `staging:`: thresholds, notifications, where files live."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
    StringConstraints,
)

from saleslayer_airflow.config.common import (
    ConnId,
    StrictModel,
)


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
