"""Retention of old run folders, and the connector's last-fetch record."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from saleslayer_airflow import staging
from saleslayer_airflow.import_history import ImportHistory


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


def test_last_import_record_round_trip(tmp_path: Path) -> None:
    history = ImportHistory(staging.connector_folder(tmp_path.as_uri(), "shop"))
    assert history.read() is None
    started = datetime(2026, 11, 2, 6, tzinfo=UTC)
    history.record("ab" * 32, "run-1", started)
    last = history.read()
    assert last is not None and last.fingerprint == "ab" * 32 and last.started == started
    (tmp_path / "shop" / "_state" / "last_import.json").write_text("{broken")
    assert history.read() is None
    assert [p.name for p in (tmp_path / "shop" / "_state").iterdir()] == ["last_import.json"]


def test_the_record_of_earlier_versions_is_read_until_an_import_is_recorded(
    tmp_path: Path,
) -> None:
    state = tmp_path / "shop" / "_state"
    state.mkdir(parents=True)
    legacy = {
        "fingerprint": "cd" * 32,
        "run_id": "run-0",
        "started_at": "2026-11-01T06:00:00+00:00",
        "recorded_at": "2026-11-01T06:01:00+00:00",
        "files": [],
        "account": None,
    }
    (state / "last_fetch.json").write_text(json.dumps(legacy))
    history = ImportHistory(staging.connector_folder(tmp_path.as_uri(), "shop"))
    last = history.read()
    assert last is not None and (last.fingerprint, last.run_id) == ("cd" * 32, "run-0")

    history.record("ab" * 32, "run-1", datetime(2026, 11, 2, 6, tzinfo=UTC))

    assert [p.name for p in state.iterdir()] == ["last_import.json"]
    last = history.read()
    assert last is not None and last.run_id == "run-1"
    # A broken record is no record, even with an old one beside it: fetch and import.
    (state / "last_fetch.json").write_text(json.dumps(legacy))
    (state / "last_import.json").write_text("{broken")
    assert history.read() is None
