"""One source's endless stream of raw samples for one reader, read in passes: each pass visits
this reader's part of every shard once (``datamodules.pass_plan``), through a shuffle buffer
that empties at the pass's end, then the next pass starts in a new seeded order.

The state (RNG, pass, segment, shard offset, buffer references) restores the stream exactly. The
buffer's state holds references ``(shard, sample index)`` rather than sample bytes, so a
checkpoint stays small; restoring re-reads those samples from their shards.
"""

from __future__ import annotations

import random
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from datamodules.pass_plan import Segment, pass_segments
from datamodules.random_state import state_from_list, state_to_list
from datamodules.samples import read_shard
from datamodules.shard_index import ShardCount
from lightning_mllm.chat_format import SampleError

# What a broken tar raises while it is read.
SHARD_ERRORS = (tarfile.TarError, OSError, EOFError, ValueError)


@dataclass
class Slot:
    """Which part of the data one (rank, worker) pair reads: ``index`` of ``count`` readers, whose
    shares of each pass are ``shares`` (the batches each yields per epoch; equal by default)."""

    index: int = 0
    count: int = 1
    shares: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.shares = list(self.shares) or [1] * self.count


def truncation(path: str, read: int, count: ShardCount | None, last_key: str | None) -> SampleError | None:
    """A ``truncated_shard`` error when a shard ended after ``read`` samples but holds more."""
    if count is None or read >= count.samples:
        return None
    said = f"its manifest {count.manifest} lists {count.samples}" if count.manifest else \
        f"it held {count.samples} when the run started"
    return SampleError("truncated_shard", f"{path} ended after {read} samples (last key {last_key}), but {said}")


