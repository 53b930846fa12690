"""Which samples of a source each reader takes in one pass over it.

A pass lays the source's shards end to end in a seeded order (the same for every reader, new for
every pass) and cuts that sequence of samples into one contiguous range per reader (a
(rank, loader worker) pair), sized in proportion to the batches the reader yields per epoch. So
every sample belongs to exactly one reader in each pass, uneven shards and fewer shards than
readers included, and a reader opens only the shards its range covers (a shard at a range's edge
is read by two readers, each its own part of it).
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    """Samples ``start`` (inclusive) to ``end`` (exclusive) of shard ``shard``, in file order."""

    shard: int
    start: int
    end: int


def shard_order(shards: int, seed: str, pass_index: int) -> list[int]:
    """The seeded order of a source's shards in one pass (the same on every reader)."""
    order = list(range(shards))
    random.Random(f"{seed}/pass/{pass_index}").shuffle(order)
    return order


def reader_range(total: int, shares: list[int], reader: int) -> tuple[int, int]:
    """Positions ``[low, high)`` of the pass that ``reader`` takes, in proportion to ``shares``."""
    whole = sum(shares)
    before = sum(shares[:reader])
    return total * before // whole, total * (before + shares[reader]) // whole


def pass_segments(counts: list[int], seed: str, pass_index: int, shares: list[int],
                  reader: int) -> list[Segment]:
    """The segments ``reader`` reads, in order, in pass ``pass_index``.

    A source with fewer samples than readers leaves some readers' ranges empty; the readers then
    take turns from pass to pass (the range order rotates), so each still reads now and then.
    A shard counted as empty (unreadable when counted) goes to the reader whose range holds its
    position, which opens it and reports it.
    """
    total = sum(counts)
    if total < len(shares):
        reader = (reader + pass_index) % len(shares)
    low, high = reader_range(total, shares, reader)
    last = max(k for k, share in enumerate(shares) if share > 0)
    segments = []
    position = 0
    for shard in shard_order(len(counts), seed, pass_index):
        n = counts[shard]
        if n == 0:
            if low <= position < high or (position == total and reader == last):
                segments.append(Segment(shard, 0, 0))
        elif position < high and position + n > low:
            segments.append(Segment(shard, max(low, position) - position, min(high, position + n) - position))
        position += n
    return segments
