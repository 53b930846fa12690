"""Logs training speed: samples and real tokens per second, MFU, and the share of time spent
waiting for data.

It lives here, beside the FLOP count, because the bench times its runs with the very same
window; training configs name it ``callbacks.ThroughputMonitor`` (re-exported there).
Lightning's own ``ThroughputMonitor`` counts padded batch sizes and takes FLOPs from a user
function; this one adds what the project's figures need: real (non-pad) tokens of padded and
packed batches, docs/design.md's accounting of frozen-base FLOPs, and the data-stall fraction.

MFU uses docs/design.md's FLOP accounting (``lightning_mllm.benchmarking.flops``): real tokens only,
recomputation never credited. The figures are this rank's own (rank 0's are logged); with
identical ranks the global rate is the world size times them.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import lightning as L
import torch

from lightning_mllm.benchmarking.flops import ModelCounts, batch_flops, project_counts


def real_token_counts(batch: dict[str, Any]) -> torch.Tensor:
    """Real (non-pad) tokens of each sample of a batch, without a device synchronisation.

    Packed batches hold ``segments`` (the sample index of each token, -1 on padding); padded ones
    an ``attention_mask``. The counts stay on the batch's device, so logging every step does not
    stall the GPU queue.
    """
    if "segments" in batch:
        segments = batch["segments"]
        # A scatter into a fixed-size tensor: bincount or a boolean index would wait for the GPU.
        samples = len(batch["lang"]) if "lang" in batch else segments.shape[0]
        counts = torch.zeros(samples + 1, dtype=torch.long, device=segments.device)
        counts.scatter_add_(0, (segments + 1).flatten(), torch.ones_like(segments).flatten())
        return counts[1:]
    if batch.get("attention_mask") is not None:
        return batch["attention_mask"].sum(dim=1)
    ids = batch["input_ids"]
    return torch.full((ids.shape[0],), ids.shape[1], dtype=torch.long, device=ids.device)


class ThroughputWindow:
    """Sums over a window of training steps: samples, real tokens, FLOPs, time waiting for data.

    The window is timed by the caller (``open``/``close`` with ``time.perf_counter`` readings taken
    after a device synchronisation); ``add_batch`` and ``add_stall`` run once per step in between.
    """

    def __init__(self, counts: ModelCounts, peak_tflops: float):
        self.counts = counts
        self.peak_flops = peak_tflops * 1e12
        self.opened_at: float | None = None
        self._reset()

    def _reset(self) -> None:
        self.steps = self.samples = self.images = self.slots = 0
        self.stall = 0.0
        self._tokens: list[torch.Tensor] = []

    def open(self, now: float) -> None:
        self._reset()
        self.opened_at = now

    def add_batch(self, batch: dict[str, Any]) -> None:
        counts = real_token_counts(batch)
        self._tokens.append(torch.stack([counts.sum(), (counts * counts).sum()]))
        self.steps += 1
        self.samples += len(counts)
        pixels = batch.get("pixel_values")
        self.images += 0 if pixels is None else len(pixels)
        self.slots += batch["input_ids"].numel()  # token positions computed, padding included

    def add_stall(self, seconds: float) -> None:
        self.stall += seconds

    def close(self, now: float) -> dict[str, float]:
        """The window's rates; reads the token sums back (the caller has synchronised already)."""
        opened = self.opened_at if self.opened_at is not None else now
        seconds = max(now - opened, 1e-9)
        tokens, squares = (torch.stack(self._tokens).sum(0).tolist() if self._tokens else (0, 0))
        flops = batch_flops(self.counts, tokens, squares, self.images)
        stats = {"steps": self.steps, "samples": self.samples, "tokens": tokens, "flops": flops,
                 "seconds": seconds, "stall_seconds": self.stall,
                 "samples_per_sec": self.samples / seconds, "tokens_per_sec": tokens / seconds,
                 "tflops_per_sec": flops / seconds / 1e12, "mfu": flops / seconds / self.peak_flops,
                 "data_stall_fraction": self.stall / seconds,
                 "padding_fraction": 1.0 - tokens / self.slots if self.slots else 0.0}
        self.opened_at = None
        return stats


