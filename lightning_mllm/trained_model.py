"""Rebuilds a trained model from a training checkpoint for evaluation, export or chat.

A checkpoint holds the model's settings (``hyper_parameters``) and only the trainable weights
(connector, LoRA); the frozen backbones are loaded again from the ids or folders in those settings,
or from the ones given in ``overrides`` when the run was trained on another machine.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from lightning_mllm.model import MultimodalLM

# Settings that only matter for training; evaluation must not need the stage-1 file any more.
_TRAINING_ONLY = {"connector_init": None}


def load_trained(checkpoint: str, overrides: dict[str, Any] | None = None, device: str = "cpu") -> MultimodalLM:
    """The model of ``checkpoint`` with its trained weights, in eval mode on ``device``.

    Args:
        checkpoint: A ``.ckpt`` file written by ``train.py fit``.
        overrides: Model settings to replace (e.g. ``{"llm": "/models/Llama-3.1-8B-Instruct"}``).
        device: Where the model goes.
    """
    if os.path.isdir(checkpoint):
        raise IsADirectoryError(f"{checkpoint} is a sharded (FSDP) checkpoint; consolidate it into one file first: "
                                f"python -m lightning.pytorch.utilities.consolidate_checkpoint {checkpoint}")
    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(f"checkpoint {checkpoint!r} does not exist")
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if "hyper_parameters" not in state or "state_dict" not in state:
        raise KeyError(f"{checkpoint} is not a checkpoint of train.py (no hyper_parameters or state_dict)")
    settings = {k: v for k, v in state["hyper_parameters"].items() if not k.startswith("_")}
    unknown = sorted(set(overrides or {}) - set(settings))
    if unknown:
        raise KeyError(f"model overrides {unknown} are not settings of MultimodalLM ({sorted(settings)})")
    model = MultimodalLM(**{**settings, **_TRAINING_ONLY, **(overrides or {})})
    model.configure_model()
    model.on_load_checkpoint(state)  # names the trainable weights the checkpoint lacks
    result = model.load_state_dict(state["state_dict"], strict=False)
    if result.unexpected_keys:
        raise KeyError(f"{checkpoint} holds weights this model does not have, e.g. {result.unexpected_keys[:3]} "
                       f"(were the model settings overridden to another architecture?)")
    return model.to(device).eval()
