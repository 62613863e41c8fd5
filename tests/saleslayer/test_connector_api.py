"""The Import Connector API client against a stand-in server (fakes.FakeConnectorApi)."""

from __future__ import annotations

import json

import httpx
import pytest

from saleslayer_airflow.exceptions import (
    SalesLayerTerminalError,
    SalesLayerTransientError,
    TerminalError,
)
from saleslayer_airflow.saleslayer import ConnectorApiClient
from saleslayer_airflow.saleslayer.errors import LEGACY_CODES
from tests.saleslayer.conftest import FakeClock, make_connector_client
from tests.saleslayer.fakes import CODE, PRIVATE_KEY, FakeConnectorApi, parse_form

ROWS = [
    {"prod_ref": "P1", "prod_title": {"en": "Shoe", "es": "Zapato"}, "cat_ref": ["C1", "C2"]},
    {"prod_ref": "P2", "prod_title_en": "Boot"},
]


def _error(code: int) -> httpx.Response:
    return httpx.Response(200, json={"version": "1.18", "error": code})


def test_upsert_sends_a_signed_compressed_form_call_and_returns_counts(
    connector_client: ConnectorApiClient, connector_server: FakeConnectorApi
) -> None:
    counts = connector_client.upsert("products", ROWS, ref_field="prod_ref")
    assert counts["products"].created == 2
    assert counts["products"].updated == 0
    (post,) = connector_server.posts()
    assert post.url.path == "/"
    assert post.url.params["code"] == CODE
    assert post.url.params["ver"] == "1.18"
    assert post.url.params["compression"] == "1"
    assert len(post.url.params["key256"]) == 64
    assert post.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "gzip" in post.headers["Accept-Encoding"]
    assert parse_form(post.content) == {
        "input_data": {
            "products": [
                {
                    "prod_ref": "P1",
                    "prod_title_en": "Shoe",
                    "prod_title_es": "Zapato",
                    "cat_ref": "C1,C2",
                },
                {"prod_ref": "P2", "prod_title_en": "Boot"},
            ]
        }
    }
    assert connector_client.requests == 1


def test_a_resent_batch_changes_nothing(
    connector_client: ConnectorApiClient, connector_server: FakeConnectorApi
) -> None:
    connector_client.upsert("products", ROWS)
    before = json.dumps(connector_server.tables, sort_keys=True)
    again = connector_client.upsert("products", ROWS)
    assert (again["products"].created, again["products"].updated) == (0, 0)
    assert json.dumps(connector_server.tables, sort_keys=True) == before
    changed = connector_client.upsert("products", [{"prod_ref": "P2", "prod_title_en": "Boots"}])
    assert (changed["products"].created, changed["products"].updated) == (0, 1)


def test_delete_sends_delete_data_by_reference(
    connector_client: ConnectorApiClient, connector_server: FakeConnectorApi
) -> None:
    connector_client.upsert("products", ROWS)
    counts = connector_client.delete("products", ["P1", "NOPE"], "prod_ref")
    assert counts["products"].deleted == 1
    assert parse_form(connector_server.posts()[-1].content) == {
        "delete_data": {"products": [{"prod_ref": "P1"}, {"prod_ref": "NOPE"}]}
    }
    assert set(connector_server.tables["products"]) == {"P2"}


def test_send_carries_several_tables_in_one_call(
    connector_client: ConnectorApiClient, connector_server: FakeConnectorApi
) -> None:
    counts = connector_client.send(
        input_data={
            "catalogue": [{"cat_ref": "C1"}],
            "products": [{"prod_ref": "P1", "cat_ref": "C1"}],
        },
        delete_data={"brands": [{"brand_ref": "B0"}]},
    )
    assert counts["catalogue"].created == 1
    assert counts["products"].created == 1
    assert len(connector_server.posts()) == 1


TRANSIENT_CODES = {10, 11, 14}


@pytest.mark.parametrize("code", sorted(LEGACY_CODES))
def test_every_api_error_code_is_classified_with_an_actionable_message(
    code: int, connector_server: FakeConnectorApi, clock: FakeClock
) -> None:
    connector_server.faults = [_error(code)] * 5
    with (
        make_connector_client(connector_server, clock) as api,
        pytest.raises((SalesLayerTransientError, SalesLayerTerminalError)) as caught,
    ):
        api.upsert("products", ROWS)
    error = caught.value
    message = str(error)
    assert error.code == code
    assert f'error {code} "{LEGACY_CODES[code].meaning}"' in message
    assert "connection 'saleslayer_test'" in message
    assert "POST http://sl.test:8090/" in message
    assert "table 'products'" in message
    assert "key256" not in message and PRIVATE_KEY not in message
    if code in TRANSIENT_CODES:
        assert isinstance(error, SalesLayerTransientError)
        assert len(connector_server.posts()) == 3  # retried up to the policy's attempts
    else:
        assert isinstance(error, SalesLayerTerminalError)
        assert isinstance(error, TerminalError)
        assert len(connector_server.posts()) == 1  # never retried


