"""One source's endless stream of raw samples: shards resampled at random, a shuffle buffer,
and a small state (RNG, shard position, buffer references) that restores the stream exactly.

The buffer's state holds references ``(shard, sample index)`` rather than sample bytes, so a
checkpoint stays small; restoring re-reads those samples from their shards (a few shards per
source at most, since the buffer is filled from recent shards).
"""

from __future__ import annotations

import random
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from datamodules.random_state import state_from_list, state_to_list
from datamodules.samples import read_shard
from lightning_mllm.chat_format import SampleError

# What a broken tar raises while it is read.
SHARD_ERRORS = (tarfile.TarError, OSError, EOFError, ValueError)


@dataclass
class Slot:
    """Which part of the data one (rank, worker) pair reads: ``index`` of ``count`` slots."""

    index: int = 0
    count: int = 1


class SourceCursor:
    """Draws raw samples of one source for one slot, forever.

    With at least as many shards as slots, each slot resamples only its own shards; with fewer,
    every slot reads every shard and keeps the samples whose index falls to it. Either way the
    slots of a run never share a sample.

    Args:
        name: Source name (for messages).
        shards: The source's shard paths, sorted.
        slot: This reader's slot.
        seed: Seed of the shard choices and the shuffle.
        buffer_size: Samples held to shuffle within and across shards.
    """

    def __init__(self, name: str, shards: list[str], slot: Slot, seed: str, buffer_size: int):
        if not shards:
            raise ValueError(f"source {name!r} has no shards")
        self.name = name
        self.split_shards = len(shards) >= slot.count
        self.shards = shards[slot.index::slot.count] if self.split_shards else shards
        self.slot = slot
        self.buffer_size = max(1, buffer_size)
        self.rng = random.Random(seed)
        self.buffer: list[tuple[int, int, dict[str, Any]]] = []
        self.shard = -1  # index into self.shards of the shard being read
        self.offset = 0  # samples read from it so far (split-off samples included)
        self._reader: Iterator[dict[str, Any]] | None = None
        self.errors: list[SampleError] = []  # unreadable shards met since the caller last looked

    def _mine(self, sample_index: int) -> bool:
        return self.split_shards or sample_index % self.slot.count == self.slot.index

    def _open(self, shard: int, skip: int = 0) -> None:
        self.shard, self.offset = shard, 0
        self._reader = read_shard(self.shards[shard])
        while self.offset < skip and self._read_one() is not None:
            pass

    def _read_one(self) -> dict[str, Any] | None:
        """The next raw sample of the current shard, or None at its end (or where it breaks)."""
        try:
            raw = next(self._reader)
        except StopIteration:
            self._reader = None
            return None
        except SHARD_ERRORS as error:
            self.errors.append(SampleError("unreadable_shard", f"{self.shards[self.shard]} after "
                                                               f"{self.offset} samples: {error}"))
            self._reader = None
            return None
        self.offset += 1
        return raw

    def _fill(self) -> None:
        ends = 0  # shard ends (or breaks) in a row without a sample: all shards broken or empty
        while len(self.buffer) < self.buffer_size:
            if self._reader is None:
                self._open(self.rng.randrange(len(self.shards)))
            index = self.offset
            raw = self._read_one()
            if raw is None:
                ends += 1
                if ends > 10 * len(self.shards) + 10:
                    raise RuntimeError(f"source {self.name!r}: no readable sample in its shards "
                                       f"{self.shards[:3]}{'...' if len(self.shards) > 3 else ''}")
                continue
            ends = 0
            if self._mine(index):
                self.buffer.append((self.shard, index, raw))

    def next_raw(self) -> dict[str, Any]:
        """The next raw sample (``__key__``, ``__url__`` and one bytes entry per file)."""
        self._fill()
        return self.buffer.pop(self.rng.randrange(len(self.buffer)))[2]

    def state_dict(self) -> dict[str, Any]:
        return {"rng": state_to_list(self.rng.getstate()), "shard": self.shard,
                "offset": self.offset if self._reader is not None else -1,
                "buffer": [[shard, index] for shard, index, _ in self.buffer]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.setstate(state_from_list(state["rng"]))
        self.buffer = self._reread(state["buffer"])
        self._reader = None
        if state["offset"] >= 0:
            self._open(state["shard"], skip=state["offset"])

    def _reread(self, references: list[list[int]]) -> list[tuple[int, int, dict[str, Any]]]:
        wanted: dict[int, set[int]] = {}
        for shard, index in references:
            wanted.setdefault(shard, set()).add(index)
        found: dict[tuple[int, int], dict[str, Any]] = {}
        for shard, indices in wanted.items():
            self._reader = read_shard(self.shards[shard])
            self.shard, self.offset = shard, 0
            while indices:
                index = self.offset
                raw = self._read_one()
                if raw is None:
                    raise RuntimeError(f"cannot restore the data stream of source {self.name!r}: "
                                       f"{self.shards[shard]} no longer holds sample {max(indices)} "
                                       f"({self.errors[-1] if self.errors else 'the shard is shorter'}); "
                                       f"were the shards rewritten since the checkpoint?")
                if index in indices:
                    found[(shard, index)] = raw
                    indices.discard(index)
        self.errors.clear()
        return [(shard, index, found[(shard, index)]) for shard, index in references]
