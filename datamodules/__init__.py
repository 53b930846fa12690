"""Datamodules, shard readers and the synthetic bilingual data set."""

from datamodules.mixture_datamodule import MixtureDataModule, Source
from datamodules.synthetic_shards import SyntheticSpec

__all__ = ["MixtureDataModule", "Source", "SyntheticSpec"]
