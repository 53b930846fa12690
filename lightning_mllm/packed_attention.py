"""``sdpa_packed``: PyTorch SDPA run on each packed sample alone.

Packed rows (``lightning_mllm/packing.py``) hold several samples back to back with position ids
restarting at 0. With ``sdpa`` transformers builds a dense block-diagonal mask over the whole row,
and the kernel computes every block, the masked ones too: attention costs the row's length squared
instead of the sum of the samples' lengths squared (a 2048-token row of two 1000-token samples
does about twice the work it needs). ``sdpa_packed`` asks transformers for no mask on packed rows
(as flash attention does) and calls SDPA once per sample, causal. Anything else (a padding mask,
generation with a cache) goes to transformers' own ``sdpa`` unchanged, so the two give the same
results everywhere (``tests/test_packed_attention.py``).

Registered with transformers on import under ``ATTENTION``; ``MultimodalLM(attn_implementation=
"sdpa_packed")`` selects it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

ATTENTION = "sdpa_packed"


def _mask(*args: Any, attention_mask: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor | None:
    # No 2D mask: an unpadded or packed batch, which the attention below splits by position ids
    # itself; a dense mask over the whole row would only be built to be ignored.
    if attention_mask is None:
        return None
    return sdpa_mask(*args, attention_mask=attention_mask, **kwargs)


class _SampleLengths:
    """Each row's sample lengths, computed once per batch: every layer (and a checkpointed layer's
    recomputation) gets the same position-id tensor, and reading it back to the host is a device
    synchronisation worth doing once, not once per layer. Keyed on the tensor transformers passes,
    not on a view of it (a view is a new object every call)."""

    def __init__(self) -> None:
        self._positions: torch.Tensor | None = None
        self._lengths: list[list[int]] = []

    def __call__(self, positions: torch.Tensor, rows: int) -> list[list[int]]:
        if positions is not self._positions:
            lengths = []
            for row in positions.expand(rows, -1).tolist():
                # A sample starts wherever the position is 0 (padding at a row's end is one too).
                starts = [i for i, p in enumerate(row) if p == 0]
                if not starts or starts[0] != 0:
                    starts = [0] + starts
                lengths.append([end - start for start, end in zip(starts, starts[1:] + [len(row)])])
            self._positions, self._lengths = positions, lengths
        return self._lengths


_sample_lengths = _SampleLengths()


def packed_sdpa_forward(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                        attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                        is_causal: bool | None = None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """Transformers' attention interface: ``query`` (batch, heads, length, dim), ``key``/``value``
    (batch, kv heads, length, dim); returns (batch, length, heads, dim) and no weights."""
    positions = kwargs.get("position_ids")
    causal = getattr(module, "is_causal", True) if is_causal is None else is_causal
    if attention_mask is not None or positions is None or not causal or query.shape[2] != key.shape[2]:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    row_lengths = _sample_lengths(positions, query.shape[0])
    dropout = dropout if module.training else 0.0
    gqa = query.shape[1] != key.shape[1]  # grouped-query attention: a kv head serves several query heads
    rows = []
    # Split, not sliced: the backward of a split is one concatenation, while each slice's backward
    # would write a zero tensor of the whole row's size and add into it.
    for q_row, k_row, v_row, lengths in zip(query.unbind(0), key.unbind(0), value.unbind(0), row_lengths):
        rows.append(torch.cat([F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True, scale=scaling,
                                                              enable_gqa=gqa)
                               for q, k, v in zip(q_row.split(lengths, 1), k_row.split(lengths, 1),
                                                  v_row.split(lengths, 1))], dim=1))
    return torch.stack(rows).transpose(1, 2).contiguous(), None


AttentionInterface.register(ATTENTION, packed_sdpa_forward)
AttentionMaskInterface.register(ATTENTION, _mask)
