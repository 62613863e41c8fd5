"""Deletions end to end: stores that left the complete directory are deleted in Sales Layer (or
given a status), counted as `deleted` in the report; a directory missing too many stores is
refused by the safety limit, and nothing at all is sent."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.e2e.conftest import World, catalog, deleted_references, first_day, states, xcom


def without(text: str, count: int) -> tuple[str, set[str]]:
    """The directory without its first ``count`` stores, and their references."""
    header, *rows = text.splitlines()
    return "\n".join([header, *rows[count:]]) + "\n", {r.split(",")[0] for r in rows[:count]}


@pytest.mark.integration
def test_closed_stores_are_deleted_and_a_mass_deletion_is_refused(world: World) -> None:
    day, text = first_day()
    world.connector(batch_size=4, target="deletions: {enabled: true, max_ratio: 0.1}")
    world.publish(day, text)
    assert world.run(day).state == "success"
    everything = set(catalog(world.emulator))

    # Day 2: two stores closed (8% of 25, under the 10% limit).
    day2 = day + timedelta(days=1)
    text2, closed = without(text, 2)
    world.publish(day2, text2)
    dag_run = world.run(day2)
    assert dag_run.state == "success", states(dag_run)
    report = xcom(dag_run, "report")["tables"]["points_of_sale"]
    assert report["deleted"] == 2 and report["unchanged"] == len(everything) - 2
    live = {ref for ref, item in catalog(world.emulator).items() if item["status"] != "X"}
    assert live == everything - closed
    assert sorted(deleted_references(world.tmp / "sl.sqlite")) == sorted(closed)

    # Day 3: the export lost four more stores (4 of 23 = 17%): refused, nothing sent.
    day3 = day2 + timedelta(days=1)
    text3, _ = without(text2, 4)
    text3 = text3.replace(",Calle", ",Rua", 1)  # a change that must not be sent either
    world.publish(day3, text3)
    before, requests = catalog(world.emulator), world.emulator.stats()["total"]
    refused = world.run(day3)
    assert refused.state == "failed"
    assert states(refused)["push_points_of_sale"] == "failed"
    assert catalog(world.emulator) == before
    assert world.emulator.stats()["total"] == requests
    assert xcom(refused, "report")["tables"]["points_of_sale"]["status"] == "not pushed"


@pytest.mark.integration
def test_closed_stores_can_be_given_a_status_instead(world: World) -> None:
    day, text = first_day()
    world.connector(
        target="deletions: {enabled: true, action: status, status_value: I, max_ratio: 0.1}"
    )
    world.publish(day, text)
    assert world.run(day).state == "success"

    day2 = day + timedelta(days=1)
    text2, closed = without(text, 1)
    world.publish(day2, text2)
    dag_run = world.run(day2)
    assert dag_run.state == "success", states(dag_run)
    assert xcom(dag_run, "report")["tables"]["points_of_sale"]["deleted"] == 1
    statuses = {ref: item["status"] for ref, item in catalog(world.emulator).items()}
    assert {ref for ref, status in statuses.items() if status == "I"} == closed
    assert deleted_references(world.tmp / "sl.sqlite") == []
