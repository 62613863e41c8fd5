"""Retention deletes only the run folders this package made (marked ``.saleslayer-run`` for the
connector and the run), never anything else under the staging base, never through a link."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from saleslayer_airflow import staging

NOW = datetime(2026, 12, 1, tzinfo=UTC)
OLD = (NOW - timedelta(days=30)).timestamp()


def _age(path: Path) -> None:
    os.utime(path, (OLD, OLD), follow_symlinks=False)


def _run(base: Path, connector: str, run_id: str) -> Path:
    """An old run folder, made the way the fetch stage makes it."""
    staging.mark_run_folder(base.as_uri(), connector, run_id)
    folder = base / connector / staging.safe_segment(run_id)
    (folder / "landed").mkdir()
    (folder / "landed" / "export.csv").write_text("ref\nA\n")
    _age(folder)
    return folder


def _precious(path: Path) -> Path:
    """A folder of someone else's data, as old as the run folders."""
    (path / "sub").mkdir(parents=True)
    (path / "sub" / "keep.txt").write_text("mine")
    (path / "landed").mkdir()
    _age(path)
    return path


def test_only_marked_run_folders_of_the_connector_go(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    gone = _run(tmp_path, "shop", "scheduled__2026-10-01T06:00:00+00:00")
    legacy = _precious(shop / "manual__2026-09-01")  # a run folder from before the marker
    other = _precious(shop / "photos")
    (shop / "notes.txt").write_text("a file")
    _age(shop / "notes.txt")
    # a marker of another connector, and one naming another run, copied in by hand
    foreign = _precious(shop / "run_b")
    (foreign / staging.RUN_MARKER).write_text(json.dumps({"connector_id": "b", "run_id": "run_b"}))
    moved = _precious(shop / "run_c")
    (moved / staging.RUN_MARKER).write_text(json.dumps({"connector_id": "shop", "run_id": "x"}))
    broken = _precious(shop / "run_d")
    (broken / staging.RUN_MARKER).write_text("{not json")
    for folder in (foreign, moved, broken):
        _age(folder)

    retention = staging.clean_old_runs(tmp_path.as_uri(), "shop", 14, now=NOW)

    assert retention.removed == [gone.name] and not gone.exists()
    assert retention.not_runs == [
        "manual__2026-09-01",
        "notes.txt",
        "photos",
        "run_b",
        "run_c",
        "run_d",
    ]
    for kept in (legacy, other, foreign, moved, broken):
        assert (kept / "sub" / "keep.txt").read_text() == "mine"


def test_links_are_never_followed(tmp_path: Path) -> None:
    outside = _precious(tmp_path / "outside" / "data")
    (outside / staging.RUN_MARKER).write_text(json.dumps({"connector_id": "shop", "run_id": "l"}))
    base = tmp_path / "staging"
    run = _run(base, "shop", "old_run")
    # a link inside an old run folder, to data outside: the folder goes, the data stays
    (run / "landed" / "link").symlink_to(outside, target_is_directory=True)
    (run / "landed" / "file_link").symlink_to(outside / "sub" / "keep.txt")
    _age(run)
    # a link right below the connector, named like the marked run it points to
    (base / "shop" / "l").symlink_to(outside, target_is_directory=True)
    _age(base / "shop" / "l")

    retention = staging.clean_old_runs(base.as_uri(), "shop", 14, now=NOW)

    assert retention.removed == ["old_run"] and not run.exists()
    assert retention.not_runs == ["l"] and (base / "shop" / "l").is_symlink()
    assert (outside / "sub" / "keep.txt").read_text() == "mine"
    assert (outside / staging.RUN_MARKER).exists()


def test_a_connector_folder_that_is_a_link_is_left_alone(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    _run(elsewhere, "shop", "old_run")
    base = tmp_path / "staging"
    base.mkdir()
    (base / "shop").symlink_to(elsewhere / "shop", target_is_directory=True)

    retention = staging.clean_old_runs(base.as_uri(), "shop", 14, now=NOW)

    assert retention.removed == []
    assert retention.not_runs == ["shop (a symbolic link: not followed)"]
    assert (elsewhere / "shop" / "old_run" / "landed" / "export.csv").exists()


def test_a_base_holding_other_data_loses_nothing(tmp_path: Path) -> None:
    """`staging.base` pointed at a folder of other data (the home directory, say): a folder
    there named like the connector holds none of its runs, so nothing is deleted."""
    home = tmp_path / "home"
    documents = _precious(home / "shop" / "2026-invoices")
    _precious(home / "shop" / "_archive")
    retention = staging.clean_old_runs(home.as_uri(), "shop", 0, now=NOW)
    assert retention.removed == [] and retention.not_runs == ["2026-invoices"]
    assert (documents / "sub" / "keep.txt").exists()


@pytest.mark.parametrize(("run_id", "segment"), [("..", "__"), (".", "_"), ("a..b", "a..b")])
def test_dot_run_ids_cannot_climb_out(tmp_path: Path, run_id: str, segment: str) -> None:
    assert staging.safe_segment(run_id) == segment
    folder = staging.mark_run_folder(tmp_path.as_uri(), "shop", run_id)
    assert Path(folder.path) == tmp_path / "shop" / segment
    assert Path(folder.path).parent == tmp_path / "shop"


def test_marker_names_the_connector_and_the_run(tmp_path: Path) -> None:
    staging.mark_run_folder(tmp_path.as_uri(), "shop", "manual__2026-12-01T06:00:00+00:00")
    marker = tmp_path / "shop" / "manual__2026-12-01T06_00_00_00_00" / staging.RUN_MARKER
    body = json.loads(marker.read_text())
    assert body["connector_id"] == "shop"
    assert body["run_id"] == "manual__2026-12-01T06:00:00+00:00"
    # a recent run is kept; past the retention it goes
    assert staging.clean_old_runs(tmp_path.as_uri(), "shop", 14).removed == []
    later = datetime.now(UTC) + timedelta(days=15)
    removed = staging.clean_old_runs(tmp_path.as_uri(), "shop", 14, now=later).removed
    assert removed == ["manual__2026-12-01T06_00_00_00_00"]
