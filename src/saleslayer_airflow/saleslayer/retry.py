"""Bounded exponential backoff with jitter for transient Sales Layer errors (tenacity).

A wait the server asked for (``Retry-After`` on a 429) wins over the computed backoff.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

import tenacity

from saleslayer_airflow.exceptions import SalesLayerApiError, SalesLayerTransientError


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a transient error.

    ``attempts`` counts the first try; waits grow ``initial * 2**n`` up to ``maximum`` seconds,
    plus up to ``jitter`` random seconds; a ``Retry-After`` is honoured up to
    ``max_retry_after`` seconds.
    """

    attempts: int = 5
    initial: float = 1.0
    maximum: float = 60.0
    jitter: float = 1.0
    max_retry_after: float = 300.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"retry attempts={self.attempts}: must be at least 1")


def _wait(policy: RetryPolicy) -> Callable[[tenacity.RetryCallState], float]:
    def wait(state: tenacity.RetryCallState) -> float:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, SalesLayerApiError) and error.retry_after is not None:
            return min(error.retry_after, policy.max_retry_after)
        # Computed here rather than with tenacity's wait_exponential_jitter, whose arguments
        # changed between the tenacity versions this package allows.
        exponent = min(state.attempt_number - 1, 60)
        backoff = policy.initial * 2.0**exponent + random.uniform(0, policy.jitter)
        return min(backoff, policy.maximum)

    return wait


def retrying(
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None],
    logger: logging.Logger,
    what: str,
    on_retry: Callable[[SalesLayerApiError, float], None] | None = None,
) -> tenacity.Retrying:
    """A tenacity ``Retrying`` that retries :class:`SalesLayerTransientError` only and re-raises
    the last error when the attempts run out. ``on_retry(error, wait)`` runs before each wait."""

    def before_sleep(state: tenacity.RetryCallState) -> None:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        wait = state.upcoming_sleep
        if isinstance(error, SalesLayerApiError):
            if on_retry is not None:
                on_retry(error, wait)
            logger.warning(
                "%s: attempt %d of %d failed, retrying in %.1f s: %s",
                what,
                state.attempt_number,
                policy.attempts,
                wait,
                error,
            )

    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=_wait(policy),
        retry=tenacity.retry_if_exception_type(SalesLayerTransientError),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
