"""Counts and reports the samples the data pipeline skipped or truncated, so none vanish silently."""

from __future__ import annotations

from collections import Counter
from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_info


class SkippedSampleMonitor(L.Callback):
    """Logs cumulative counts of skipped samples (per reason) and truncated samples.

    The loader attaches to each batch the samples it skipped since the previous batch
    (``batch["skipped"]``, a Counter by reason) and how many kept samples were cut to the
    maximum length (``batch["truncated"]``). Counts are this rank's and survive resumption.
    """

    def __init__(self) -> None:
        self.skipped: Counter = Counter()
        self.truncated = 0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                           batch: dict[str, Any], batch_idx: int) -> None:
        self.skipped.update(batch.get("skipped", {}))
        self.truncated += int(batch.get("truncated", 0))
        metrics = {"data/skipped": float(sum(self.skipped.values())), "data/truncated": float(self.truncated)}
        metrics.update({f"data/skipped_{reason}": float(n) for reason, n in self.skipped.items()})
        pl_module.log_dict(metrics, batch_size=1)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(self.skipped.items())) or "none"
        rank_zero_info(f"data: {sum(self.skipped.values())} sample(s) skipped ({reasons}); "
                       f"{self.truncated} truncated to the maximum length")

    def state_dict(self) -> dict[str, Any]:
        return {"skipped": dict(self.skipped), "truncated": self.truncated}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.skipped = Counter(state_dict.get("skipped", {}))
        self.truncated = int(state_dict.get("truncated", 0))
