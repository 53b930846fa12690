"""Datamodules, shard readers and the synthetic bilingual data set."""

from datamodules.mixture_datamodule import MixtureDataModule
from datamodules.mixture_weights import MixtureShares, Source
from datamodules.synthetic_shards import SyntheticSpec

__all__ = ["MixtureDataModule", "MixtureShares", "Source", "SyntheticSpec"]
