"""The WebDataset datamodule: English and Basque tar shards streamed and mixed by weight."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field

import lightning as L
from braceexpand import braceexpand
from torch.utils.data import DataLoader

from datamodules.collate import Collator
from datamodules.shard_streams import MixtureStream, ResolvedSource, ValidationPass
from datamodules.synthetic_shards import SyntheticSpec, write_synthetic_shards
from lightning_mllm.processor import MultimodalProcessor


@dataclass
class Source:
    """One stream of shards.

    Args:
        name: Name used in logs and counters.
        patterns: Shard paths; brace ranges (``en-{000000..000009}.tar``) and globs (``en-*.tar``)
            are expanded; relative paths are taken from the datamodule's ``data_root``.
        weight: Sampling weight; weights are normalised over the training sources.
        lang: Language of the samples (``en``, ``eu``, ...) where their JSON does not say.
    """

    name: str
    patterns: list[str] = field(default_factory=list)
    weight: float = 1.0
    lang: str | None = None


def resolve_source(source: Source, root: str, key: str) -> ResolvedSource:
    """Expands a source's patterns into existing shard files, failing with the config key."""
    if not source.patterns:
        raise ValueError(f"{key}.patterns is empty")
    if source.weight < 0:
        raise ValueError(f"{key}.weight={source.weight} is negative")
    shards: list[str] = []
    for pattern in source.patterns:
        for expanded in braceexpand(pattern):
            path = expanded if os.path.isabs(expanded) else os.path.join(root, expanded)
            matches = sorted(glob.glob(path))
            if not matches:
                raise FileNotFoundError(f"{key}.patterns: no shard matches {path!r}")
            shards.extend(matches)
    return ResolvedSource(source.name, shards, source.weight, source.lang)


class MixtureDataModule(L.LightningDataModule):
    """Streams training samples from several shard sources mixed by weight, and validates on a
    fixed set. The processor (tokenizer, image processor, image token count) comes from the
    model being trained, so data and model always agree.

    Args:
        train_sources: Training sources with their weights.
        val_sources: Validation sources, read once per validation in a fixed order.
        data_root: Folder that relative shard patterns start from.
        batch_size: Samples per batch on each device.
        val_batch_size: Samples per validation batch (default: ``batch_size``).
        num_workers: Loader processes per device.
        samples_per_epoch: Training samples per epoch over all devices; the stream is endless,
            so this fixes the epoch length.
        seed: Seed of the mixture draws and shard resampling.
        shuffle_buffer: Samples held per source to shuffle within and across shards.
        synthetic: When set, the synthetic English+Basque data set is written into ``data_root``
            on first use.
    """

    def __init__(
        self,
        train_sources: list[Source],
        val_sources: list[Source] | None = None,
        data_root: str = ".",
        batch_size: int = 8,
        val_batch_size: int | None = None,
        num_workers: int = 2,
        samples_per_epoch: int = 10000,
        seed: int = 0,
        shuffle_buffer: int = 256,
        synthetic: SyntheticSpec | None = None,
    ):
        super().__init__()
        if not train_sources:
            raise ValueError("data.train_sources is empty")
        if sum(s.weight for s in train_sources) <= 0:
            raise ValueError("data.train_sources: the weights sum to zero")
        self.train_sources = train_sources
        self.val_sources = val_sources or []
        self.data_root = data_root
        self.batch_size = batch_size
        self.val_batch_size = val_batch_size or batch_size
        self.num_workers = num_workers
        self.samples_per_epoch = samples_per_epoch
        self.seed = seed
        self.shuffle_buffer = shuffle_buffer
        self.synthetic = synthetic
        self.processor: MultimodalProcessor | None = None

    def prepare_data(self) -> None:
        if self.synthetic is not None:
            write_synthetic_shards(self.synthetic, self.data_root)

    def setup(self, stage: str) -> None:
        self.train = [resolve_source(s, self.data_root, f"data.train_sources[{i}]")
                      for i, s in enumerate(self.train_sources)]
        self.val = [resolve_source(s, self.data_root, f"data.val_sources[{i}]")
                    for i, s in enumerate(self.val_sources)]
        if self.processor is None:
            if self.trainer is None:
                raise RuntimeError("set MixtureDataModule.processor or attach the datamodule to a Trainer")
            self.processor = self.trainer.lightning_module.processor

    def _rank(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer else (0, 1)

    def _loader(self, dataset, batch_size: int) -> DataLoader:
        return DataLoader(dataset, batch_size=batch_size, num_workers=self.num_workers,
                          collate_fn=Collator(self.processor.pad_token_id),
                          persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        rank, world = self._rank()
        batches = self.samples_per_epoch // (self.batch_size * world)
        if batches < 1:
            raise ValueError(f"data.samples_per_epoch={self.samples_per_epoch} is less than one batch "
                             f"({self.batch_size}) per device on {world} device(s)")
        stream = MixtureStream(self.train, self.processor, self.batch_size, batches, self.seed, rank, world,
                               self.shuffle_buffer)
        return self._loader(stream, self.batch_size)

    def val_dataloader(self) -> DataLoader | list:
        if not self.val:
            return []
        rank, world = self._rank()
        return self._loader(ValidationPass(self.val, self.processor, rank, world), self.val_batch_size)
