"""Everything that turns a raw sample into model inputs: tokenizer, image processor, chat formatter.

The model owns these settings (which tokenizer, how many tokens an image takes, the maximum
length, how images keep their aspect), so the datamodule asks the model for a processor instead of
repeating them.
"""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoTokenizer

from lightning_mllm.chat_format import ChatFormatter
from lightning_mllm.image_aspect import aspect_image_processor
from lightning_mllm.image_transform import ImageTransform, to_rgb


class MultimodalProcessor:
    """Tokenizes conversations and preprocesses images for one model.

    Args:
        tokenizer: The LLM's fast tokenizer, with a chat template.
        image_processor: The Hugging Face image processor to preprocess as (for a model, the
            tower's processor adapted to ``image_aspect``; it is what the export saves).
        image_tokens: Positions one image takes in the sequence.
        max_length: Longest sequence in tokens.
    """

    def __init__(self, tokenizer: Any, image_processor: Any, image_tokens: int, max_length: int):
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.formatter = ChatFormatter(tokenizer, image_tokens, max_length)
        self.transform = ImageTransform.from_hf(image_processor)

    @classmethod
    def from_pretrained(cls, tokenizer: str, vision_tower: str, image_tokens: int, max_length: int,
                        image_aspect: str = "crop") -> "MultimodalProcessor":
        """The processor of a tokenizer and a vision tower (ids or folders); ``image_aspect`` is
        ``pad``, ``crop`` (the tower's own processor) or ``resize`` (``image_aspect.py``)."""
        image_processor = aspect_image_processor(AutoImageProcessor.from_pretrained(vision_tower), image_aspect)
        return cls(AutoTokenizer.from_pretrained(tokenizer), image_processor, image_tokens, max_length)

    @property
    def pad_token_id(self) -> int:
        tok = self.tokenizer
        return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id

    def pixel_values(self, image: Image.Image) -> torch.Tensor:
        """(3, H, W) float tensor for one image (transparency composited on white, as Hugging Face does)."""
        if self.transform is not None:
            return self.transform(image)
        return self.image_processor(images=to_rgb(image), return_tensors="pt")["pixel_values"][0]
