"""Late fusion: image features spliced into the LLM's input embeddings, and the loss on labelled tokens
(normalised over an accumulated global batch by ``loss_normalisation.py``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from lightning_mllm.chat_format import IGNORE_INDEX


def splice_image_features(embeds: torch.Tensor, image_mask: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Writes ``features`` (images, tokens, width), in order, into the positions of ``image_mask``.

    Images fill the masked positions row by row, which is the order the collate function puts
    them in ``pixel_values``.
    """
    expected = int(image_mask.sum())
    if expected != features.shape[0] * features.shape[1]:
        raise ValueError(f"{expected} image positions in the batch but {features.shape[0]} image(s) of "
                         f"{features.shape[1]} tokens")
    return embeds.masked_scatter(image_mask.unsqueeze(-1), features.to(embeds.dtype))


def _chunk_losses(hidden: torch.Tensor, targets: torch.Tensor, lm_head: nn.Module, softcap: float | None) -> torch.Tensor:
    # The final norm may run in float32 (k-bit preparation) while the head keeps the storage dtype.
    weight = getattr(lm_head, "weight", None)
    if weight is not None and weight.is_floating_point():
        hidden = hidden.to(weight.dtype)
    logits = lm_head(hidden).float()
    if softcap:
        logits = softcap * torch.tanh(logits / softcap)
    return F.cross_entropy(logits, targets, reduction="none")


def labelled_token_losses(hidden: torch.Tensor, labels: torch.Tensor, lm_head: nn.Module,
                          softcap: float | None = None, chunk_tokens: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of each labelled next-token prediction, and the mask of the positions predicted.

    The LM head runs only on positions whose next token is labelled, so no logits are ever
    computed for image or prompt tokens (with a 128k vocabulary those dominate the cost). It runs
    on ``chunk_tokens`` positions at a time, and under autograd each chunk is checkpointed: its
    float32 logits are freed at once and recomputed in the backward pass, so the logits of the
    whole batch (11k labelled tokens x 128k x 4 bytes = 5.8 GB) never exist at the same time.

    Returns:
        The per-token losses in row-major order, and the (rows, length - 1) mask of the labelled
        targets (``labels[:, 1:]``) they belong to.
    """
    targets = labels[:, 1:]
    selected = targets != IGNORE_INDEX
    states, wanted = hidden[:, :-1][selected], targets[selected]
    if len(wanted) <= chunk_tokens or not torch.is_grad_enabled():
        chunks = [_chunk_losses(states[i:i + chunk_tokens], wanted[i:i + chunk_tokens], lm_head, softcap)
                  for i in range(0, max(len(wanted), 1), chunk_tokens)]
    else:
        chunks = [checkpoint(_chunk_losses, states[i:i + chunk_tokens], wanted[i:i + chunk_tokens], lm_head,
                             softcap, use_reentrant=False) for i in range(0, len(wanted), chunk_tokens)]
    return torch.cat(chunks), selected
