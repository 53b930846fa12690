"""Model FLOPs of a frozen-base training step, as docs/design.md ("Measuring speed honestly") defines them.

Per sample with ``t`` real (non-pad) tokens:

    vision     2 * N_vision * vision_tokens            (only samples with an image; patches + CLS)
    LLM        4 * (N_llm_non_embedding + N_lm_head) * t   (forward + activation gradients)
    attention  6 * layers * t^2 * d_model              (causal, forward + backward)
    weights    2 * N_trainable * t                     (trainable weight gradients; 6N in all for
                                                       full fine-tuning, where the LLM is trainable)

``N_llm_non_embedding`` counts the base LLM's weights without its input embeddings, LM head and
LoRA adapters: the adapters' own forward and input-gradient work (about 2% at r=64 on
Llama-3.1-8B) is left out, which makes MFU err low, never high. Recomputed activations are never
counted: the count depends on the tokens, not on how the step was run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from lightning_mllm.stages import real_numel
from lightning_mllm.vision_tower import image_token_count


@dataclass(frozen=True)
class ModelCounts:
    """The parameter counts and shapes that the FLOP formula needs."""

    vision: int
    vision_tokens: int
    llm_non_embedding: int
    lm_head: int
    trainable: int
    layers: int
    d_model: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def sample_flops(counts: ModelCounts, tokens: int, has_image: bool) -> float:
    """Model FLOPs of one training sample with ``tokens`` real tokens."""
    return batch_flops(counts, tokens, tokens * tokens, int(has_image))


def batch_flops(counts: ModelCounts, tokens: float, squared_tokens: float, images: int) -> float:
    """Model FLOPs of samples whose token counts sum to ``tokens`` and their squares to
    ``squared_tokens``, ``images`` of them with an image: the formula is linear in those sums."""
    vision = 2 * counts.vision * counts.vision_tokens * images
    per_token = 4 * (counts.llm_non_embedding + counts.lm_head) + 2 * counts.trainable
    attention = 6 * counts.layers * counts.d_model * squared_tokens
    return vision + per_token * tokens + attention


def counts_from_parts(vision: nn.Module, decoder: nn.Module, lm_head: nn.Module, whole: nn.Module,
                      text_config: Any) -> ModelCounts:
    """Counts from a model's parts.

    Args:
        vision: The vision transformer (a ``CLIPVisionModel`` or ``SiglipVisionModel``).
        decoder: The LLM without its LM head (input embeddings included; they are left out here).
        lm_head: The output projection.
        whole: The module whose ``requires_grad`` parameters are the trainable ones.
        text_config: The LLM's config (layers, width).
    """
    embedding_ids = {id(p) for p in decoder.get_input_embeddings().parameters()}
    head = list(lm_head.parameters())
    skip = embedding_ids | {id(p) for p in head}
    llm = sum(real_numel(p) for name, p in decoder.named_parameters() if id(p) not in skip and "lora_" not in name)
    return ModelCounts(
        vision=sum(real_numel(p) for p in vision.parameters()),
        vision_tokens=image_token_count(vision.config, drop_cls=False),
        llm_non_embedding=llm,
        lm_head=sum(real_numel(p) for p in head),
        trainable=sum(real_numel(p) for p in whole.parameters() if p.requires_grad),
        layers=text_config.num_hidden_layers,
        d_model=text_config.hidden_size,
    )


def project_counts(model: nn.Module) -> ModelCounts:
    """Counts of a configured ``MultimodalLM`` (any stage, LoRA or 4-bit)."""
    from lightning_mllm.llm import base_model  # here: peft is heavy and only needed for a model

    if getattr(model, "llm", None) is None or getattr(model, "vision", None) is None:
        raise TypeError("FLOP counts need a configured MultimodalLM (with .vision and .llm)")
    llm = base_model(model.llm)
    return counts_from_parts(model.vision.model, llm.get_decoder(), llm.get_output_embeddings(), model, llm.config)

