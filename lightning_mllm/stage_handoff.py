"""Stage handoff: stage 2 starts from the connector a stage-1 run trained.

``model.connector_init`` names a stage-1 checkpoint (a Lightning ``.ckpt`` written by this
project, or a ``.safetensors`` file of connector weights); its ``connector.*`` weights are loaded
into the freshly built connector before training. A missing file, a file without connector
weights or weights of another shape (another connector type, vision tower or LLM) fail before the
first step, naming the setting.
"""

from __future__ import annotations

import os

import torch
from torch import nn

KEY = "model.connector_init"
PREFIX = "connector."


def check_connector_init(path: str | None) -> None:
    """Fails early when the configured stage-1 checkpoint does not exist."""
    if path is not None and not os.path.isfile(path):
        raise FileNotFoundError(f"{KEY}={path!r}: no such file (expected a stage-1 checkpoint)")


def _read_weights(path: str) -> dict[str, torch.Tensor]:
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path)
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    return checkpoint.get("state_dict", checkpoint)


def load_connector_init(path: str, connector: nn.Module) -> None:
    """Copies the connector weights of the checkpoint at ``path`` into ``connector``."""
    weights = {k[len(PREFIX):]: v for k, v in _read_weights(path).items() if k.startswith(PREFIX)}
    if not weights:
        raise ValueError(f"{KEY}={path!r} holds no '{PREFIX}*' weights; is it a checkpoint of this project?")
    expected = connector.state_dict()
    if set(weights) != set(expected):
        raise ValueError(f"{KEY}={path!r} holds connector weights {sorted(weights)}, but model.connector builds "
                         f"{sorted(expected)}: was stage 1 trained with another connector type?")
    for name, tensor in weights.items():
        if tensor.shape != expected[name].shape:
            raise ValueError(f"{KEY}={path!r}: connector weight {name!r} has shape {tuple(tensor.shape)}, this "
                             f"model needs {tuple(expected[name].shape)} (another vision tower or LLM width?)")
    connector.load_state_dict({k: v.to(expected[k].dtype) for k, v in weights.items()})
