"""Work on a thread of its own: writes run in order, a reader waits for what it reads, the
memory held stays bounded, a failed write always reaches the caller; read-ahead gives every
item in order, stays one item ahead, hands on the items' error and closes them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from saleslayer_airflow.background import BackgroundWrites


def _slow_write(path: Path, text: str, log: list[str], delay: float = 0.05) -> None:
    time.sleep(delay)
    path.write_text(text)
    log.append(text)


def test_writes_run_in_order_on_another_thread(tmp_path: Path) -> None:
    log: list[str] = []
    threads: set[str] = set()

    def write(path: Path, text: str) -> None:
        threads.add(threading.current_thread().name)
        _slow_write(path, text, log, delay=0.01)

    with BackgroundWrites(pending=10) as writes:
        for i in range(5):
            writes.submit(write, tmp_path / f"{i}.txt", str(i))
    assert log == ["0", "1", "2", "3", "4"]
    assert threads and threading.current_thread().name not in threads


def test_wait_returns_once_the_file_is_written(tmp_path: Path) -> None:
    log: list[str] = []
    writes = BackgroundWrites(pending=10)
    path = tmp_path / "a.txt"
    written = writes.submit(_slow_write, path, "written", log, 0.2)
    assert not path.exists()  # still being written: the caller went on
    writes.wait(written)
    assert path.read_text() == "written"
    writes.wait(written)  # waited already, or never submitted: returns at once
    writes.wait(Future())
    writes.close()


def test_submit_waits_when_the_queue_is_full(tmp_path: Path) -> None:
    log: list[str] = []
    writes = BackgroundWrites(pending=2)
    for i in range(3):
        writes.submit(_slow_write, tmp_path / f"{i}", str(i), log, 0.1)
    # The third submit waited for the first: never more than two writes held.
    assert log[:1] == ["0"]
    writes.close()
    assert log == ["0", "1", "2"]


def test_a_failed_write_is_raised_by_wait_of_a_later_one(tmp_path: Path) -> None:
    log: list[str] = []

    def failing(path: Path) -> None:
        raise OSError(28, "No space left on device", str(path))

    writes = BackgroundWrites(pending=10)
    writes.submit(failing, tmp_path / "a")
    later = writes.submit(_slow_write, tmp_path / "b", "b", log)
    with pytest.raises(OSError, match="No space left"):
        writes.wait(later)  # b was written after a: a's failure is not skipped
    writes.close()


def test_close_raises_a_failed_write_after_every_write_ended(tmp_path: Path) -> None:
    log: list[str] = []

    def failing() -> None:
        raise OSError(5, "Input/output error")

    writes = BackgroundWrites(pending=10)
    writes.submit(failing)
    writes.submit(_slow_write, tmp_path / "b", "b", log, 0.1)
    with pytest.raises(OSError, match="Input/output"):
        writes.close()
    assert log == ["b"]  # the later write was not abandoned
    writes.close()  # closed: nothing left to raise


def test_close_with_nothing_submitted_starts_no_thread() -> None:
    before = threading.active_count()
    with BackgroundWrites():
        pass
    assert threading.active_count() == before


# --------------------------------------------------------------------------- read_ahead


def test_read_ahead_gives_every_item_in_order_from_another_thread() -> None:
    from saleslayer_airflow.background import read_ahead

    made_on: set[str] = set()

    def items() -> Iterator[int]:
        for n in range(100):
            made_on.add(threading.current_thread().name)
            yield n

    assert list(read_ahead(items())) == list(range(100))
    assert len(made_on) == 1 and made_on.pop().startswith("saleslayer-read-ahead")


def test_read_ahead_stays_one_item_ahead() -> None:
    from saleslayer_airflow.background import read_ahead

    made: list[int] = []

    def items() -> Iterator[int]:
        for n in range(50):
            made.append(n)
            yield n

    ahead = read_ahead(items())
    assert next(ahead) == 0
    time.sleep(0.2)
    # item 0 taken and item 1 made: nothing more
    assert made == [0, 1]
    ahead.close()


def test_an_error_of_the_items_reaches_the_caller_after_the_items_before_it() -> None:
    from saleslayer_airflow.background import read_ahead

    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("line 3: not a CSV record")

    got: list[int] = []
    with pytest.raises(ValueError, match="line 3"):
        for item in read_ahead(items()):
            got.append(item)
    assert got == [1, 2]


def test_stopping_early_closes_the_items_on_their_thread() -> None:
    from saleslayer_airflow.background import read_ahead

    closed_on: list[str] = []

    def items() -> Iterator[int]:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed_on.append(threading.current_thread().name)

    before = threading.active_count()
    for item in read_ahead(items()):
        if item == 5:
            break
    assert len(closed_on) == 1 and closed_on[0].startswith("saleslayer-read-ahead")
    assert threading.active_count() == before  # the thread has ended
