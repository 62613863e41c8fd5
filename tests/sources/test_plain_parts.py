"""The plain-Python parts of the fetch stage, without Airflow or servers."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from saleslayer_airflow.config.sources import Pagination, PickRule
from saleslayer_airflow.sources.api import (
    PageRequest,
    RateLimiter,
    check_same_origin,
    first_request,
    next_link_from_header,
    next_request,
    records_at,
    value_at,
)
from saleslayer_airflow.sources.errors import ApiResponseError, FileStillGrowingError
from saleslayer_airflow.sources.fingerprint import Digest, combined_fingerprint, utc_iso
from saleslayer_airflow.sources.selection import RemoteFile, bare_names, choose, matching
from saleslayer_airflow.sources.stability import wait_until_stable


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# ------------------------------------------------------------------------------- selection


@pytest.mark.parametrize(
    "listing",
    [
        ["a.csv", "b.csv"],  # pyftpdlib: bare names
        ["/exports/a.csv", "/exports/b.csv"],  # vsftpd: full paths
        [".", "..", "exports/a.csv", "b.csv", ""],  # mixed, with dot entries
    ],
)
def test_listings_are_normalised_to_bare_names(listing: list[str]) -> None:
    assert bare_names(listing) == ["a.csv", "b.csv"]


def test_glob_is_case_sensitive_and_sorted() -> None:
    names = ["products_2.csv", "Products_1.csv", "products_1.csv", "products_1.csv.tmp"]
    assert matching(names, "products_*.csv") == ["products_1.csv", "products_2.csv"]


def test_pick_newest_by_mtime_then_by_name() -> None:
    t = datetime(2026, 11, 2, tzinfo=UTC)
    files = [
        RemoteFile("/e/b.csv", 1, t),
        RemoteFile("/e/a.csv", 1, t + timedelta(hours=1)),
        RemoteFile("/e/c.csv", 1, None),
    ]
    assert choose(files, PickRule.NEWEST) == [files[1]]
    assert [f.name for f in choose(files, PickRule.ALL)] == ["a.csv", "b.csv", "c.csv"]
    undated = [RemoteFile("/e/x_20261101.csv"), RemoteFile("/e/x_20261102.csv")]
    assert choose(undated, PickRule.NEWEST)[0].name == "x_20261102.csv"
    naive = [RemoteFile("/e/n.csv", 1, datetime(2030, 1, 1)), files[0]]
    assert choose(naive, PickRule.NEWEST)[0].name == "n.csv"


# ------------------------------------------------------------------------------- stability


def test_a_settled_size_is_returned_after_the_window() -> None:
    clock = FakeClock()
    sizes = iter([10, 20, 30, 30, 30, 30, 30, 30, 30])
    size = wait_until_stable(
        lambda: next(sizes), timedelta(seconds=1), where="x", clock=clock, sleep=clock.sleep
    )
    assert size == 30
    assert clock.now >= 1.0


def test_a_file_that_keeps_growing_is_transient() -> None:
    clock = FakeClock()
    counter = iter(range(10_000))
    with pytest.raises(FileStillGrowingError, match="still growing") as caught:
        wait_until_stable(
            lambda: next(counter), timedelta(seconds=1), where="ftp://h/x.csv",
            clock=clock, sleep=clock.sleep,
        )  # fmt: skip
    assert "ftp://h/x.csv" in str(caught.value) and "stable_for" in str(caught.value)


def test_no_window_or_unknown_size_does_not_wait() -> None:
    clock = FakeClock()
    assert wait_until_stable(lambda: 5, timedelta(0), where="x", sleep=clock.sleep) == 5
    assert (
        wait_until_stable(lambda: None, timedelta(seconds=9), where="x", sleep=clock.sleep) is None
    )
    assert clock.sleeps == []


# ----------------------------------------------------------------------------- fingerprint


def test_digest_and_combined_fingerprint() -> None:
    digest = Digest()
    for chunk in (b"ab", b"", b"c"):
        digest.update(chunk)
    assert (digest.size, digest.sha256) == (3, hashlib.sha256(b"abc").hexdigest())

    class F:
        def __init__(self, size: int, sha256: str) -> None:
            self.size, self.sha256 = size, sha256

    one, two = F(1, "aa"), F(2, "bb")
    assert combined_fingerprint([one, two]) == combined_fingerprint([two, one])
    assert combined_fingerprint([one]) != combined_fingerprint([one, two])
    assert combined_fingerprint([F(1, "ab")]) != combined_fingerprint([F(2, "ab")])


def test_utc_iso_treats_naive_times_as_utc() -> None:
    assert utc_iso(datetime(2026, 11, 2, 5, 30)) == "2026-11-02T05:30:00+00:00"
    assert utc_iso(None) is None


# ------------------------------------------------------------------------------ pagination


def _pagination(**kwargs: object) -> Pagination:
    return Pagination.model_validate({"page_size": 2, **kwargs})


def test_page_style_stops_on_a_short_page() -> None:
    p = _pagination(style="page")
    first = first_request(p, "http://h/items", {"a": 1}, "2026-01-01", "since")
    assert first.params == {"a": 1, "since": "2026-01-01", "limit": 2, "page": 1}
    second = next_request(p, first, {}, [1, 2], None)
    assert second is not None and second.params["page"] == 2
    assert next_request(p, second, {}, [1], None) is None


def test_offset_style_advances_by_the_records_received() -> None:
    p = _pagination(style="offset", offset_param="skip")
    first = first_request(p, "http://h/items", {}, None, "")
    assert first.params == {"limit": 2, "skip": 0}
    following = next_request(p, first, {}, [1, 2], None)
    assert following is not None and following.params["skip"] == 2


def test_cursor_style_follows_the_body_and_refuses_a_loop() -> None:
    p = _pagination(style="cursor", cursor_path="meta.next")
    first = first_request(p, "http://h/items", {}, None, "")
    following = next_request(p, first, {"meta": {"next": "abc"}}, [1], None)
    assert following == PageRequest("http://h/items", {"limit": 2, "cursor": "abc"})
    assert next_request(p, following, {"meta": {"next": None}}, [1], None) is None
    with pytest.raises(ApiResponseError, match="never end"):
        next_request(p, following, {"meta": {"next": "abc"}}, [1], None)


def test_next_link_style_resolves_relative_links() -> None:
    p = _pagination(style="next_link", next_link_path="links.next")
    current = PageRequest("http://h/api/items", {"limit": 2})
    following = next_request(p, current, {"links": {"next": "items?page=2"}}, [1], None)
    assert following == PageRequest("http://h/api/items?page=2", {})
    assert next_request(p, current, {"links": {"next": ""}}, [1], None) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('<http://h/i?p=2>; rel="next", <http://h/i?p=9>; rel="last"', "http://h/i?p=2"),
        ('<http://h/i?p=1>; rel="prev first"', None),
        ("<http://h/i?p=3>; rel=next", "http://h/i?p=3"),
        ("", None),
        (None, None),
    ],
)
def test_link_header_parsing(header: str | None, expected: str | None) -> None:
    assert next_link_from_header(header) == expected


def test_records_path_and_a_clear_error_when_it_is_wrong() -> None:
    body = {"data": {"items": [{"id": 1}]}, "meta": {}}
    assert records_at(body, "data.items", "u") == [{"id": 1}]
    assert records_at([1, 2], "", "u") == [1, 2]
    assert value_at({"a": [{"b": 5}]}, "a.0.b") == 5
    with pytest.raises(ApiResponseError, match=r"records_path 'data.rows'.*\['data', 'meta'\]"):
        records_at(body, "data.rows", "http://h/items")


def test_next_links_to_another_host_are_refused() -> None:
    check_same_origin("http://h:1/items", "http://h:1/items?p=2", "erp")
    with pytest.raises(ApiResponseError, match="another host"):
        check_same_origin("http://h:1/items", "http://evil:1/items", "erp")


def test_rate_limiter_spaces_requests() -> None:
    clock = FakeClock()
    limiter = RateLimiter(4, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        limiter.wait()
    assert clock.now == pytest.approx(1.0)
    unlimited = RateLimiter(None, clock=clock, sleep=clock.sleep)
    before = len(clock.sleeps)
    unlimited.wait()
    unlimited.wait()
    assert len(clock.sleeps) == before
