"""A connector naming a column its export lacks fails at validate_and_split, before the file is
read in full, without retry, with the config path, "did you mean" and the file's columns in the
task log; nothing reaches Sales Layer."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import (
    STORES,
    World,
    catalog,
    first_day,
    sent_references,
    states,
    tries,
    xcom,
)


@pytest.mark.integration
def test_a_misspelt_column_fails_the_split_up_front_and_sends_nothing(
    world: World, capfd: pytest.CaptureFixture[str]
) -> None:
    day, text = first_day()
    assert text.splitlines()[0].split(",")[:2] == ["store_number", "store_name"]
    connector = STORES.format(id=world.dag_id, retries=2, batch_size=7, target="")
    # two slips people make: a letter dropped, and the case of a name
    connector = connector.replace("{column: store_name,", "{column: store_nme,")
    connector = connector.replace("pos_zip: postcode", "pos_zip: Postcode")
    world.write_connector(world.dag_id, connector)
    world.publish(day, text)

    dag_run = world.run(day)

    assert dag_run.state == "failed"
    ran = states(dag_run)
    assert ran["fetch_source"] == "success"
    assert ran["validate_and_split"] == "failed"
    assert tries(dag_run)["validate_and_split"] == 1, "a terminal error was retried"
    assert ran["push_points_of_sale"] in {"upstream_failed", "skipped"}, ran
    assert xcom(dag_run, "validate_and_split") is None
    assert catalog(world.emulator) == {}
    assert sent_references(world.tmp / "sl.sqlite") == []

    logs = "".join(capfd.readouterr())
    endings = [line for line in logs.splitlines() if "AirflowFailException:" in line]
    assert endings, "no task log captured"
    # the line Airflow shows as the task's error names the connector and the columns
    assert any(
        "connector 'stores_e2e': 2 column(s) named in the connector file are not in" in line
        and "('store_nme', 'Postcode')" in line
        for line in endings
    ), endings
    assert (
        "tables.points_of_sale.fields.pos_name.column: table 'points_of_sale' reads column "
        "'store_nme', which is not in the header of"
    ) in logs
    assert "Did you mean 'store_name'?" in logs
    assert "tables.points_of_sale.fields.pos_zip.column" in logs
    assert "Did you mean 'postcode'?" in logs
    assert "'store_number', 'store_name'" in logs  # the file's columns
    # the row engine's own check (which reads the file) never ran: the preflight stopped it
    assert "is not in the file" not in logs
