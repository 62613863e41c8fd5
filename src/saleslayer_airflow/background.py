"""Work done on a thread of its own while the caller goes on: writes (the split's spill files
and Parquet outputs, a landed export's chunks) and reads (the split's next batch of records).
pyarrow, file reads and writes work without the GIL, so on a second core they overlap with what
the caller does meanwhile (mapping and resolving rows; receiving and hashing the next chunk)
instead of adding to it."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

#: Writes queued at most: each holds its data until written, so the memory held is bounded.
PENDING = 2


class BackgroundWrites:
    """One writer thread; writes keyed by what they write (a path), in the order submitted.

    ``wait(key)`` before reading what a write wrote; ``close()`` waits for all of them. A write
    that failed raises its exception in the caller's thread, from the first ``submit``, ``wait``
    or ``close`` that waits for it (``close`` always does), so an error is never lost."""

    def __init__(self, pending: int = PENDING) -> None:
        self._pending = max(1, pending)
        self._pool: ThreadPoolExecutor | None = None
        self._futures: OrderedDict[Hashable, Future[object]] = OrderedDict()

    def submit(
        self, key: Hashable, write: Callable[P, object], *args: P.args, **kwargs: P.kwargs
    ) -> None:
        while len(self._futures) >= self._pending:
            _, oldest = self._futures.popitem(last=False)
            oldest.result()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="saleslayer-write")
        self._futures[key] = self._pool.submit(write, *args, **kwargs)

    def wait(self, key: Hashable) -> None:
        """Until the write of ``key`` (and so every write submitted before it) has ended."""
        if key not in self._futures:
            return
        while self._futures:
            done, future = self._futures.popitem(last=False)
            future.result()
            if done == key:
                return

    def __enter__(self) -> BackgroundWrites:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Wait for every write; the first that failed raises (after all have ended)."""
        futures = list(self._futures.values())
        self._futures.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for future in futures:
            future.result()


def read_ahead(items: Iterable[T]) -> Iterator[T]:
    """``items``, the next one made on a thread of its own while the caller works on this one.

    The split reads and parses the next batch of records (file reads, pyarrow's parser, NumPy
    line counts: mostly without the GIL) while it maps the one before; the push reads and
    encodes the next span while it waits for Sales Layer's answers. One item ahead at most; the
    items are made in order on that one thread, closed there when the caller stops early, and
    an error making one is raised here, where it would have been."""
    iterator = iter(items)
    with ThreadPoolExecutor(1, thread_name_prefix="saleslayer-read-ahead") as worker:
        try:
            ahead = worker.submit(next, iterator, _DONE)
            while (item := ahead.result()) is not _DONE:
                ahead = worker.submit(next, iterator, _DONE)
                yield item
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                worker.submit(close).result()  # after the item being made, on its thread


_DONE: Any = object()
