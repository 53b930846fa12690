"""Callbacks: one cross-cutting training job each, no model logic."""

from callbacks.skipped_samples import SkippedSampleMonitor

__all__ = ["SkippedSampleMonitor"]
