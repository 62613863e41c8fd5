"""The connector's reject threshold: above it the run stops, loudly, with the top reasons."""

from __future__ import annotations

from saleslayer_airflow.config.settings import ValidationSettings
from saleslayer_airflow.normalize.results import SplitResult
from saleslayer_airflow.validation.errors import RejectThresholdError


def check_threshold(connector_id: str, result: SplitResult, settings: ValidationSettings) -> None:
    """Raise RejectThresholdError when rejected source rows exceed the ratio or the count."""
    rejected, read = result.rows_rejected, result.rows_read
    ratio = rejected / read if read else 0.0
    crossed = []
    if settings.max_reject_ratio is not None and ratio > settings.max_reject_ratio:
        crossed.append(
            f"{ratio:.2%} of the rows > max_reject_ratio {settings.max_reject_ratio:.2%}"
        )
    if settings.max_rejects is not None and rejected > settings.max_rejects:
        crossed.append(f"{rejected:,} rows > max_rejects {settings.max_rejects:,}")
    if not crossed:
        return
    reasons = "\n".join(
        f"  {count:>8,}  {kind}  e.g. {example}" for kind, count, example in result.top_reasons
    )
    raise RejectThresholdError(
        f"connector {connector_id!r}: {rejected:,} of {read:,} source rows were rejected "
        f"({'; '.join(crossed)}). Nothing is pushed. Top reasons:\n{reasons}\n"
        f"Every rejected row is in {result.rejects_path.name} of the run folder; fix the export "
        "or the mapping, or raise `validation:` thresholds if these rejects are expected."
    )
