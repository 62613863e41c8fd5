"""The soak at a small scale: the same catalog through each transport fault-free and with 10%
faults of every kind must end in the same emulator state, nothing lost or duplicated."""

from __future__ import annotations

import pytest

from saleslayer_airflow.emulator.soak import SoakResult, figures

pytestmark = pytest.mark.integration


def served_kinds(result: SoakResult) -> dict[str, int]:
    """Faults served by kind, summed over the routes."""
    kinds: dict[str, int] = {}
    for key, count in result.faults_served.items():
        kind = key.rsplit(" ", 1)[1]
        kinds[kind] = kinds.get(kind, 0) + count
    return kinds


def test_import_connector_soak_ends_in_the_fault_free_state(connector_soak: SoakResult) -> None:
    report = "\n".join(figures(connector_soak))
    assert connector_soak.differences == [], report
    assert connector_soak.lost == 0 and connector_soak.duplicated == 0, report
    assert connector_soak.ok, report


def test_every_import_connector_fault_kind_fired_and_was_retried(
    connector_soak: SoakResult,
) -> None:
    kinds = served_kinds(connector_soak)
    report = "\n".join(figures(connector_soak))
    for kind in connector_soak.faults_expected:
        assert kinds.get(kind, 0) > 0, f"fault {kind} never served\n{report}"
    faulty = connector_soak.faulty
    assert faulty.push.job_resends > 0, report  # failed import jobs were met and sent again
    assert {
        "HTTP 429",
        "HTTP 503",
        "code 10",
        "code 11",
        "code 14",
        "timeout",
        "connection",
    } <= set(faulty.retries), report
    assert faulty.retry_after_honoured > 0 and faulty.retry_after_ignored == 0, report
    # The fault-free run really was: no fault, no retry.
    assert connector_soak.clean.server["faults"] == {} and not connector_soak.clean.retries


def test_rest_soak_loses_nothing_and_keeps_content(rest_soak: SoakResult) -> None:
    report = "\n".join(figures(rest_soak))
    assert rest_soak.lost == 0, report
    assert rest_soak.differences == [], report


def test_every_rest_fault_kind_fired_and_429_waited_for_retry_after(
    rest_soak: SoakResult,
) -> None:
    kinds = served_kinds(rest_soak)
    report = "\n".join(figures(rest_soak))
    for kind in rest_soak.faults_expected:
        assert kinds.get(kind, 0) > 0, f"fault {kind} never served\n{report}"
    faulty = rest_soak.faulty
    assert {"HTTP 429", "HTTP 503", "timeout", "connection"} <= set(faulty.retries), report
    assert faulty.retry_after_honoured > 0 and faulty.retry_after_ignored == 0, report
    assert rest_soak.clean.server["faults"] == {} and not rest_soak.clean.retries


def test_rest_soak_duplicates_no_reference(rest_soak: SoakResult) -> None:
    assert rest_soak.duplicated == 0, "\n".join(figures(rest_soak))


def test_the_figures_name_no_secret(connector_soak: SoakResult, rest_soak: SoakResult) -> None:
    from saleslayer_airflow.emulator.soak import API_KEY, PRIVATE_KEY

    for result in (connector_soak, rest_soak):
        text = "\n".join(figures(result) + result.differences)
        assert PRIVATE_KEY not in text and API_KEY not in text
        assert "pk-S3cret" not in text and "ak-S3cret" not in text
