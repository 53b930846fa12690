"""Rebuilds a trained model from a training checkpoint for evaluation, export or chat.

A checkpoint holds the model's settings (``hyper_parameters``, with the class the run's config
named as ``_class_path``) and only the trainable weights (connector, LoRA); the frozen backbones are
loaded again from the ids or folders in those settings, or from the ones given in ``overrides``
when the run was trained on another machine. Both model classes come back this way: the
project's ``MultimodalLM`` and ``PretrainedVLM`` (an existing Hugging Face VLM).
"""

from __future__ import annotations

import os
from typing import Any

import lightning as L
import torch

from lightning_mllm.model import MultimodalLM
from lightning_mllm.pretrained_vlm import PretrainedVLM

# The class paths a run's config may name for each model class (LightningCLI stores the one given).
MODEL_CLASSES: dict[str, type[L.LightningModule]] = {
    "lightning_mllm.MultimodalLM": MultimodalLM, "lightning_mllm.model.MultimodalLM": MultimodalLM,
    "lightning_mllm.PretrainedVLM": PretrainedVLM, "lightning_mllm.pretrained_vlm.PretrainedVLM": PretrainedVLM,
}
# Settings that only matter for training; evaluation must not need the stage-1 file any more.
_TRAINING_ONLY = {MultimodalLM: {"connector_init": None}, PretrainedVLM: {}}


def read_checkpoint(checkpoint: str, mmap: bool = False) -> dict[str, Any]:
    """The checkpoint's contents, after checking it is one file written by ``train.py fit``."""
    if os.path.isdir(checkpoint):
        raise IsADirectoryError(f"{checkpoint} is a sharded (FSDP) checkpoint; consolidate it into one file first: "
                                f"python -m lightning.pytorch.utilities.consolidate_checkpoint {checkpoint}")
    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(f"checkpoint {checkpoint!r} does not exist")
    state = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=mmap)
    if "hyper_parameters" not in state or "state_dict" not in state:
        raise KeyError(f"{checkpoint} is not a checkpoint of train.py (no hyper_parameters or state_dict)")
    return state


def model_class(state: dict[str, Any], checkpoint: str) -> type[L.LightningModule]:
    """The class the run trained: the saved ``_class_path``; a checkpoint without one (written
    outside LightningCLI) is a ``PretrainedVLM`` when it has ``init_from``, else a ``MultimodalLM``."""
    settings = state["hyper_parameters"]
    path = settings.get("_class_path")
    if path is None:
        return PretrainedVLM if "init_from" in settings else MultimodalLM
    if path not in MODEL_CLASSES:
        raise KeyError(f"{checkpoint}: model class {path!r} (model.class_path of the run) cannot be loaded by the "
                       f"evaluate, chat and export commands; they know {sorted(MODEL_CLASSES)}")
    return MODEL_CLASSES[path]


def load_trained(checkpoint: str, overrides: dict[str, Any] | None = None,
                 device: str = "cpu") -> MultimodalLM | PretrainedVLM:
    """The model of ``checkpoint`` with its trained weights, in eval mode on ``device``.

    Args:
        checkpoint: A ``.ckpt`` file written by ``train.py fit``.
        overrides: Model settings to replace (e.g. ``{"llm": "/models/Llama-3.1-8B-Instruct"}``, or
            ``{"init_from": "/models/Qwen2-VL-2B-Instruct"}`` for a ``PretrainedVLM`` run).
        device: Where the model goes.
    """
    state = read_checkpoint(checkpoint)
    cls = model_class(state, checkpoint)
    settings = {k: v for k, v in state["hyper_parameters"].items() if not k.startswith("_")}
    unknown = sorted(set(overrides or {}) - set(settings))
    if unknown:
        raise KeyError(f"model overrides {unknown} are not settings of {cls.__name__} ({sorted(settings)})")
    model = cls(**{**settings, **_TRAINING_ONLY[cls], **(overrides or {})})
    model.configure_model()
    model.on_load_checkpoint(state)  # names the trainable weights the checkpoint lacks
    result = model.load_state_dict(state["state_dict"], strict=False)
    if result.unexpected_keys:
        raise KeyError(f"{checkpoint} holds weights this model does not have, e.g. {result.unexpected_keys[:3]} "
                       f"(were the model settings overridden to another architecture?)")
    return model.to(device).eval()
