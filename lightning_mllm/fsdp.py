"""FSDP for the late-fusion model: one FSDP unit per LLM decoder layer and per vision encoder layer.

Lightning's ``FSDPStrategy`` takes the layer classes to wrap as Python classes, which a YAML file
cannot hold; ``MultimodalFSDPStrategy`` takes their import paths instead, so the wrap policy lives in
``configs/trainer/fsdp*.yaml``. ``use_orig_params`` is always on: a LoRA layer puts frozen base
weights and trainable adapters in the same unit, which FSDP only allows with original parameters.
Sharded checkpoint folders are written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import contextlib
import importlib
from pathlib import Path
from typing import Any

from lightning.pytorch.strategies import FSDPStrategy

from lightning_mllm.files import atomic_folder

# The paper's backbones: Llama-3.1 (Latxa shares the architecture) and CLIP ViT-L/14-336; SigLIP too.
DEFAULT_LAYERS = [
    "transformers.models.llama.modeling_llama.LlamaDecoderLayer",
    "transformers.models.clip.modeling_clip.CLIPEncoderLayer",
    "transformers.models.siglip.modeling_siglip.SiglipEncoderLayer",
]
SHARDING = ("FULL_SHARD", "SHARD_GRAD_OP", "HYBRID_SHARD", "_HYBRID_SHARD_ZERO2", "NO_SHARD")


def import_classes(paths: list[str]) -> set[type]:
    """The classes named by ``module.Class`` paths; errors name the path that is wrong."""
    classes = set()
    for path in paths:
        module, _, name = path.rpartition(".")
        try:
            classes.add(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError) as error:
            raise ValueError(f"trainer.strategy.layer_classes: cannot import {path!r} ({error})") from error
    return classes


class MultimodalFSDPStrategy(FSDPStrategy):
    """FSDP wrapping each transformer layer of the LLM and of the vision tower.

    Args:
        layer_classes: Import paths of the layer classes that become FSDP units.
        activation_checkpointing: Recompute each wrapped layer's activations in the backward pass.
        sharding_strategy: ``FULL_SHARD`` (ZeRO-3), ``SHARD_GRAD_OP`` (ZeRO-2), ``HYBRID_SHARD``
            (full sharding inside a node, replication across nodes) or ``NO_SHARD``.
        state_dict_type: ``sharded`` (one file per rank, fast and memory-light) or ``full``.
        **kwargs: Passed on to Lightning's ``FSDPStrategy``.
    """

    def __init__(self, layer_classes: list[str] | None = None, activation_checkpointing: bool = False,
                 sharding_strategy: str = "FULL_SHARD", state_dict_type: str = "sharded", **kwargs: Any):
        if sharding_strategy not in SHARDING:
            raise ValueError(f"trainer.strategy.sharding_strategy={sharding_strategy!r}; expected one of {SHARDING}")
        self.layer_classes = import_classes(layer_classes or DEFAULT_LAYERS)
        super().__init__(auto_wrap_policy=self.layer_classes,
                         activation_checkpointing_policy=self.layer_classes if activation_checkpointing else None,
                         sharding_strategy=sharding_strategy, state_dict_type=state_dict_type,
                         use_orig_params=True, **kwargs)

    def save_checkpoint(self, checkpoint: dict[str, Any], filepath: Any, storage_options: Any | None = None) -> None:
        """Sharded checkpoints are folders written by every rank: they are written under a
        temporary name and renamed into place once all ranks have finished, so a save killed
        halfway never leaves a half-written folder under the checkpoint's name."""
        if self._state_dict_type != "sharded":
            return super().save_checkpoint(checkpoint, filepath, storage_options)
        path = Path(self.broadcast(str(filepath)))
        # Rank 0 owns the staging folder (files.atomic_folder); every rank writes its shard there, and
        # the rename happens when rank 0 leaves the block, after all ranks have written. The old
        # checkpoint stays whole until the new one is in place.
        staging = atomic_folder(path, replace=True) if self.global_rank == 0 else contextlib.nullcontext()
        with staging as folder:
            folder = Path(self.broadcast(str(folder) if folder is not None else None))
            super().save_checkpoint(checkpoint, folder, storage_options)
            self.barrier("fsdp_checkpoint_written")
        self.barrier("fsdp_checkpoint_renamed")