def test_credential_codes_say_what_to_check(
    connector_server: FakeConnectorApi, clock: FakeClock
) -> None:
    for code, hint in [(2, "login"), (9, "password"), (12, "clock")]:
        connector_server.faults = [_error(code)]
        with (
            make_connector_client(connector_server, clock) as api,
            pytest.raises(SalesLayerTerminalError, match=hint),
        ):
            api.upsert("products", ROWS)


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
    ],
)
def test_http_statuses_are_classified(
    status: int, transient: bool, connector_server: FakeConnectorApi, clock: FakeClock
) -> None:
    connector_server.faults = [httpx.Response(status, text="nope")] * 3
    with make_connector_client(connector_server, clock) as api, pytest.raises(Exception) as caught:
        api.upsert("products", ROWS)
    expected = SalesLayerTransientError if transient else SalesLayerTerminalError
    assert type(caught.value) is expected
    assert f"HTTP {status}" in str(caught.value)
    assert len(connector_server.posts()) == (3 if transient else 1)


def test_wrong_credentials_are_refused_by_the_server_and_reported(
    connector_server: FakeConnectorApi, clock: FakeClock
) -> None:
    from saleslayer_airflow.saleslayer import ConnectorApiClient, ConnectorCredentials

    api = ConnectorApiClient(
        ConnectorCredentials("http://sl.test:8090", CODE, "wrong-key-123"),
        conn_id="saleslayer_test",
        transport=connector_server.transport(),
        clock=clock,
        sleep=clock.sleep,
    )
    with api, pytest.raises(SalesLayerTerminalError, match="Invalid private key") as caught:
        api.upsert("products", ROWS)
    assert "wrong-key-123" not in str(caught.value)


def test_transient_failures_are_retried_with_fresh_signatures_then_succeed(
    connector_server: FakeConnectorApi, clock: FakeClock
) -> None:
    connector_server.faults = [_error(14), httpx.ConnectError("connection refused")]
    with make_connector_client(connector_server, clock) as api:
        counts = api.upsert("products", ROWS)
    assert counts["products"].created == 2
    posts = connector_server.posts()
    assert len(posts) == 3
    assert len({(p.url.params["time"], p.url.params["unique"]) for p in posts}) == 3
    assert len({p.url.params["key256"] for p in posts}) == 3
    assert {p.content for p in posts} == {posts[0].content}  # the same batch each time
    # Backoff: initial 1 s then 2 s, each plus up to 0.5 s of jitter.
    assert len(clock.sleeps) == 2
    assert 1.0 <= clock.sleeps[0] <= 1.5
    assert 2.0 <= clock.sleeps[1] <= 2.5


def test_timeouts_and_dropped_connections_are_transient(
    connector_server: FakeConnectorApi, clock: FakeClock
) -> None:
    connector_server.faults = [
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("peer closed connection"),
        httpx.ReadTimeout("timed out"),
    ]
    with (
        make_connector_client(connector_server, clock) as api,
        pytest.raises(SalesLayerTransientError, match="timed out") as caught,
    ):
        api.upsert("products", ROWS)
    assert "check that the connection's host is reachable" in str(caught.value)


def test_retry_after_of_a_429_is_honoured(
    connector_server: FakeConnectorApi, clock: FakeClock
) -> None:
    connector_server.faults = [httpx.Response(429, headers={"Retry-After": "7"})]
    with make_connector_client(connector_server, clock) as api:
        api.upsert("products", ROWS)
    assert clock.sleeps == [7.0]


def test_result_2_is_terminal_and_quotes_the_errors(
    connector_server: FakeConnectorApi, clock: FakeClock
) -> None:
    answer = {
        "error": 0,
        "input_response": {"result": 2, "errors": ["Field prod_colour does not exist"]},
    }
    connector_server.faults = [httpx.Response(200, json=answer)]
    with (
        make_connector_client(connector_server, clock) as api,
        pytest.raises(SalesLayerTerminalError) as caught,
    ):
        api.upsert("products", ROWS)
    assert "Field prod_colour does not exist" in str(caught.value)
    assert "result 2" in str(caught.value)
    assert len(connector_server.posts()) == 1


def test_a_malformed_answer_is_transient(
    connector_server: FakeConnectorApi, clock: FakeClock
) -> None:
    connector_server.faults = [httpx.Response(200, text="<html>proxy</html>")]
    with make_connector_client(connector_server, clock) as api:
        counts = api.upsert("products", ROWS)
    assert counts["products"].created == 2
    assert len(connector_server.posts()) == 2


