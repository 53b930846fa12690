"""The token-mean loss of a whole accumulated global batch, for any LightningModule.

Gradient accumulation and data parallelism split one optimizer step's global batch into micro-batches
(``accumulate_grad_batches`` per rank) on ranks. If each micro-batch were normalised by its own
labelled-token count, a token in a sparse micro-batch would weigh more than one in a busy micro-batch,
and k micro-batches of b samples would not give the gradient of one batch of k x b. Instead each
micro-batch returns its summed token loss over a fixed constant; the labelled tokens of the whole
window are counted, summed over the ranks once, and the accumulated gradients are rescaled before the
optimizer step (and before gradient clipping):

    class MyModule(L.LightningModule):
        def __init__(self):
            self.token_mean = AccumulatedTokenMean()

        def training_step(self, batch, batch_idx):
            losses = per_token_losses(batch)             # one entry per labelled token
            return self.token_mean.step_loss(losses)

        def on_before_optimizer_step(self, optimizer):
            self.token_mean.rescale_gradients(self.trainer, optimizer)

Lightning runs ``on_before_optimizer_step`` after the window's last backward and before it clips
gradients (``Precision._after_closure``); under mixed precision with a grad scaler it unscales first.
"""

from __future__ import annotations

import torch


def gradient_factor(total_tokens: float, accumulate_grad_batches: int, world_size: int, loss_scale: float) -> float:
    """What turns the gradients Lightning and DDP accumulated into the gradient of the window's token mean.

    Lightning divides each returned loss by ``accumulate_grad_batches``; DDP (and FSDP's reduce-scatter)
    average the ranks' gradients, dividing by ``world_size``; each micro-batch returned its token sum
    over ``loss_scale``. The gradient of the token mean is the token sum's gradient over ``total_tokens``.
    """
    return accumulate_grad_batches * world_size * loss_scale / max(total_tokens, 1.0)


class AccumulatedTokenMean:
    """Counts labelled tokens over an accumulation window and rescales the window's gradients.

    Args:
        loss_scale: The constant each micro-batch's token sum is divided by. The result is exact
            for any value; it only sets the size of the gradients before the rescale (a sum over
            thousands of tokens is no problem for float32 or bfloat16 gradients; with float16 a
            grad scaler adapts to it).
    """

    def __init__(self, loss_scale: float = 1.0):
        self.loss_scale = loss_scale
        self.window_tokens = 0  # labelled tokens this rank has seen since the last optimizer step
        self.last_total_tokens = 0.0  # the previous window's tokens over every rank (for logging)

    def step_loss(self, losses: torch.Tensor) -> torch.Tensor:
        """The loss one micro-batch returns: its summed per-token losses over the fixed constant."""
        self.window_tokens += losses.numel()
        return losses.sum() / self.loss_scale

    def rescale_gradients(self, trainer, optimizer: torch.optim.Optimizer) -> float:
        """Sums the window's token count over the ranks (one collective) and rescales the gradients.

        Works on whatever ``p.grad`` holds: whole gradients (one device, DDP) or this rank's shard
        (FSDP with ``use_orig_params``), since the factor is the same for every element.

        Returns:
            The labelled tokens of the whole accumulated global batch.
        """
        strategy = trainer.strategy
        count = torch.tensor(float(self.window_tokens), device=strategy.root_device)
        total = float(strategy.reduce(count, reduce_op="sum")) if trainer.world_size > 1 else float(count)
        factor = gradient_factor(total, trainer.accumulate_grad_batches, trainer.world_size, self.loss_scale)
        scale_gradients(optimizer, factor)
        self.window_tokens = 0
        self.last_total_tokens = total
        return total

    def reset(self) -> None:
        """Forgets a window that never reached an optimizer step (e.g. a fit interrupted mid-window)."""
        self.window_tokens = 0


@torch.no_grad()
def scale_gradients(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Multiplies every gradient of ``optimizer``'s parameters by ``factor`` in place."""
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if grads and factor != 1.0:
        torch._foreach_mul_(grads, factor)
