"""Iterable datasets over tar shards: a weighted, resampled training mixture and a fixed validation pass."""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from torch.utils.data import IterableDataset, get_worker_info

from datamodules.samples import decode_sample, encode_sample, read_shard
from lightning_mllm.chat_format import SampleError
from lightning_mllm.processor import MultimodalProcessor

log = logging.getLogger(__name__)
MAX_CONSECUTIVE_FAILURES = 1000
WARNINGS_PER_WORKER = 5


@dataclass
class ResolvedSource:
    """A source with its shard list expanded."""

    name: str
    shards: list[str]
    weight: float
    lang: str | None


def _worker() -> tuple[int, int]:
    info = get_worker_info()
    return (info.id, info.num_workers) if info else (0, 1)


class _SkipCounter:
    """Counts skipped samples by reason and hands the counts to the next sample that is kept."""

    def __init__(self) -> None:
        self.pending: Counter = Counter()
        self.warned = 0

    def skip(self, error: SampleError) -> None:
        self.pending[error.reason] += 1
        if self.warned < WARNINGS_PER_WORKER:
            self.warned += 1
            log.warning("skipped sample (%s)", error)

    def attach(self, sample: dict[str, Any]) -> dict[str, Any]:
        sample["skipped"], self.pending = self.pending, Counter()
        return sample


def _prepare(raw: dict[str, Any], source: ResolvedSource, processor: MultimodalProcessor,
             with_prompt: bool) -> dict[str, Any]:
    decoded = decode_sample(raw)
    if source.lang:
        decoded["record"].setdefault("lang", source.lang)
    sample = encode_sample(decoded, processor, with_prompt)
    sample["source"] = source.name
    return sample


class MixtureStream(IterableDataset):
    """Endless per-source streams, each over randomly resampled shards, mixed by weight.

    Every (rank, worker) pair draws its own deterministic stream from ``seed``; each rank yields
    exactly ``batches_per_rank`` batches per epoch, so all ranks run the same number of steps.
    """

    def __init__(self, sources: list[ResolvedSource], processor: MultimodalProcessor, batch_size: int,
                 batches_per_rank: int, seed: int, rank: int, world_size: int, shuffle_buffer: int):
        self.sources = sources
        self.processor = processor
        self.batch_size = batch_size
        self.batches_per_rank = batches_per_rank
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.shuffle_buffer = shuffle_buffer
        # Advanced in each worker's copy; persistent workers keep it across epochs.
        self.epoch = 0

    def __len__(self) -> int:
        return self.batches_per_rank * self.batch_size

    def _samples(self, source: ResolvedSource, rng: random.Random) -> Iterator[dict[str, Any]]:
        buffer: list[dict[str, Any]] = []
        while True:
            for raw in read_shard(rng.choice(source.shards)):
                buffer.append(raw)
                if len(buffer) >= self.shuffle_buffer:
                    yield buffer.pop(rng.randrange(len(buffer)))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        worker, workers = _worker()
        batches = self.batches_per_rank // workers + int(worker < self.batches_per_rank % workers)
        rng = random.Random(f"{self.seed}/{self.epoch}/{self.rank}/{worker}")
        self.epoch += 1
        streams = [self._samples(s, random.Random(rng.random())) for s in self.sources]
        weights = [s.weight for s in self.sources]
        skips = _SkipCounter()
        for _ in range(batches * self.batch_size):
            for _attempt in range(MAX_CONSECUTIVE_FAILURES):
                index = rng.choices(range(len(self.sources)), weights)[0]
                try:
                    sample = _prepare(next(streams[index]), self.sources[index], self.processor, False)
                except SampleError as error:
                    skips.skip(error)
                    continue
                yield skips.attach(sample)
                break
            else:
                raise RuntimeError(f"{MAX_CONSECUTIVE_FAILURES} samples in a row were unusable; "
                                   f"skipped so far: {dict(skips.pending)}")


class ValidationPass(IterableDataset):
    """Every sample of the validation shards exactly once, split by rank and worker by sample
    index, so the evaluated set is the same whatever the number of processes."""

    def __init__(self, sources: list[ResolvedSource], processor: MultimodalProcessor, rank: int, world_size: int):
        self.sources = sources
        self.processor = processor
        self.rank = rank
        self.world_size = world_size

    def __iter__(self) -> Iterator[dict[str, Any]]:
        worker, workers = _worker()
        slots = self.world_size * workers
        slot = self.rank * workers + worker
        skips = _SkipCounter()
        index = 0
        for source in self.sources:
            for shard in source.shards:
                for raw in read_shard(shard):
                    index += 1
                    if (index - 1) % slots != slot:
                        continue
                    try:
                        yield skips.attach(_prepare(raw, source, self.processor, True))
                    except SampleError as error:
                        skips.skip(error)
