"""AdamW that loses no update on bfloat16 (or float16) weights, for any LightningModule.

A LoRA weight stored in bfloat16 has 8 significant bits: an update below half its spacing
(a weight of 0.02 has a spacing of 1.2e-4) rounds back to the old value, so late in a cosine schedule
most small updates vanish. torch-optimi's AdamW keeps, for every low-precision weight, a Kahan
compensation buffer of the same shape that carries the part of each update the rounding dropped into
the next step: the weight plus its compensation follows the float32 trajectory while forward and
backward still run on the bfloat16 weight. Its CPU step was measured faster than torchao's
stochastic-rounding AdamW on the project's LoRA shapes (BENCHMARKS.md), and unlike stochastic
rounding it keeps every step's update, not its expectation.

optimi uses each ``.grad`` as scratch space during its step: read gradients before the step (as
Lightning's clipping and ``on_before_optimizer_step`` do), never after it.

The buffers are ordinary optimizer state (``kahan_comp``), so Lightning checkpoints and restores them
with the moments, and under FSDP they are sharded like the weights they belong to.

    optimizer = adamw(param_groups, weight_decay=0.0)
    exact = master_weights(optimizer)   # float32 view: weight + compensation, for checks and exports
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from optimi import AdamW as OptimiAdamW

LOW_PRECISION = (torch.bfloat16, torch.float16)


class AdamW(OptimiAdamW):
    """optimi's AdamW that steps only the parameter groups with a gradient this step (named AdamW
    so that Lightning's learning-rate monitor keeps logging ``lr-AdamW/<group>``).

    optimi's foreach path fails on a group without any (an empty tensor list); under FSDP a rank can
    hold no shard of a small group such as the connector's, and a frozen-for-now group has none.
    """

    def step(self, closure=None, param=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        groups = self.param_groups
        self.param_groups = [g for g in groups if any(p.grad is not None for p in g["params"])]
        try:
            super().step(param=param)
        finally:
            self.param_groups = groups
        return loss


def has_low_precision(param_groups: list[dict[str, Any]]) -> bool:
    """Whether any parameter of the groups is stored in bfloat16 or float16."""
    return any(p.dtype in LOW_PRECISION for group in param_groups for p in group["params"])


def adamw(param_groups: list[dict[str, Any]], weight_decay: float = 0.0, betas: tuple[float, float] = (0.9, 0.999),
          eps: float = 1e-8) -> torch.optim.Optimizer:
    """PyTorch's AdamW for float32 weights; optimi's AdamW with Kahan summation once any weight is low precision.

    Both use PyTorch's AdamW defaults and its decoupled weight decay (the weight shrinks by
    ``lr * weight_decay`` per step), so switching the storage dtype changes no hyper-parameter.
    Each group needs an ``lr``.
    """
    if not has_low_precision(param_groups):
        return torch.optim.AdamW(param_groups, weight_decay=weight_decay, betas=betas, eps=eps)
    # kahan_sum=None: optimi turns compensation on for exactly the low-precision parameters
    # (float32 ones, e.g. the connector, step as plain AdamW). The foreach path, not Triton: Triton
    # gives float32 parameters a one-element placeholder state that FSDP's optimizer state dict
    # would try to shard like the parameter; foreach keeps None there.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Parameter `foreach` is deprecated", DeprecationWarning)
        return AdamW(param_groups, lr=param_groups[0]["lr"], betas=betas, eps=eps, weight_decay=weight_decay,
                          kahan_sum=None, foreach=True, triton=False)


@torch.no_grad()
def master_weights(optimizer: torch.optim.Optimizer) -> dict[torch.Tensor, torch.Tensor]:
    """Each parameter's full-precision value in float32: the stored weight plus its Kahan
    compensation where the optimizer keeps one (what the weight would be in float32 storage)."""
    values = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            compensation = optimizer.state.get(p, {}).get("kahan_comp")
            value = p.detach().float()
            if isinstance(compensation, torch.Tensor) and compensation.shape == p.shape:
                value = value + compensation.float()
            values[p] = value
    return values
