"""Training stages: what trains in each, decided in one place, and the parameter counts to log."""

from __future__ import annotations

import math

import torch
from torch import nn

# stage1: connector only (alignment on captions); stage2: connector + LoRA on the LLM
# (instruction tuning); full: connector + every LLM weight.
STAGES = ("stage1", "stage2", "full")


def check_stage(stage: str, load_in_4bit: bool) -> None:
    if stage not in STAGES:
        raise ValueError(f"model.stage={stage!r}; expected one of {STAGES}")
    if stage == "full" and load_in_4bit:
        raise ValueError("model.stage='full' cannot train 4-bit weights; use stage2 (QLoRA) or load_in_4bit=false")


def real_numel(parameter: torch.Tensor) -> int:
    """Elements a parameter stands for: a bitsandbytes 4-bit weight counts as its unpacked shape.

    bitsandbytes packs 4-bit values into its storage dtype (2 per uint8, 4 per bf16 element, 8 per
    fp32 one); the quantisation state keeps the unpacked shape. The parameter counts logged here
    and the FLOP counts of ``benchmarking/flops.py`` both use this one function.
    """
    quant_state = getattr(parameter, "quant_state", None)
    if quant_state is not None and getattr(quant_state, "shape", None) is not None:
        return math.prod(quant_state.shape)
    return parameter.numel()


def count_parameters(module: nn.Module) -> tuple[int, int]:
    """(trainable, frozen) element counts; 4-bit weights count as their unpacked size."""
    trainable = frozen = 0
    for parameter in module.parameters():
        n = real_numel(parameter)
        if parameter.requires_grad:
            trainable += n
        else:
            frozen += n
    return trainable, frozen


def describe_counts(parts: dict[str, nn.Module]) -> str:
    """A small table of trainable and frozen parameters per part."""
    lines = [f"{'part':<14}{'trainable':>16}{'frozen':>16}"]
    for name, module in parts.items():
        trainable, frozen = count_parameters(module)
        lines.append(f"{name:<14}{trainable:>16,}{frozen:>16,}")
    return "\n".join(lines)
