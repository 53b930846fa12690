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
    Validation skips (a broken or truncated validation shard, an unusable sample) are counted per
    validation run: ``data/val_skipped`` (summed over ranks) and listed with ``"stage": "validate"``.
    """

    def __init__(self) -> None:
        self.skipped: Counter = Counter()
        self.truncated = 0
        self.val_skipped: Counter = Counter()

    def _list_path(self, trainer: L.Trainer) -> str:
        folder = trainer.log_dir or trainer.default_root_dir
        return os.path.join(folder, f"skipped_samples.rank{trainer.global_rank}.jsonl")

    def _list(self, trainer: L.Trainer, entries: list, **extra: Any) -> None:
        if not entries:
            return
        path = self._list_path(trainer)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a", encoding="utf-8") as file:
            file.writelines(json.dumps({"step": trainer.global_step, **extra, "reason": reason, "where": where}) + "\n"
                            for reason, where in entries)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                           batch: dict[str, Any], batch_idx: int) -> None:
        entries = batch.get("skipped", [])
        self._list(trainer, entries)
        self.skipped.update(reason for reason, _ in entries)
        self.truncated += int(batch.get("truncated", 0))
        metrics = {"data/skipped": float(sum(self.skipped.values())), "data/truncated": float(self.truncated)}
        metrics.update({f"data/skipped_{reason}": float(n) for reason, n in self.skipped.items()})
        pl_module.log_dict(metrics, batch_size=1)

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.val_skipped = Counter()

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                                batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        entries = batch.get("skipped", []) if isinstance(batch, dict) else []
        self._list(trainer, entries, stage="validate")
        self.val_skipped.update(reason for reason, _ in entries)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        # The total is summed over ranks (the same key on every rank); per reason, this rank's.
        pl_module.log("data/val_skipped", float(sum(self.val_skipped.values())), sync_dist=True, reduce_fx="sum")
        for reason, n in sorted(self.val_skipped.items()):
            pl_module.log(f"data/val_skipped_{reason}", float(n), rank_zero_only=True)
        if self.val_skipped:
            rank_zero_info(f"validation: {sum(self.val_skipped.values())} sample(s) skipped on rank 0 "
                           f"({dict(self.val_skipped)}); listed in {self._list_path(trainer)}")

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
