"""The WebDataset datamodule: English and Basque tar shards streamed and mixed by weight."""

from __future__ import annotations

import glob
import os
import warnings
from typing import Any

import lightning as L
from braceexpand import braceexpand
from lightning.pytorch.utilities import rank_zero_info
from torch.utils.data import DataLoader
from torchdata.stateful_dataloader import StatefulDataLoader

from lightning_mllm.mixture_weights import MixtureShares, Source, source_weights
from datamodules.ranked_loader import RankedStatefulDataLoader
from datamodules.shard_index import count_shards, manifest_counts
from datamodules.shard_streams import MixtureStream, ResolvedSource
from datamodules.synthetic_shards import SyntheticSpec, write_synthetic_shards
from datamodules.validation_pass import ValidationPass
from lightning_mllm.collate import Collator
from lightning_mllm.processor import MultimodalProcessor


def resolve_source(source: Source, root: str, key: str, weight: float | None = None) -> ResolvedSource:
    """Expands a source's patterns into existing shard files and counts their samples, failing
    with the config key. A training source (``weight`` given) is counted whole (manifests, else tar
    headers) and must hold samples; a validation source takes only what manifests state."""
    if not source.patterns:
        raise ValueError(f"{key}.patterns is empty")
    shards: list[str] = []
    for pattern in source.patterns:
        for expanded in braceexpand(pattern):
            path = expanded if os.path.isabs(expanded) else os.path.join(root, expanded)
            matches = sorted(glob.glob(path))
            if not matches:
                raise FileNotFoundError(f"{key}.patterns: no shard matches {path!r}")
            shards.extend(matches)
    if weight is None:
        return ResolvedSource(source.name, shards, 0.0, source.lang, manifest_counts(shards))
    counts = count_shards(shards)
    if not sum(c.samples for c in counts):
        broken = [f"{path} ({c.error})" for path, c in zip(shards, counts) if c.error]
        raise ValueError(f"{key}: its {len(shards)} shard(s) hold no sample"
                         + (f"; unreadable: {', '.join(broken[:3])}" if broken else ""))
    return ResolvedSource(source.name, shards, weight, source.lang, counts)


