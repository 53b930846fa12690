"""The validation set read once, in a fixed order, split over ranks and loader workers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch.utils.data import IterableDataset

from datamodules.samples import read_shard
from datamodules.shard_cursor import SHARD_ERRORS, truncation
from datamodules.shard_streams import ResolvedSource, SkipLog, _worker, prepare
from lightning_mllm.chat_format import SampleError
from lightning_mllm.processor import MultimodalProcessor


class ValidationPass(IterableDataset):
    """Every sample of the validation shards exactly once, in a fixed order, split by rank and
    worker by sample index, so the evaluated set is the same whatever the number of processes.

    An unreadable shard (a 0-byte file, a broken tar) is skipped as ``unreadable_shard`` and a
    shard that ends before the count its manifest states as ``truncated_shard``, each reported by
    one reader only (the one the next sample would have gone to). Skips travel with the next kept
    sample, and the last kept sample of a reader carries the ones after it.

    Args:
        sources: Validation sources (``counts``: each shard's manifest count, or None).
        processor: Tokenizer, chat formatter and image processor.
        rank: This process's rank.
        world_size: Number of processes.
    """

    def __init__(self, sources: list[ResolvedSource], processor: MultimodalProcessor, rank: int, world_size: int):
        self.sources = sources
        self.processor = processor
        self.rank = rank
        self.world_size = world_size

    def _raw_samples(self, skips: SkipLog, slot: int, slots: int) -> Iterator[tuple[ResolvedSource, dict[str, Any]]]:
        """This reader's raw samples; broken and truncated shards go to ``skips``."""
        index = 0  # samples read so far over all shards, which decides the reader of each
        for source in self.sources:
            counts = source.counts or [None] * len(source.shards)
            for shard, count in zip(source.shards, counts):
                reader, read, error, key = read_shard(shard), 0, None, None
                while True:
                    try:
                        raw = next(reader)
                    except StopIteration:
                        error = truncation(shard, read, count, key)
                        break
                    except SHARD_ERRORS as broken:
                        error = SampleError("unreadable_shard", f"{shard} after {read} samples: {broken}")
                        break
                    read, index, key = read + 1, index + 1, raw.get("__key__")
                    if (index - 1) % slots == slot:
                        yield source, raw
                if error is not None and index % slots == slot:
                    skips.skip(error)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        worker, workers = _worker()
        skips = SkipLog()
        held = None  # the last kept sample, yielded once the next one (or the end) is known
        for source, raw in self._raw_samples(skips, self.rank * workers + worker, self.world_size * workers):
            try:
                sample = prepare(raw, source, self.processor, True)
            except SampleError as error:
                skips.skip(error)
                continue
            if held is not None:
                yield held
            sample["skipped"] = skips.take()
            held = sample
        if held is not None:
            held["skipped"] = held["skipped"] + skips.take()
            yield held
