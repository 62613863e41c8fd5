"""Retention of old run folders, and the connector's last-fetch record."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from saleslayer_airflow import staging
from saleslayer_airflow.sources.history import FetchHistory


def test_old_run_folders_are_removed_and_state_and_current_run_kept(tmp_path: Path) -> None:
    base = tmp_path.as_uri()
    folder = tmp_path / "shop"
    now = datetime(2026, 12, 1, tzinfo=UTC)
    old_stamp = (now - timedelta(days=20)).timestamp()
    for name in ["manual__2026-11-01", "manual__2026-11-29", "_state", "scheduled+current"]:
        staging.mark_run_folder(base, "shop", name)  # as the fetch stage does
        landed = folder / staging.safe_segment(name) / "landed"
        landed.mkdir(parents=True)
        (landed / "x.csv").write_text("x")
    for name in ["manual__2026-11-01", "_state", "scheduled_current"]:
        os.utime(folder / name, (old_stamp, old_stamp))

    retention = staging.clean_old_runs(base, "shop", 14, keep="scheduled+current", now=now)

    assert retention.removed == ["manual__2026-11-01"]
    assert retention.not_runs == []
    assert sorted(p.name for p in folder.iterdir()) == [
        "_state",
        "manual__2026-11-29",
        "scheduled_current",
    ]
    assert staging.clean_old_runs(base, "nothing-yet", 14) == staging.Retention()


def test_last_fetch_record_round_trip_and_forget(tmp_path: Path) -> None:
    history = FetchHistory(staging.connector_folder(tmp_path.as_uri(), "shop"))
    assert history.read() is None
    started = datetime(2026, 11, 2, 6, tzinfo=UTC)
    history.record("ab" * 32, "run-1", started)
    last = history.read()
    assert last is not None and last.fingerprint == "ab" * 32 and last.started == started
    assert not history.forget("run-2")
    assert history.forget("run-1") and history.read() is None
    (tmp_path / "shop" / "_state" / "last_fetch.json").write_text("{broken")
    assert history.read() is None
    assert [p.name for p in (tmp_path / "shop" / "_state").iterdir()] == ["last_fetch.json"]