def synchronize(device: torch.device) -> None:
    """Waits for the device's queued work, so a clock reading marks finished steps."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class ThroughputMonitor(L.Callback):
    """Logs ``perf/samples_per_sec``, ``perf/tokens_per_sec``, ``perf/mfu`` and
    ``perf/data_stall_fraction`` every ``log_every_n_steps`` training steps (per rank).

    Each window runs from the end of a step to the end of the step ``log_every_n_steps`` later,
    with a device synchronisation at both ends (one per window: the steps in between are not
    slowed); validation inside a window is left out of it. The data stall is the time from one
    step's ``on_train_batch_end`` to the next step's ``on_train_batch_start`` (fetching, collating
    and moving the batch), as a share of the window: an upper bound, since end-of-step work of
    callbacks that run after this one (checkpoint writes, say) lands in it too.

    Args:
        peak_tflops: The device's dense peak in TFLOP/s (989: H100 bf16).
        log_every_n_steps: Steps per window.
        warmup_steps: Steps before the first window opens (compilation, allocator warm-up).
    """

    def __init__(self, peak_tflops: float = 989.0, log_every_n_steps: int = 10, warmup_steps: int = 0):
        if log_every_n_steps < 1 or warmup_steps < 0:
            raise ValueError("ThroughputMonitor: log_every_n_steps must be >= 1 and warmup_steps >= 0")
        self.peak_tflops = peak_tflops
        self.log_every_n_steps = log_every_n_steps
        self.warmup_steps = warmup_steps
        self.window: ThroughputWindow | None = None
        self.windows: list[dict[str, float]] = []  # every closed window's figures, for callers
        self._steps = 0
        self._last_end: float | None = None
        self._paused_at: float | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        counts = project_counts(pl_module)
        if trainer.world_size > 1 and "FSDP" in type(trainer.strategy).__name__:
            # Each rank holds a slice of every sharded weight: the whole counts add up over ranks.
            fields = ("vision", "llm_non_embedding", "lm_head", "trainable")
            local = torch.tensor([getattr(counts, f) for f in fields], dtype=torch.float64, device=pl_module.device)
            total = trainer.strategy.reduce(local, reduce_op="sum").tolist()
            counts = dataclasses.replace(counts, **{f: int(v) for f, v in zip(fields, total)})
        self.window = ThroughputWindow(counts, self.peak_tflops)
        self._steps, self._last_end = 0, None
        if self.warmup_steps == 0:
            synchronize(pl_module.device)
            self._last_end = time.perf_counter()  # the first fetch counts as waiting for data
            self.window.open(self._last_end)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        if self.window is None or self.window.opened_at is None:
            return
        if self._last_end is not None:
            self.window.add_stall(time.perf_counter() - self._last_end)
        self.window.add_batch(batch)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self._steps += 1
        measured = self._steps - self.warmup_steps
        if self.window is not None and measured >= 0 and measured % self.log_every_n_steps == 0:
            synchronize(pl_module.device)
            now = time.perf_counter()
            if measured > 0:
                self._log(trainer, self.window.close(now))
            self.window.open(now)
        self._last_end = time.perf_counter()

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.window is not None and self.window.opened_at is not None:
            self._paused_at = time.perf_counter()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._paused_at is None or self.window is None or self.window.opened_at is None:
            return
        # Validation is not training time: move the window's start and the last step's end past it.
        paused = time.perf_counter() - self._paused_at
        self.window.opened_at += paused
        if self._last_end is not None:
            self._last_end += paused
        self._paused_at = None

    def _log(self, trainer: L.Trainer, stats: dict[str, float]) -> None:
        self.windows.append(stats)
        if not trainer.is_global_zero:
            return
        metrics = {f"perf/{key}": float(stats[key]) for key in
                   ("samples_per_sec", "tokens_per_sec", "mfu", "data_stall_fraction", "tflops_per_sec")}
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
