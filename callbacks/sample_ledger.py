"""Writes down which samples every training step used, per rank, for audits and reproducibility.

One JSON line per training batch in ``samples.rank<N>.jsonl`` in the logger's folder:
``{"step": ..., "ids": [...], "sources": [...], "images": n, "loss": ..., "time": ...}`` (plus the
peak GPU memory so far on a GPU), so step times and memory can be read back too. Comparing two runs' ledgers shows
whether a resumed run saw the batches of the uninterrupted one, and whether ranks overlapped.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import lightning as L
import torch


class SampleLedger(L.Callback):
    """Appends the sample ids of each training batch to a per-rank JSONL file.

    Args:
        folder: Where the ledgers go (default: the logger's folder, else the trainer's root).
    """

    def __init__(self, folder: str | None = None) -> None:
        self.folder = folder

    def path(self, trainer: L.Trainer) -> str:
        folder = self.folder or trainer.log_dir or trainer.default_root_dir
        return os.path.join(folder, f"samples.rank{trainer.global_rank}.jsonl")

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                           batch: dict[str, Any], batch_idx: int) -> None:
        path = self.path(trainer)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        images = 0 if batch.get("pixel_values") is None else len(batch["pixel_values"])
        # The mean per-token loss of the micro-batch (a model may return a scaled sum as "loss").
        loss = outputs.get("mean_loss", outputs.get("loss")) if isinstance(outputs, dict) else outputs
        entry = {"step": trainer.global_step, "ids": batch["ids"], "sources": batch.get("sources"), "images": images,
                 "loss": None if loss is None else float(loss), "time": time.time()}
        if torch.cuda.is_available():
            entry["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
        with open(path, "a", encoding="utf-8") as file:
            file.write(json.dumps(entry) + "\n")
