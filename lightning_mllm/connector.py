"""The trainable connector that maps vision features into the LLM's embedding space."""

from __future__ import annotations

import torch
from torch import nn

CONNECTORS = ("linear", "mlp2x_gelu")


class Connector(nn.Module):
    """``linear`` (the paper's choice) or ``mlp2x_gelu`` (LLaVA-1.5's two-layer GELU MLP).

    Args:
        kind: One of ``CONNECTORS``.
        vision_size: Width of the vision features (1024 for CLIP ViT-L).
        llm_size: Width of the LLM embeddings (4096 for Llama-3.1-8B).
    """

    def __init__(self, kind: str, vision_size: int, llm_size: int):
        super().__init__()
        if kind not in CONNECTORS:
            raise ValueError(f"model.connector={kind!r}; expected one of {CONNECTORS}")
        self.kind = kind
        if kind == "linear":
            self.layers = nn.Sequential(nn.Linear(vision_size, llm_size))
        else:
            self.layers = nn.Sequential(nn.Linear(vision_size, llm_size), nn.GELU(),
                                        nn.Linear(llm_size, llm_size))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features)
