"""Split items into calls by item count and by encoded size.

The Import Connector API takes at most 50,000 items per call; a body in the megabytes also risks
proxy and server limits, so both bounds are configurable. Sizes are exact: each item is measured
as it will be encoded at its position in its batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from saleslayer_airflow.exceptions import SalesLayerTerminalError

#: The API's hard limit of items per ``set_info`` call.
MAX_ITEMS_PER_CALL = 50_000
DEFAULT_MAX_ITEMS = 10_000
#: PHP's default ``post_max_size`` (8 MB): a body no PHP endpoint refuses by default.
DEFAULT_MAX_BYTES = 8 * 1024 * 1024

if TYPE_CHECKING:
    import numpy as np

T = TypeVar("T")


@dataclass(frozen=True)
class BatchLimits:
    """Upper bounds of one call: items and encoded body bytes."""

    max_items: int = DEFAULT_MAX_ITEMS
    max_bytes: int = DEFAULT_MAX_BYTES

    def __post_init__(self) -> None:
        if not 1 <= self.max_items <= MAX_ITEMS_PER_CALL:
            raise ValueError(
                f"max_items={self.max_items}: must be between 1 and {MAX_ITEMS_PER_CALL} "
                "(the Import Connector API's limit per call)"
            )
        if self.max_bytes < 1024:
            raise ValueError(f"max_bytes={self.max_bytes}: must be at least 1024")


@dataclass
class Batch(Generic[T]):
    """Items of one call and their encoded parts (joined with ``&`` they form the body)."""

    items: list[T]
    parts: list[str]
    size: int


def split_batches(
    items: Iterable[T],
    limits: BatchLimits,
    encode: Callable[[int, T], str],
    *,
    describe: Callable[[T], str],
    overhead: int = 0,
) -> Iterator[Batch[T]]:
    """Yield batches of at most ``limits.max_items`` items whose body (parts joined by ``&``,
    plus ``overhead`` bytes) stays within ``limits.max_bytes``.

    ``encode(index, item)`` gives the item's encoded part at ``index`` within its batch;
    ``describe(item)`` names it in the error raised when one item alone exceeds the cap.
    """
    batch: Batch[T] = Batch([], [], overhead)
    for item in items:
        part = encode(len(batch.items), item)
        added = len(part) + (1 if batch.parts else 0)
        if batch.items and (
            len(batch.items) >= limits.max_items or batch.size + added > limits.max_bytes
        ):
            yield batch
            batch = Batch([], [], overhead)
            part = encode(0, item)
            added = len(part)
        if overhead + len(part) > limits.max_bytes:
            raise SalesLayerTerminalError(
                f"{describe(item)} alone encodes to {len(part) + overhead:,} bytes, more than "
                f"the {limits.max_bytes:,} bytes allowed per call; shorten its values or raise "
                "the batch size cap (max_bytes)"
            )
        batch.items.append(item)
        batch.parts.append(part)
        batch.size += added
    if batch.items:
        yield batch


def index_digits(indices: np.ndarray) -> np.ndarray:
    """How many characters ``str(i)`` has, for each of the non-negative ``indices``."""
    import numpy as np

    count = np.ones(len(indices), dtype=np.int64)
    bound = 10
    while len(indices) and bound <= int(indices.max()):
        count += indices >= bound
        bound *= 10
    return count


def split_by_sizes(
    lengths: np.ndarray,
    holes: np.ndarray,
    limits: BatchLimits,
    *,
    describe: Callable[[int], str],
    overhead: int = 0,
) -> list[tuple[int, int]]:
    """The calls :func:`split_batches` would cut items into, as ``(start, stop)`` ranges, from
    the items' encoded parts measured once instead of encoded at each position: item ``i``'s
    part is ``lengths[i]`` characters with ``holes[i]`` one-character places for its index in
    its call (each becomes ``str(index)``). ``describe(i)`` names item ``i`` in the error
    raised when it alone exceeds the cap."""
    import numpy as np

    size = len(lengths)
    bounds: list[tuple[int, int]] = []
    start = 0
    while start < size:
        stop = min(size, start + limits.max_items)
        indices = np.arange(stop - start, dtype=np.int64)
        parts = lengths[start:stop] + holes[start:stop] * (index_digits(indices) - 1)
        # The body after each item: the parts so far, an "&" between two, and the overhead.
        totals = overhead + np.cumsum(parts) + indices
        fits = int(np.searchsorted(totals, limits.max_bytes, side="right"))
        if fits == 0:
            raise SalesLayerTerminalError(
                f"{describe(start)} alone encodes to {int(parts[0]) + overhead:,} bytes, more "
                f"than the {limits.max_bytes:,} bytes allowed per call; shorten its values or "
                "raise the batch size cap (max_bytes)"
            )
        bounds.append((start, start + fits))
        start += fits
    return bounds
