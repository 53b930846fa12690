"""The weighted training mixture over tar shards, and what its validation counterpart shares.

Each source is read in passes (``datamodules.shard_cursor``): every pass visits each of its
samples once, split over ranks and loader workers. Each data worker's share of an epoch is planned
with exact per-source quotas (the weights' shares, remainders carried to the next epoch), so an
epoch sized to the data reads each sample once.

The training stream yields whole batches (lists of encoded samples): it draws a group of
``group_batches`` batches' worth of samples, sorts them by length and cuts them into batches, so
each batch holds samples of similar length and wastes little padding; the batches of a group are
then shuffled. Its state (``state_dict``) is where the current group started plus how many of its
batches were yielded, which restores the stream exactly.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from torch.utils.data import IterableDataset, get_worker_info

from datamodules.random_state import state_from_list, state_to_list
from datamodules.samples import decode_sample, encode_sample
from datamodules.shard_cursor import Slot, SourceCursor
from datamodules.shard_index import ShardCount, count_shards
from lightning_mllm.chat_format import SampleError
from lightning_mllm.processor import MultimodalProcessor

log = logging.getLogger(__name__)
WARNINGS_PER_WORKER = 5
BAD_FRACTION_GRACE = 200  # draws before the bad-sample fraction is judged
MAX_FAILURES_IN_A_ROW = 1000


@dataclass
class ResolvedSource:
    """A source with its shard list expanded, its normalised sampling probability and the samples
    in each shard (counted when missing; for validation, only what manifests state)."""

    name: str
    shards: list[str]
    weight: float
    lang: str | None
    counts: list[ShardCount | None] | None = None

    def shard_counts(self) -> list[ShardCount]:
        if self.counts is None:
            self.counts = count_shards(self.shards)
        return self.counts


def _worker() -> tuple[int, int]:
    info = get_worker_info()
    return (info.id, info.num_workers) if info else (0, 1)


class SkipLog:
    """Skipped samples since the last kept batch: counts by reason and where each was."""

    def __init__(self) -> None:
        self.pending: list[tuple[str, str]] = []
        self.warned = 0

    def skip(self, error: SampleError) -> None:
        self.pending.append((error.reason, str(error)))
        if self.warned < WARNINGS_PER_WORKER:
            self.warned += 1
            log.warning("skipped sample (%s)", error)

    def take(self) -> list[tuple[str, str]]:
        pending, self.pending = self.pending, []
        return pending


def prepare(raw: dict[str, Any], source: ResolvedSource, processor: MultimodalProcessor,
            with_prompt: bool) -> dict[str, Any]:
    """Decodes and encodes one raw sample; ``SampleError`` when it is unusable."""
    decoded = decode_sample(raw)
    if source.lang:
        decoded["record"].setdefault("lang", source.lang)
    sample = encode_sample(decoded, processor, with_prompt)
    sample["source"] = source.name
    return sample


def group_by_length(samples: list[dict[str, Any]], batch_size: int, rng: random.Random) -> list[list[dict[str, Any]]]:
    """Cuts ``samples`` into batches of similar length, in random batch order."""
    ordered = sorted(samples, key=lambda s: len(s["input_ids"]))
    batches = [ordered[i:i + batch_size] for i in range(0, len(ordered), batch_size)]
    rng.shuffle(batches)
    return batches


@dataclass
class _WorkerState:
    rng: random.Random
    cursors: list[SourceCursor]
    per_epoch: int  # batches this worker yields per epoch
    left: int = 0  # batches still to yield in the current epoch
    draws: int = 0
    bad: int = 0
    quota: list[int] = field(default_factory=list)  # per source: draws left in this epoch's plan
    credit: list[float] = field(default_factory=list)  # per source: quota owed but not yet planned
    group_start: dict[str, Any] | None = None
    group_size: int = 0  # batches in the current group
    pending: list[list[dict[str, Any]]] = field(default_factory=list)
    yielded_in_group: int = 0


class MixtureStream(IterableDataset):
    """Endless per-source streams mixed by weight, yielding batches of encoded samples.

    Every (rank, worker) pair is a slot with its own deterministic stream from ``seed`` and its
    own part of each pass over each source (``SourceCursor``), so slots never share a sample
    within a pass; each rank yields exactly ``batches_per_rank`` batches per epoch, so all ranks
    run the same number of steps. Epochs continue the streams rather than restart them.

    Args:
        sources: Training sources with normalised weights.
        processor: Tokenizer, chat formatter and image processor.
        batch_size: Samples per batch.
        batches_per_rank: Batches each rank yields per epoch.
        seed: Seed of every draw.
        rank: This process's rank.
        world_size: Number of processes.
        shuffle_buffer: Raw samples each source holds to shuffle.
        group_batches: Batches per length-grouping group (1: no grouping).
        max_bad_fraction: Largest tolerated fraction of unusable samples; more stops training.
    """

    def __init__(self, sources: list[ResolvedSource], processor: MultimodalProcessor, batch_size: int,
                 batches_per_rank: int, seed: int, rank: int, world_size: int, shuffle_buffer: int,
                 group_batches: int = 1, max_bad_fraction: float = 0.05):
        self.sources = sources
        self.processor = processor
        self.batch_size = batch_size
        self.batches_per_rank = batches_per_rank
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.shuffle_buffer = shuffle_buffer
        self.group_batches = max(1, group_batches)
        self.max_bad_fraction = max_bad_fraction
        self.skips = SkipLog()
        self._w: _WorkerState | None = None  # built inside each worker process

    def __len__(self) -> int:
        return self.batches_per_rank

    def _per_epoch(self, worker: int, workers: int) -> int:
        return self.batches_per_rank // workers + int(worker < self.batches_per_rank % workers)

    def _start(self) -> _WorkerState:
        worker, workers = _worker()
        # Each slot's share of a pass follows the batches it yields per epoch, so an epoch sized
        # to the data reads every sample once even when the workers' batch counts differ.
        shares = [self._per_epoch(k, workers) for k in range(workers)] * self.world_size
        slot = Slot(self.rank * workers + worker, self.world_size * workers, shares)
        cursors = [SourceCursor(s.name, s.shards, s.shard_counts(), slot, f"{self.seed}/{s.name}",
                                f"{self.seed}/{s.name}/{slot.index}/{slot.count}", self.shuffle_buffer)
                   for s in self.sources]
        return _WorkerState(random.Random(f"{self.seed}/{slot.index}/{slot.count}"), cursors,
                            self._per_epoch(worker, workers))

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        if self._w is None:
            self._w = self._start()
        w = self._w
        if w.left == 0:
            w.left = w.per_epoch
        while w.left > 0:
            if w.yielded_in_group == len(w.pending):
                self._draw_group(min(self.group_batches, w.left))
            batch = w.pending[w.yielded_in_group]
            w.yielded_in_group += 1
            w.left -= 1
            yield batch

    def _snapshot(self) -> dict[str, Any]:
        w = self._w
        return {"rng": state_to_list(w.rng.getstate()), "cursors": [c.state_dict() for c in w.cursors],
                "draws": w.draws, "bad": w.bad, "quota": list(w.quota), "credit": list(w.credit)}

    def _restore(self, snapshot: dict[str, Any]) -> None:
        w = self._w
        w.rng.setstate(state_from_list(snapshot["rng"]))
        for cursor, state in zip(w.cursors, snapshot["cursors"]):
            cursor.load_state_dict(state)
        w.draws, w.bad = snapshot["draws"], snapshot["bad"]
        w.quota, w.credit = list(snapshot["quota"]), list(snapshot["credit"])

    def _draw_group(self, batches: int) -> None:
        """Draws ``batches`` batches' worth of samples; a group never reaches into the next
        epoch, so each epoch's batches hold exactly the samples drawn for it."""
        w = self._w
        w.group_start, w.group_size = self._snapshot(), batches
        samples = [self._draw() for _ in range(batches * self.batch_size)]
        w.pending = group_by_length(samples, self.batch_size, w.rng)
        w.yielded_in_group = 0
        # Skips found while drawing travel with the group's first batch: a resumed run that
        # redraws the group and drops its yielded batches then drops their skips too.
        w.pending[0][0]["skipped"] = self.skips.take()

    def _plan_epoch(self) -> None:
        """Plans this slot's draws for one epoch: each source gets its weight's share, rounded
        with the remainders carried to the next epoch. The realised ratio is then exact per
        epoch, instead of drifting like independent draws."""
        w = self._w
        draws = w.per_epoch * self.batch_size
        if not w.credit:
            w.credit = [0.0] * len(self.sources)
        counts = []
        for i, source in enumerate(self.sources):
            w.credit[i] += source.weight * draws
            counts.append(int(w.credit[i]))
        by_remainder = sorted(range(len(counts)), key=lambda i: w.credit[i] - counts[i], reverse=True)
        for i in by_remainder[:draws - sum(counts)]:
            counts[i] += 1
        for i, n in enumerate(counts):
            w.credit[i] -= n
        w.quota = counts

    def _next_source(self) -> int:
        """A source index drawn without replacement from the epoch's quotas (a shuffled plan)."""
        w = self._w
        if not any(w.quota):
            self._plan_epoch()
        pick = w.rng.randrange(sum(w.quota))
        for index, left in enumerate(w.quota):
            if pick < left:
                w.quota[index] -= 1
                return index
            pick -= left
        raise AssertionError("unreachable: pick < sum(quota)")

    def _draw(self) -> dict[str, Any]:
        w = self._w
        index = self._next_source()
        cursor = w.cursors[index]
        for _ in range(MAX_FAILURES_IN_A_ROW):  # an unusable sample is replaced from the same source
            raw = cursor.next_raw()
            for error in cursor.errors:
                self._count_bad(error)
            cursor.errors.clear()
            w.draws += 1
            try:
                sample = prepare(raw, self.sources[index], self.processor, False)
            except SampleError as error:
                self._count_bad(error)
                continue
            sample["pass"] = cursor.progress
            return sample
        raise RuntimeError(f"source {self.sources[index].name!r}: {MAX_FAILURES_IN_A_ROW} unusable samples "
                           f"in a row; is it in the docs/design.md sample format?")

    def _count_bad(self, error: SampleError) -> None:
        w = self._w
        w.bad += 1
        self.skips.skip(error)
        if w.bad > self.max_bad_fraction * max(w.draws, BAD_FRACTION_GRACE):
            reasons = Counter(reason for reason, _ in self.skips.pending)
            raise RuntimeError(
                f"{w.bad} of {w.draws} samples drawn by this data worker were unusable, more than "
                f"data.max_bad_fraction={self.max_bad_fraction}; recent reasons {dict(reasons)}; "
                f"last: {error}. Fix or remove the bad shards (python -m datamodules.shards lists "
                f"rejects when converting) or raise data.max_bad_fraction.")

    def state_dict(self) -> dict[str, Any]:
        w = self._w
        if w is None:
            return {}
        return {"group_start": w.group_start, "group_size": w.group_size,
                "yielded_in_group": w.yielded_in_group, "left": w.left}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self._w = self._start()
        self._w.left = state["left"]
        if state["group_start"] is not None:
            self._restore(state["group_start"])
            self._draw_group(state["group_size"])
            self._w.yielded_in_group = state["yielded_in_group"]
