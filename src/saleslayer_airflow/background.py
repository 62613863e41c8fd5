"""Work done on a thread of its own while the caller goes on: writes (the split's spill files
and Parquet outputs, a landed export's chunks) and reads (the split's next batch of records).
pyarrow, file reads and writes work without the GIL, so on a second core they overlap with what
the caller does meanwhile (mapping and resolving rows; receiving and hashing the next chunk)
instead of adding to it."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

#: Writes queued at most: each holds its data until written, so the memory held is bounded.
PENDING = 2


class BackgroundWrites:
    """One writer thread; writes run in the order submitted, each its :class:`Future`.

    ``wait(write)`` before reading what a write wrote; ``close()`` waits for all of them. A write
    that failed raises its exception in the caller's thread, from the first ``submit``, ``wait``
    or ``close`` that waits for it (``close`` always does), so an error is never lost."""

    def __init__(self, pending: int = PENDING) -> None:
        self._pending = max(1, pending)
        self._pool: ThreadPoolExecutor | None = None
        self._futures: deque[Future[object]] = deque()

    def submit(
        self, write: Callable[P, object], *args: P.args, **kwargs: P.kwargs
    ) -> Future[object]:
        """Queue ``write(*args, **kwargs)``, first waiting for the oldest write when ``pending``
        are queued already."""
        while len(self._futures) >= self._pending:
            self._futures.popleft().result()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="saleslayer-write")
        future = self._pool.submit(write, *args, **kwargs)
        self._futures.append(future)
        return future

    def wait(self, write: Future[object]) -> None:
        """Until ``write`` (and so every write submitted before it) has ended."""
        if write not in self._futures:
            return
        while self._futures:
            done = self._futures.popleft()
            done.result()
            if done is write:
                return

    def __enter__(self) -> BackgroundWrites:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Wait for every write; the first that failed raises (after all have ended)."""
        futures = list(self._futures)
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
            ahead: Future[T | _Done] = worker.submit(next, iterator, _DONE)
            while not isinstance(item := ahead.result(), _Done):
                ahead = worker.submit(next, iterator, _DONE)
                yield item
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                worker.submit(close).result()  # after the item being made, on its thread


class _Done:
    """What ``next`` gives at the end of the items (an item of their own type never is)."""


_DONE = _Done()
