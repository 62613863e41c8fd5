"""The emulator leaves the garbage collector of the process it runs in alone: tests run it in a
thread, beside Airflow and the code under test. Only its own server process (``python -m
saleslayer_airflow.emulator``) tunes the collector."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from tests.emulator.conftest import Api, php_form

pytestmark = pytest.mark.integration


def test_an_import_in_a_thread_does_not_touch_the_collector(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(gc, "disable", lambda: calls.append("disable"))
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "set_threshold", lambda *a: calls.append(f"set_threshold{a}"))
    thresholds = gc.get_threshold()
    rows = [{"prod_ref": f"P{n}", "prod_title_en": f"T{n}"} for n in range(2_000)]
    done = api.import_and_wait(php_form({"products": rows}))
    assert done["input_response"]["new_items"] == {"products": 2_000}
    assert calls == []
    assert gc.isenabled() and gc.get_threshold() == thresholds


def test_the_server_process_collects_rarely() -> None:
    """The CLI's process raises the first threshold (see ``__main__._tune_gc``)."""
    probe = (
        "import gc\n"
        "import saleslayer_airflow.emulator.__main__ as cli\n"
        "cli._tune_gc()\n"
        "print(gc.isenabled(), gc.get_threshold()[0], gc.get_freeze_count() > 0)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert out == ["True", "100000", "True"]