class SourceCursor:
    """Draws raw samples of one source for one reader, pass after pass.

    Args:
        name: Source name (for messages).
        shards: The source's shard paths, sorted.
        counts: Samples in each shard (``datamodules.shard_index``).
        slot: This reader's slot and every reader's share.
        seed: Seed of the pass orders (the same on every reader).
        buffer_seed: Seed of this reader's shuffle.
        buffer_size: Samples held to shuffle within and across shards.
    """

    def __init__(self, name: str, shards: list[str], counts: list[ShardCount], slot: Slot, seed: str,
                 buffer_seed: str, buffer_size: int):
        if not shards:
            raise ValueError(f"source {name!r} has no shards")
        self.name = name
        self.shards = shards
        self.counts = counts
        self.sizes = [c.samples for c in counts]
        self.slot = slot
        self.seed = seed
        self.buffer_size = max(1, buffer_size)
        self.rng = random.Random(buffer_seed)
        self.buffer: list[tuple[int, int, dict[str, Any]]] = []
        self.pass_index = -1
        self.segments: list[Segment] = []
        self.segment = 0  # index into self.segments of the next segment to open (or the open one)
        self.offset = 0  # samples read from the open shard so far (skipped ones included)
        self.last_key: str | None = None  # of the last sample read from the open shard
        self.delivered = 0  # samples handed out in this pass
        self.share = 1  # samples in this reader's part of the pass (at least 1, for the progress)
        self._reader: Iterator[dict[str, Any]] | None = None
        self.errors: list[SampleError] = []  # broken or truncated shards met since the caller last looked

    @property
    def progress(self) -> float:
        """Passes made over this reader's part of the source (2.5: two passes and half the third)."""
        return self.pass_index + self.delivered / self.share

    def _start_pass(self, pass_index: int) -> None:
        self.pass_index = pass_index
        self.segments = pass_segments(self.sizes, self.seed, pass_index, self.slot.shares, self.slot.index)
        self.share = max(1, sum(s.end - s.start for s in self.segments))
        self.segment, self.delivered, self._reader = 0, 0, None

    def _open(self, skip: int) -> None:
        segment = self.segments[self.segment]
        self.offset, self.last_key = 0, None
        self._reader = read_shard(self.shards[segment.shard])
        while self.offset < skip and self._read_one() is not None:
            pass

    def _read_one(self) -> dict[str, Any] | None:
        """The next raw sample of the open segment, or None at its end (or where the shard breaks)."""
        segment = self.segments[self.segment]
        try:
            raw = next(self._reader)
        except StopIteration:
            error = truncation(self.shards[segment.shard], self.offset, self.counts[segment.shard], self.last_key)
            if error is not None:
                self.errors.append(error)
            self._end_segment()
            return None
        except SHARD_ERRORS as error:
            self.errors.append(SampleError("unreadable_shard", f"{self.shards[segment.shard]} after "
                                                               f"{self.offset} samples: {error}"))
            self._end_segment()
            return None
        self.offset += 1
        self.last_key = raw.get("__key__")
        if self.offset >= segment.end:
            self._end_segment()
        # A shard counted as empty that yields a sample anyway belongs to no reader's range.
        return raw if self.offset <= segment.end else None

    def _end_segment(self) -> None:
        self._reader = None
        self.segment += 1

    def _fill(self) -> None:
        while len(self.buffer) < self.buffer_size and self.segment < len(self.segments):
            if self._reader is None:
                self._open(self.segments[self.segment].start)
                if self._reader is None:  # the shard ended (or broke) before the segment began
                    continue
            shard, index = self.segments[self.segment].shard, self.offset
            raw = self._read_one()
            if raw is not None:
                self.buffer.append((shard, index, raw))

    def next_raw(self) -> dict[str, Any]:
        """The next raw sample (``__key__``, ``__url__`` and one bytes entry per file)."""
        if self.pass_index < 0:
            self._start_pass(0)
        self._fill()
        empty = 0
        while not self.buffer:  # this reader's part of the pass is done: the next pass
            empty += 1
            if empty > 2 * self.slot.count + 10:
                raise RuntimeError(f"source {self.name!r}: no readable sample in its shards "
                                   f"{self.shards[:3]}{'...' if len(self.shards) > 3 else ''}")
            self._start_pass(self.pass_index + 1)
            self._fill()
        self.delivered += 1
        return self.buffer.pop(self.rng.randrange(len(self.buffer)))[2]

    def state_dict(self) -> dict[str, Any]:
        return {"rng": state_to_list(self.rng.getstate()), "pass": self.pass_index, "segment": self.segment,
                "offset": self.offset if self._reader is not None else -1, "delivered": self.delivered,
                "samples": sum(self.sizes), "buffer": [[shard, index] for shard, index, _ in self.buffer]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["samples"] != sum(self.sizes):
            raise RuntimeError(f"cannot restore the data stream of source {self.name!r}: its shards held "
                               f"{state['samples']} samples at the checkpoint and hold {sum(self.sizes)} now; "
                               f"were the shards rewritten since the checkpoint?")
        self.rng.setstate(state_from_list(state["rng"]))
        self._reader = None
        if state["pass"] >= 0:
            self._start_pass(state["pass"])
        self.buffer = self._reread(state["buffer"])
        self.segment, self.delivered = state["segment"], state["delivered"]
        if state["offset"] >= 0:
            self._open(state["offset"])
        self.errors.clear()  # met again on the way back: reported before the checkpoint

    def _reread(self, references: list[list[int]]) -> list[tuple[int, int, dict[str, Any]]]:
        wanted: dict[int, set[int]] = {}
        for shard, index in references:
            wanted.setdefault(shard, set()).add(index)
        found: dict[tuple[int, int], dict[str, Any]] = {}
        for shard, indices in wanted.items():
            for index, raw in enumerate(read_shard(self.shards[shard])):
                if index in indices:
                    found[(shard, index)] = raw
                    indices.discard(index)
                    if not indices:
                        break
            if indices:
                raise RuntimeError(f"cannot restore the data stream of source {self.name!r}: "
                                   f"{self.shards[shard]} no longer holds sample {max(indices)}; "
                                   f"were the shards rewritten since the checkpoint?")
        return [(shard, index, found[(shard, index)]) for shard, index in references]
