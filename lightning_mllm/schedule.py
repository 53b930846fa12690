"""Learning-rate schedule: linear warmup, then cosine decay to zero over the whole run."""

from __future__ import annotations

import math


class WarmupCosine:
    """Learning-rate factor for ``LambdaLR``; the run's length is set when training starts.

    The total is not asked for in ``configure_optimizers``: ``trainer.estimated_stepping_batches``
    builds the training loader there, before Lightning restores a checkpoint, and the loader's
    saved position would then never reach it (a resumed run would restart its data stream).
    Until ``total_steps`` is set the factor is 0, so no step can run at a wrong rate.

    Args:
        warmup_ratio: Fraction of the steps spent warming up linearly from zero.
    """

    def __init__(self, warmup_ratio: float):
        self.warmup_ratio = warmup_ratio
        self.total_steps: int | None = None

    def __call__(self, step: int) -> float:
        if self.total_steps is None:
            return 0.0
        total = max(1, self.total_steps)
        warmup = int(self.warmup_ratio * total)
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
