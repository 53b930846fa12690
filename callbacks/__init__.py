"""Callbacks: one cross-cutting training job each, no model logic."""

from callbacks.benchmark_eval import BenchmarkEval
from callbacks.global_batch import GlobalBatchSize
from callbacks.mixture_monitor import MixtureMonitor
from callbacks.prediction_writer import PredictionWriter
from callbacks.rng_state import RNGState
from callbacks.sample_ledger import SampleLedger
from callbacks.skipped_samples import SkippedSampleMonitor
from lightning_mllm.benchmarking.throughput import ThroughputMonitor

__all__ = ["BenchmarkEval", "GlobalBatchSize", "MixtureMonitor", "PredictionWriter", "RNGState", "SampleLedger",
           "SkippedSampleMonitor", "ThroughputMonitor"]
