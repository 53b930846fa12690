"""Batching: right padding for training, left-padded prompts for generation, per-row metadata."""

from __future__ import annotations

from typing import Any

import torch

from lightning_mllm.chat_format import IGNORE_INDEX
from lightning_mllm.padding import mask, pad


class Collator:
    """Builds a batch dict from encoded samples.

    Args:
        pad_token_id: Id written into padded positions (they are masked out anyway).
    """

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        ids = [s["input_ids"] for s in samples]
        images = [s["pixel_values"] for s in samples if s["pixel_values"] is not None]
        batch = {
            "input_ids": pad(ids, self.pad_token_id),
            "attention_mask": mask(ids),
            "labels": pad([s["labels"] for s in samples], IGNORE_INDEX),
            # Images in row order: the order their placeholder runs appear in input_ids.
            "pixel_values": torch.stack(images) if images else None,
            "lang": [s["lang"] for s in samples],
            "ids": [s["id"] for s in samples],
            "sources": [s.get("source") for s in samples],
            # (reason, where) of every sample skipped since the previous batch.
            "skipped": [entry for s in samples for entry in s.get("skipped", ())],
            "truncated": sum(bool(s["truncated"]) for s in samples),
            # Per-row text cost for the mixture monitor: words, text tokens, sequence tokens.
            "words": [s.get("words", 0) for s in samples],
            "text_tokens": [s.get("text_tokens", 0) for s in samples],
            "tokens": [len(s["input_ids"]) for s in samples],
            "has_image": [s["pixel_values"] is not None for s in samples],
        }
        if "prompt_ids" in samples[0]:
            prompts = [s["prompt_ids"] for s in samples]
            batch["prompt_ids"] = pad(prompts, self.pad_token_id, left=True)
            batch["prompt_mask"] = mask(prompts, left=True)
            batch["answers"] = [s["answer"] for s in samples]
        return batch
