"""Fixtures of the emulator contract tests: a real emulator on a free port, signed requests built
by hand (so the server is tested, not a client library), and a REST client."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest

from saleslayer_airflow.emulator.server import RunningEmulator, run_in_thread

CODE = "CN123TEST"
PRIVATE_KEY = "pk-S3cret-Private-Key-4-tests"
API_KEY = "ak-S3cret-Api-Key-4-tests-0042"
REST = "/catalog/rest/Catalog/"

# Poll-driven tracking by default: no test depends on how fast the machine is.
BASE_SETTINGS: dict[str, Any] = {"tracking": {"seconds_per_step": 0}}


def sign(
    code: str = CODE,
    key: str = PRIVATE_KEY,
    *,
    when: int | None = None,
    unique: int | None = None,
    **extra: str,
) -> dict[str, str]:
    """The signed query of one Import Connector API call, computed as the SDK does."""
    stamp = str(int(time.time()) if when is None else when)
    nonce = str(random.randint(1, 2**31) if unique is None else unique)
    digest = hashlib.sha256(f"{code}{key}{stamp}{nonce}".encode()).hexdigest()
    return {"code": code, "time": stamp, "unique": nonce, "key256": digest, "ver": "1.18", **extra}


def php_form(
    upserts: Mapping[str, Sequence[Mapping[str, str]]] | None = None,
    deletes: Mapping[str, Sequence[str]] | None = None,
    ref_fields: Mapping[str, str] | None = None,
    **flags: str,
) -> bytes:
    """A body in PHP ``http_build_query`` bracket notation (brackets percent-encoded)."""
    refs = {"catalogue": "cat_ref", "products": "prod_ref", "product_formats": "frmt_ref"}
    refs.update(ref_fields or {})
    pairs: list[tuple[str, str]] = []
    for table, rows in (upserts or {}).items():
        for index, row in enumerate(rows):
            pairs += [(f"input_data[{table}][{index}][{k}]", v) for k, v in row.items()]
    for table, table_refs in (deletes or {}).items():
        for index, ref in enumerate(table_refs):
            pairs.append((f"delete_data[{table}][{index}][{refs.get(table, 'REF')}]", ref))
    pairs += list(flags.items())
    return "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in pairs).encode()


class Api:
    """A thin hand-written HTTP helper over httpx for both emulated APIs."""

    def __init__(self, emulator: RunningEmulator) -> None:
        self.emulator = emulator
        self.http = httpx.Client(base_url=emulator.base_url, timeout=10)

    def close(self) -> None:
        self.http.close()

    def set_info(self, body: bytes, query: Mapping[str, str] | None = None) -> httpx.Response:
        return self.http.post(
            "/",
            params=dict(query if query is not None else sign()),
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

    def import_and_wait(
        self, body: bytes, query: Mapping[str, str] | None = None, *, max_polls: int = 20
    ) -> dict[str, Any]:
        """Send one call and poll its tracking URL until end/error; the last tracking answer."""
        answer = self.set_info(body, query).json()
        assert answer["error"] == 0, answer
        assert answer["input_response"]["result"] == 1, answer
        url = answer["input_response"]["status_tracking"]
        for _ in range(max_polls):
            status = self.http.get(url).json()
            if status["input_status"] in ("end", "error"):
                return dict(status)
        raise AssertionError(f"the job did not end within {max_polls} polls")

    def rest(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-API-KEY": API_KEY, **kwargs.pop("headers", {})}
        return self.http.request(method, REST + path, headers=headers, **kwargs)

    def dump(self, table: str) -> dict[str, dict[str, Any]]:
        """Live items of a table by reference, read through the inspection route."""
        items = self.http.get(f"/_emulator/tables/{table}", params={"live": "true"}).json()
        return {item["ref"]: item for item in items["items"]}

    def settings(self, patch: dict[str, Any]) -> None:
        response = self.http.post("/_emulator/settings", json=patch)
        assert response.status_code == 200, response.text


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    return tmp_path / "sl.sqlite"


@pytest.fixture(scope="session")
def shared_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """One emulator for the session; each test starts from an empty store (see ``emulator``)."""
    data = tmp_path_factory.mktemp("emulator") / "sl.sqlite"
    with run_in_thread(data, settings=BASE_SETTINGS) as running:
        yield running


@pytest.fixture
def emulator(shared_emulator: RunningEmulator) -> RunningEmulator:
    """The shared emulator, reset: no items, jobs or counts, the start settings."""
    shared_emulator.reset()
    return shared_emulator


@pytest.fixture
def api(emulator: RunningEmulator) -> Iterator[Api]:
    client = Api(emulator)
    yield client
    client.close()


def location_id(response: httpx.Response) -> int:
    """The new id from a 201's Location header (only the ``(id)`` part is trusted)."""
    location = response.headers["location"]
    return int(location[location.rindex("(") + 1 : location.rindex(")")])
