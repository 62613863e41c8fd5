"""A paginated API answering a page nested too deeply for any JSON parser: the fetch fails at once
with an error naming the URL and the connection (no RecursionError, no retry), nothing lands."""

from __future__ import annotations

import pytest

from tests.sources.conftest import ConnectorDag
from tests.sources.servers import HttpServer

pytestmark = pytest.mark.integration


def test_a_page_nested_too_deeply_fails_the_fetch_without_retry(
    http_server: HttpServer, connector_dag: ConnectorDag, capfd: pytest.CaptureFixture[str]
) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    http_server.state.files["deep.json"] = (
        '{"items": [{"id": 1}, {"id": 2, "tags": ' + deep + '}], "next": null}'
    ).encode()
    connector_dag.write(
        """
        kind: api
        conn_id: erp_http
        endpoint: exports/deep.json
        records_path: items
        pagination: {style: next_link}
        """,
        retries=2,
        fmt="jsonl",
    )

    run = connector_dag.run()

    assert (run.state, run.try_number) == ("failed", 1)  # terminal: not retried
    output = capfd.readouterr().out
    endings = [line for line in output.splitlines() if "AirflowFailException:" in line]
    assert any("nested too deeply" in line and "'erp_http'" in line for line in endings), endings
    assert "RecursionError" not in output
