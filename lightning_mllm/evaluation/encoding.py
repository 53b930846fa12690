"""Benchmark items as model inputs: left-padded prompts and pixel values, in batches.

Items whose image does not decode (or whose prompt cannot be built) are not dropped: they pass
through the batch as errors, so scoring counts them as wrong and reports how many there were.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset

from lightning_mllm.chat_format import SampleError
from lightning_mllm.evaluation.items import BenchItem, ImageDecodeError
from lightning_mllm.evaluation.prompts import messages
from lightning_mllm.padding import mask, pad
from lightning_mllm.processor import MultimodalProcessor


def encode_item(item: BenchItem, processor: MultimodalProcessor) -> dict[str, Any]:
    """Prompt ids and pixel values of one item, or its error as ``(reason, message)``."""
    try:
        image = item.load_image()
        prompt_ids, _ = processor.formatter.encode_prompt(messages(item), has_image=image is not None)
    except ImageDecodeError as error:
        return {"key": item.key, "error": ("image_error", str(error))}
    except SampleError as error:
        return {"key": item.key, "error": (error.reason, f"{item.key}: {error}")}
    pixels = processor.pixel_values(image) if image is not None else None
    return {"key": item.key, "prompt_ids": prompt_ids, "pixel_values": pixels, "error": None}


class EncodedItems(Dataset):
    """Items encoded on access (in loader workers when there are any).

    Args:
        items: The items, in the order batches should take them.
        processor: The model's processor (tokenizer, chat template, image transform).
    """

    def __init__(self, items: list[BenchItem], processor: MultimodalProcessor):
        self.items = items
        self.processor = processor

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return encode_item(self.items[index], self.processor)


class PromptCollator:
    """Left-pads the usable prompts of a batch and passes the failed ones through as errors.

    Args:
        pad_token_id: Id written into padded positions (masked out).
        max_new_tokens: Answer length every batch carries as ``max_new_tokens`` (the model's
            test and predict steps generate that many); None leaves it out.
    """

    def __init__(self, pad_token_id: int, max_new_tokens: int | None = None):
        self.pad_token_id = pad_token_id
        self.max_new_tokens = max_new_tokens

    def __call__(self, encoded: list[dict[str, Any]]) -> dict[str, Any]:
        usable = [e for e in encoded if e["error"] is None]
        batch: dict[str, Any] = {"keys": [e["key"] for e in usable],
                                 "errors": {e["key"]: e["error"] for e in encoded if e["error"] is not None}}
        if self.max_new_tokens is not None:
            batch["max_new_tokens"] = self.max_new_tokens
        if usable:
            prompts = [e["prompt_ids"] for e in usable]
            images = [e["pixel_values"] for e in usable if e["pixel_values"] is not None]
            batch["prompt_ids"] = pad(prompts, self.pad_token_id, left=True)
            batch["prompt_mask"] = mask(prompts, left=True)
            batch["pixel_values"] = torch.stack(images) if images else None
        return batch


def batch_order(items: list[BenchItem]) -> list[BenchItem]:
    """Items grouped by benchmark and sorted by question length within it, so a batch shares
    one generation length and pads little; ties keep the file order (deterministic)."""
    return sorted(items, key=lambda i: (i.benchmark, i.lang, len(i.question) + len(i.hint)
                                        + sum(len(o) for o in i.options.values())))