def test_tracking_is_polled_through_prepare_and_started_to_end(
    connector_server: FakeConnectorApi, clock: FakeClock
) -> None:
    connector_server.tracking_steps = ["prepare", "started", "started"]
    with make_connector_client(connector_server, clock) as api:
        counts = api.upsert("products", ROWS)
    polls = [r for r in connector_server.requests if r.method == "GET"]
    assert len(polls) == 4
    assert {p.url.path for p in polls} == {"/track/1"}
    assert clock.sleeps == [0.5, 0.5, 0.5]  # poll_interval between polls, none after "end"
    assert counts["products"].created == 2


def test_tracking_that_ends_in_error_is_terminal(
    connector_server: FakeConnectorApi, clock: FakeClock
) -> None:
    connector_server.tracking_steps = ["prepare"]
    connector_server.tracking_final = "error"
    with (
        make_connector_client(connector_server, clock) as api,
        pytest.raises(SalesLayerTerminalError, match="ended in error") as caught,
    ):
        api.upsert("products", ROWS)
    assert "boom: bad field" in str(caught.value)
    assert "GET http://sl.test:8090/track/1" in str(caught.value)
    assert "code=" not in str(caught.value)


def test_a_failed_tracking_poll_is_retried_without_resending_the_batch(
    connector_server: FakeConnectorApi, clock: FakeClock
) -> None:
    connector_server.tracking_steps = ["started"]
    connector_server.tracking_faults = [httpx.ConnectError("reset"), httpx.Response(503)]
    with make_connector_client(connector_server, clock) as api:
        api.upsert("products", ROWS)
    assert len(connector_server.posts()) == 1


@pytest.mark.parametrize(
    "origin",
    ["http://evil.test:8090", "https://sl.test:8090", "http://sl.test:9999", "http://sl.test"],
)
def test_a_tracking_url_on_another_origin_is_never_followed(
    origin: str, connector_server: FakeConnectorApi, clock: FakeClock
) -> None:
    connector_server.tracking_steps = ["prepare"]
    connector_server.tracking_origin = origin
    with (
        make_connector_client(connector_server, clock) as api,
        pytest.raises(SalesLayerTerminalError, match="another server") as caught,
    ):
        api.upsert("products", ROWS)
    assert [r.method for r in connector_server.requests] == ["POST"]
    assert "code=" not in str(caught.value)


def test_a_relative_tracking_url_is_followed_on_the_api_host(
    connector_server: FakeConnectorApi, clock: FakeClock
) -> None:
    connector_server.tracking_steps = ["started"]
    connector_server.tracking_origin = ""
    with make_connector_client(connector_server, clock) as api:
        api.upsert("products", ROWS)
    assert [str(r.url.copy_with(query=None)) for r in connector_server.requests[1:]] == [
        "http://sl.test:8090/track/1"
    ] * 2


def test_an_import_that_never_ends_gives_up_after_the_tracking_timeout(
    connector_server: FakeConnectorApi, clock: FakeClock
) -> None:
    connector_server.tracking_steps = ["started"] * 1000
    with (
        make_connector_client(connector_server, clock, tracking_timeout=10.0) as api,
        pytest.raises(SalesLayerTransientError, match="still 'started'"),
    ):
        api.upsert("products", ROWS)
    polls = [r for r in connector_server.requests if r.method == "GET"]
    assert len(polls) == 21  # one at t=0, then every 0.5 s until 10 s have passed
    assert len(connector_server.posts()) == 1


def test_check_accepts_an_empty_call_and_reports_refused_credentials(
    connector_server: FakeConnectorApi, clock: FakeClock
) -> None:
    with make_connector_client(connector_server, clock) as api:
        assert "accepted connector 'CN123TEST'" in api.check()
        connector_server.faults = [_error(1)]
        assert "accepted" in api.check()
        connector_server.faults = [_error(2)]
        with pytest.raises(SalesLayerTerminalError, match="Invalid connector code"):
            api.check()


def test_a_redirect_is_not_followed_and_names_the_target(
    connector_server: FakeConnectorApi, clock: FakeClock
) -> None:
    connector_server.faults = [
        httpx.Response(301, headers={"Location": "https://sl.test/?code=CN123TEST&key256=abc"})
    ]
    with (
        make_connector_client(connector_server, clock) as api,
        pytest.raises(SalesLayerTerminalError) as caught,
    ):
        api.upsert("products", ROWS)
    assert "redirects to https://sl.test/" in str(caught.value)
    assert "key256" not in str(caught.value)
    assert len(connector_server.requests) == 1
