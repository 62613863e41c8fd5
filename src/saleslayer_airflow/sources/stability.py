"""Take a file only once its size has stopped changing: the ERP may still be writing it."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from datetime import timedelta
from typing import TypeVar

from saleslayer_airflow.sources.errors import FileStillGrowingError

#: How long to watch a growing file, in multiples of `stable_for`, before giving up (and letting
#: Airflow retry the task later rather than holding a worker).
PATIENCE = 5

T = TypeVar("T", bound=Hashable)


def wait_until_stable(
    probe: Callable[[], T | None],
    stable_for: timedelta,
    *,
    where: str,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T | None:
    """Return ``probe()`` once it has returned the same value for ``stable_for``.

    ``probe`` returns the current size (or a tuple of sizes for several files; None when the
    server cannot tell: then there is nothing to watch and None is returned at once). Raises
    FileStillGrowingError (transient) when it still changes after ``PATIENCE * stable_for``.
    """
    window = stable_for.total_seconds()
    size = probe()
    if window <= 0 or size is None:
        return size
    step = min(max(window / 4, 0.05), 5.0)
    started = since = clock()
    while True:
        sleep(step)
        now = clock()
        current = probe()
        if current != size:
            size, since = current, now
            if size is None:
                return None
        elif now - since >= window:
            return size
        if now - started >= PATIENCE * window:
            raise FileStillGrowingError(
                f"{where}: still growing (size {size}, still changing after "
                f"{now - started:.0f}s); the ERP is probably still writing it. The task will "
                "retry; if the file is written slowly on purpose, raise `stable_for`"
            )