class MixtureDataModule(L.LightningDataModule):
    """Streams training samples from several shard sources mixed by weight, and validates on a
    fixed set. The processor (tokenizer, image processor, image token count) comes from the
    model being trained, so data and model always agree. The training loader is a torchdata
    ``StatefulDataLoader``: Lightning stores its state in checkpoints, and a resumed run sees the
    batches the uninterrupted run would have seen.

    Args:
        train_sources: Training sources with their weights.
        val_sources: Validation sources, read once per validation in a fixed order.
        data_root: Folder that relative shard patterns start from.
        batch_size: Samples per batch on each device.
        val_batch_size: Samples per validation batch (default: ``batch_size``).
        num_workers: Loader processes per device.
        samples_per_epoch: Training samples per epoch over all devices; the stream is endless,
            so this fixes the epoch length (and so the step count of every rank).
        seed: Seed of the mixture draws and shard resampling.
        shuffle_buffer: Raw samples held per source and worker to shuffle within and across shards.
        mixture: The paper's grid stated directly (Basque share of the multimodal data, share of
            text-only data); the sources' weights then split each share among its sources.
        weights: Per-source weight overrides by name, for sweeps that keep the source list of a
            base config (stacked YAML replaces lists whole).
        group_batches: Batches drawn together and cut by length to cut padding (1: off).
        max_bad_fraction: Largest fraction of unusable samples (corrupt image, missing JSON,
            unreadable shard) a data worker tolerates before it stops training.
        synthetic: When set, the synthetic English+Basque data set is written into ``data_root``
            on first use.
        pack_length: Pack each training batch's samples into rows of up to this many tokens with
            per-sample attention (``lightning_mllm/packing.py``), so padding costs nothing; at least
            the model's ``max_length``. None pads one sample per row.
        reduced_decode: Decode a JPEG at least 3x the model's image input at 1/2, 1/4 or 1/8 scale
            (libjpeg's DCT scaling; the tensor differs from a full decode's by about 0.25 on the
            0-255 scale); False decodes every image in full.
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
        mixture: MixtureShares | None = None,
        weights: dict[str, float] | None = None,
        group_batches: int = 8,
        max_bad_fraction: float = 0.05,
        synthetic: SyntheticSpec | None = None,
        pack_length: int | None = None,
        reduced_decode: bool = True,
    ):
        super().__init__()
        if not train_sources:
            raise ValueError("data.train_sources is empty")
        if not 0.0 <= max_bad_fraction <= 1.0:
            raise ValueError(f"data.max_bad_fraction={max_bad_fraction} must be between 0 and 1")
        if batch_size < 1 or group_batches < 1:
            raise ValueError(f"data.batch_size={batch_size} and data.group_batches={group_batches} must be positive")
        # Checked now, before any training: unknown names, negative or all-zero weights, bad shares.
        self.probabilities = source_weights(train_sources, mixture, weights)
        self.train_sources = train_sources
        self.val_sources = val_sources or []
        self.data_root = data_root
        self.batch_size = batch_size
        self.val_batch_size = val_batch_size or batch_size
        self.num_workers = num_workers
        self.samples_per_epoch = samples_per_epoch
        self.seed = seed
        self.shuffle_buffer = shuffle_buffer
        self.group_batches = group_batches
        self.max_bad_fraction = max_bad_fraction
        self.synthetic = synthetic
        self.pack_length = pack_length
        self.reduced_decode = reduced_decode
        self.processor: MultimodalProcessor | None = None
        self._train_loader: StatefulDataLoader | None = None
        self._loader_state: dict[str, Any] | None = None  # from a checkpoint, for the next loader

    def prepare_data(self) -> None:
        if self.synthetic is not None:
            write_synthetic_shards(self.synthetic, self.data_root)

    def setup(self, stage: str) -> None:
        self.train = [resolve_source(s, self.data_root, f"data.train_sources[{i}]", p)
                      for i, (s, p) in enumerate(zip(self.train_sources, self.probabilities))]
        self.val = [resolve_source(s, self.data_root, f"data.val_sources[{i}]")
                    for i, s in enumerate(self.val_sources)]
        if self.processor is None:
            if self.trainer is None:
                raise RuntimeError("set MixtureDataModule.processor or attach the datamodule to a Trainer")
            self.processor = self.trainer.lightning_module.processor
        if getattr(self.processor, "transform", None) is not None:
            self.processor.transform.reduced_decode = self.reduced_decode
        longest = self.processor.formatter.max_length
        if self.pack_length is not None and self.pack_length < longest:
            raise ValueError(f"data.pack_length={self.pack_length} is shorter than model.max_length={longest}: "
                             f"a sample of the maximum length would not fit in a packed row")
        if stage == "fit":
            rows = [f"  {s.name:24s} {str(c.lang):6s} {c.modality:6s} {len(s.shards):6d} shard(s)  p={s.weight:.4f}"
                    for s, c in zip(self.train, self.train_sources)]
            rank_zero_info("training mixture (source, lang, modality, shards, sampling probability):\n" + "\n".join(rows))

    def state_dict(self) -> dict[str, Any]:
        """The training stream's position, for exact resumption from any checkpoint.

        Lightning stores the loader's state too, but restores it only when it restarts inside an
        epoch (``_FitLoop.restarting`` is false once the epoch's batches are all processed), so a
        checkpoint written at the end of an epoch would restart the stream from the seed.
        """
        if self._train_loader is None:
            return {}
        return {"train_loader": self._train_loader.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._loader_state = state_dict.get("train_loader")

    def configured_shares(self) -> dict[str, float]:
        """Configured sampling probability per source name (the mixture monitor compares)."""
        return {s.name: p for s, p in zip(self.train_sources, self.probabilities)}

    def _rank(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer else (0, 1)

    def train_dataloader(self) -> StatefulDataLoader:
        rank, world = self._rank()
        batches = self.samples_per_epoch // (self.batch_size * world)
        if batches < 1:
            raise ValueError(f"data.samples_per_epoch={self.samples_per_epoch} is less than one batch "
                             f"({self.batch_size}) per device on {world} device(s)")
        stream = MixtureStream(self.train, self.processor, self.batch_size, batches, self.seed, rank, world,
                               self.shuffle_buffer, self.group_batches, self.max_bad_fraction)
        # The stream yields whole batches (grouped by length), so the loader does not batch.
        # Persistent workers keep each worker's stream position from one epoch to the next.
        with warnings.catch_warnings():
            # torchdata 0.11 calls a torch API that torch 2.14 deprecates; nothing to act on.
            warnings.filterwarnings("ignore", message=".*set_vital.*")
            loader = RankedStatefulDataLoader(stream, batch_size=None, num_workers=self.num_workers,
                                              collate_fn=Collator(self.processor.pad_token_id, self.pack_length),
                                              persistent_workers=self.num_workers > 0)
        if self._loader_state is not None:
            loader.load_state_dict(self._loader_state)
            self._loader_state = None
        self._train_loader = loader
        return loader

    def val_dataloader(self) -> DataLoader | list:
        if not self.val:
            return []
        rank, world = self._rank()
        return DataLoader(ValidationPass(self.val, self.processor, rank, world), batch_size=self.val_batch_size,
                          num_workers=self.num_workers, collate_fn=Collator(self.processor.pad_token_id),
                          persistent_workers=self.num_workers > 0)
