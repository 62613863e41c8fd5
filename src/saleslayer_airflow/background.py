"""Writes done on a thread of their own while the caller goes on. The split's spill files and
Parquet outputs (pyarrow) and a landed export's chunks (file writes) are written without the
GIL, so on a second core they overlap with what the caller does next (mapping and resolving the
next rows; receiving and hashing the next chunk) instead of adding to it."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec

P = ParamSpec("P")

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
