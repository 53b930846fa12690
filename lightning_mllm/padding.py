"""Padding token-id lists into tensors: right padding for training, left padding for generation."""

from __future__ import annotations

import torch


def pad(sequences: list[list[int]], value: int, left: bool = False) -> torch.Tensor:
    """A (rows, longest) long tensor of ``sequences`` padded with ``value`` on the right (or left)."""
    longest = max(len(s) for s in sequences)
    rows = [([value] * (longest - len(s)) + s) if left else (s + [value] * (longest - len(s))) for s in sequences]
    return torch.tensor(rows, dtype=torch.long)


def mask(sequences: list[list[int]], left: bool = False) -> torch.Tensor:
    """The attention mask of ``pad(sequences, ..., left)``: 1 on real tokens, 0 on padding."""
    return pad([[1] * len(s) for s in sequences], 0, left)
