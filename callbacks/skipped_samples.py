"""Counts and reports the samples the data pipeline skipped or truncated, so none vanish silently."""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_info


class SkippedSampleMonitor(L.Callback):
    """Logs cumulative counts of skipped samples (per reason) and truncated samples, and lists
    every skipped sample (reason, shard and key) in ``skipped_samples.rank<N>.jsonl`` in the
    logger's folder.

    The loader attaches to each batch the samples it skipped since the previous batch
    (``batch["skipped"]``, ``(reason, where)`` pairs) and how many kept samples were cut to the
    maximum length (``batch["truncated"]``). Counts are this rank's and survive resumption.
    """

    def __init__(self) -> None:
        self.skipped: Counter = Counter()
        self.truncated = 0

    def _list_path(self, trainer: L.Trainer) -> str:
        folder = trainer.log_dir or trainer.default_root_dir
        return os.path.join(folder, f"skipped_samples.rank{trainer.global_rank}.jsonl")

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                           batch: dict[str, Any], batch_idx: int) -> None:
        entries = batch.get("skipped", [])
        if entries:
            path = self._list_path(trainer)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "a", encoding="utf-8") as file:
                for reason, where in entries:
                    file.write(json.dumps({"step": trainer.global_step, "reason": reason, "where": where}) + "\n")
        self.skipped.update(reason for reason, _ in entries)
        self.truncated += int(batch.get("truncated", 0))
        metrics = {"data/skipped": float(sum(self.skipped.values())), "data/truncated": float(self.truncated)}
        metrics.update({f"data/skipped_{reason}": float(n) for reason, n in self.skipped.items()})
        pl_module.log_dict(metrics, batch_size=1)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(self.skipped.items())) or "none"
        where = f"; listed in {self._list_path(trainer)}" if self.skipped else ""
        rank_zero_info(f"data: {sum(self.skipped.values())} sample(s) skipped ({reasons}){where}; "
                       f"{self.truncated} truncated to the maximum length")

    def state_dict(self) -> dict[str, Any]:
        return {"skipped": dict(self.skipped), "truncated": self.truncated}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.skipped = Counter(state_dict.get("skipped", {}))
        self.truncated = int(state_dict.get("truncated", 0))
