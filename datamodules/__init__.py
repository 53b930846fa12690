"""Datamodules, shard readers and the synthetic bilingual data set."""

from datamodules.benchmark_datamodule import BenchmarkDataModule
from datamodules.mixture_datamodule import MixtureDataModule
from lightning_mllm.mixture_weights import MixtureShares, Source
from datamodules.prediction_datamodule import PredictionDataModule
from datamodules.synthetic_shards import SyntheticSpec

__all__ = ["BenchmarkDataModule", "MixtureDataModule", "MixtureShares", "PredictionDataModule", "Source",
           "SyntheticSpec"]
