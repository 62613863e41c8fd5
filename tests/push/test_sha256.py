"""The content hashes on columns: the polars-hash plugin and hashlib give the same hex digests,
and the plugin is only used once it has proven it gives sha256's."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saleslayer_airflow.push import sha256


@pytest.fixture(autouse=True)
def _check_again() -> Iterator[None]:
    sha256.use_plugin(None)
    yield
    sha256.use_plugin(None)


def _expected(texts: list[str | None]) -> list[str | None]:
    return [None if t is None else hashlib.sha256(t.encode()).hexdigest() for t in texts]


def test_the_plugin_is_installed_and_used() -> None:
    """requirements.lock installs polars-hash: a CI run without it would measure the slow path."""
    assert sha256.vectorised()


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(st.one_of(st.none(), st.text()), max_size=50))
def test_both_paths_give_hashlib_hex(texts: list[str | None]) -> None:
    series = pl.Series("canonical", texts, dtype=pl.String)
    expected = _expected(texts)
    for plugin in (True, False):
        sha256.use_plugin(plugin)
        found = sha256.hex_digests(series)
        assert found.name == "digest" and found.dtype == pl.String
        assert found.to_list() == expected


def test_across_hash_slices_every_row_keeps_its_digest() -> None:
    texts = [f'{{"n":{n}}}' for n in range(sha256.HASH_SLICE * 2 + 5)]
    series = pl.Series(texts)
    for plugin in (True, False):
        sha256.use_plugin(plugin)
        assert sha256.hex_digests(series).to_list() == _expected(list(texts))


def test_a_plugin_that_cannot_load_falls_back_to_hashlib(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refused(texts: pl.Series) -> pl.Series:
        raise pl.exceptions.ComputeError("the plugin was compiled for another polars")

    monkeypatch.setattr(sha256, "_plugin_hex", refused)
    assert not sha256.vectorised()
    assert sha256.hex_digests(pl.Series(["a"])).to_list() == _expected(["a"])


def test_a_plugin_giving_another_answer_is_not_used(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sha256, "_plugin_hex", lambda texts: texts.str.to_uppercase())
    with caplog.at_level(logging.WARNING, logger=sha256.__name__):
        assert not sha256.vectorised()
    assert "hashing with hashlib instead" in caplog.text
    assert sha256.hex_digests(pl.Series(["a"])).to_list() == _expected(["a"])
