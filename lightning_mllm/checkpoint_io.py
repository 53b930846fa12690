"""Checkpoint files written so that a crash mid-save never costs the previous good checkpoint.

The checkpoint is written with ``files.atomic_open`` (a temporary file beside the target, fsync,
then a rename over the target): a process killed at any moment leaves either the old file or the
new one, never a truncated one. Each save's size is logged, since what a checkpoint holds
(trainable weights only, optimizer, data-stream state) decides how long saving takes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_info

from lightning_mllm.files import atomic_open


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` with write-to-temporary, fsync and rename; logs each file's size."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike,
                        storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        target = Path(path)
        # Left by a killed save: files.atomic_write names them .NAME.XXXX.partial (older saves .NAME.partial-PID).
        for stale in target.parent.glob(f".{target.name}.*partial*"):
            if stale.is_file():
                stale.unlink(missing_ok=True)
        # Streamed to the file, not serialised in memory first: a full fine-tuning checkpoint
        # (weights plus optimizer state) would otherwise need its size again in host memory.
        with atomic_open(target) as file:
            torch.save(checkpoint, file)
        rank_zero_info(f"checkpoint {target}: {target.stat().st_size / 2**20:.1f} MiB")
