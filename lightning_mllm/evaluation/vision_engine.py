"""A vision-language model behind one call: ``generate(conversations, images) -> replies``.

Used by the judge that sees the image. Any Hugging Face image-text-to-text model with a processor
and a chat template works (``AutoModelForImageTextToText``), including the LLaVA folders that
``python -m lightning_mllm.export`` writes. Greedy decoding, left-padded batches, no code from the
model's repository (``trust_remote_code`` stays off).
"""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image

from lightning_mllm.text_generation import left_padded, placement

# A conversation whose contents are lists of typed parts: {"type": "image"} / {"type": "text", ...}.
Conversation = list[dict[str, Any]]


class VisionEngine:
    """Generates with ``AutoModelForImageTextToText`` and its ``AutoProcessor``.

    Args:
        model: Hugging Face id or folder of an image-text-to-text model with a chat template.
        dtype: ``bfloat16``, ``float16`` or ``float32``.
        device: ``auto`` (all visible GPUs through ``device_map="auto"``, else the CPU), ``cuda``, ``cpu``...
        max_new_tokens: Longest reply.
    """

    def __init__(self, model: str, dtype: str = "bfloat16", device: str = "auto", max_new_tokens: int = 256):
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.processor = AutoProcessor.from_pretrained(model)
        if not getattr(self.processor, "chat_template", None):
            raise ValueError(f"{model!r}: the processor has no chat template (an instruction-tuned model is needed)")
        self.tokenizer = left_padded(self.processor.tokenizer)
        self.model = AutoModelForImageTextToText.from_pretrained(model, dtype=getattr(torch, dtype),
                                                                 **placement(device))
        if device != "auto":
            self.model.to(device)
        self.model.eval()
        self.max_new_tokens = max_new_tokens

    @torch.inference_mode()
    def generate(self, conversations: list[Conversation], images: list[Image.Image | None]) -> list[str]:
        """The greedy reply to each conversation; ``images[i]`` fills conversation i's image part
        (None for a conversation without one). Conversations with and without an image are
        generated in separate batches, since one processor call takes either kind."""
        if len(images) != len(conversations):
            raise ValueError(f"{len(conversations)} conversations but {len(images)} images")
        replies: list[str | None] = [None] * len(conversations)
        for with_image in (True, False):
            index = [i for i, image in enumerate(images) if (image is not None) == with_image]
            if index:
                batch = self._generate([conversations[i] for i in index], [images[i] for i in index] if with_image
                                       else None)
                for i, reply in zip(index, batch):
                    replies[i] = reply
        return [reply or "" for reply in replies]

    def _generate(self, conversations: list[Conversation], images: list[Image.Image] | None) -> list[str]:
        texts = [self.processor.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                 for c in conversations]
        inputs = self.processor(images=images, text=texts, padding=True, return_tensors="pt", add_special_tokens=False)
        inputs = inputs.to(self.model.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        generated = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                        pad_token_id=self.tokenizer.pad_token_id)
        return self.tokenizer.batch_decode(generated[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
