"""The global batch as a setting in samples: gradient accumulation follows from the hardware.

LLaVA-1.5's recipes state a global batch (256 samples for pre-training, 128 for instruction
tuning) and reach it on 8 GPUs with a per-GPU batch and accumulation steps. Here the global batch
is the setting and the accumulation steps are derived when training starts, so the same config
gives the same optimisation on one node of 8 GPUs, two nodes, or one GPU:

    accumulate_grad_batches = samples / (data.batch_size x trainer.devices x trainer.num_nodes)

Lightning reads ``trainer.accumulate_grad_batches`` afresh at every use (the fit loop's
"accumulate or step" test, ``estimated_stepping_batches`` that sizes the learning-rate
schedule, the loss scaling of the automatic optimisation); its own ``GradientAccumulationScheduler``
changes it the same way, by setting the attribute. Setting it in ``setup``, before the model is
built and the schedule sized, means every one of them sees the derived value.
"""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import GradientAccumulationScheduler
from lightning.pytorch.utilities import rank_zero_info


def accumulation_steps(samples: int, micro_batch: int, world_size: int) -> int:
    """Micro-batches per optimizer step so that one step sees ``samples`` samples.

    Args:
        samples: Global batch in samples.
        micro_batch: Samples per device and forward pass (``data.batch_size``).
        world_size: Processes training together (``trainer.devices x trainer.num_nodes``).

    Raises:
        ValueError: When ``samples`` is not a whole multiple of ``micro_batch x world_size``.
    """
    per_pass = micro_batch * world_size
    if samples < 1 or micro_batch < 1 or samples % per_pass:
        raise ValueError(
            f"GlobalBatchSize(samples={samples}) is not a whole multiple of data.batch_size={micro_batch} x "
            f"{world_size} process(es) (trainer.devices x trainer.num_nodes) = {per_pass} samples per pass; "
            f"change the global batch, data.batch_size or the number of GPUs")
    return samples // per_pass


class GlobalBatchSize(L.Callback):
    """Sets ``trainer.accumulate_grad_batches`` so that each optimizer step sees ``samples`` samples.

    The micro-batch is the datamodule's ``batch_size``; the world size is the trainer's. Leave
    ``trainer.accumulate_grad_batches`` at its default (1): the two settings would contradict.

    Args:
        samples: Global batch in samples per optimizer step, over all devices and nodes.
    """

    def __init__(self, samples: int) -> None:
        if samples < 1:
            raise ValueError(f"GlobalBatchSize(samples={samples}) must be positive")
        self.samples = samples
        self._derived: int | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        self._check_alone(trainer)
        datamodule = trainer.datamodule
        micro_batch = getattr(datamodule, "batch_size", None)
        if not isinstance(micro_batch, int):
            raise ValueError(f"GlobalBatchSize needs the datamodule's batch_size (data.batch_size); "
                             f"{type(datamodule).__name__} has {micro_batch!r}")
        # Devices x nodes is known from construction on, before the processes have started.
        steps = accumulation_steps(self.samples, micro_batch, trainer.num_devices * trainer.num_nodes)
        trainer.accumulate_grad_batches = self._derived = steps
        rank_zero_info(f"global batch {self.samples} samples = data.batch_size {micro_batch} x {trainer.num_devices} "
                       f"device(s) x {trainer.num_nodes} node(s) x {steps} accumulated micro-batch(es) "
                       f"(trainer.accumulate_grad_batches={steps})")

    def _check_alone(self, trainer: L.Trainer) -> None:
        """Fails when another setting also decides the accumulation."""
        others = [c for c in trainer.callbacks if isinstance(c, GlobalBatchSize) and c is not self]
        if others:
            raise ValueError(f"trainer.callbacks has {len(others) + 1} GlobalBatchSize callbacks "
                             f"(samples {[self.samples] + [c.samples for c in others]}); keep one")
        if any(isinstance(c, GradientAccumulationScheduler) for c in trainer.callbacks):
            raise ValueError("trainer.callbacks has both GlobalBatchSize and GradientAccumulationScheduler; "
                             "both set trainer.accumulate_grad_batches, keep one")
        # Lightning re-runs setup on every fit call; a value that is not the user's may be ours.
        if trainer.accumulate_grad_batches != 1 and self._derived != trainer.accumulate_grad_batches:
            raise ValueError(f"trainer.accumulate_grad_batches={trainer.accumulate_grad_batches} is set next to "
                             f"GlobalBatchSize(samples={self.samples}), which derives it; remove one")
