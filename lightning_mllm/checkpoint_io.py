"""Checkpoint files written so that a crash mid-save never costs the previous good checkpoint.

The checkpoint goes to a temporary file beside its target, is flushed to disk (fsync), and only
then renamed over the target: a process killed at any moment leaves either the old file or the
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


def _fsync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # some filesystems do not open folders; the rename is still atomic
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` with write-to-temporary, fsync and rename; logs each file's size."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike,
                        storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in target.parent.glob(f".{target.name}.partial-*"):  # left by a killed save
            stale.unlink(missing_ok=True)
        temporary = target.with_name(f".{target.name}.partial-{os.getpid()}")
        try:
            with open(temporary, "wb") as file:
                torch.save(checkpoint, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        _fsync_folder(target.parent)
        rank_zero_info(f"checkpoint {target}: {target.stat().st_size / 2**20:.1f} MiB")
