"""An existing VLM's own processor behind the interface the datamodules use (``MultimodalProcessor``'s).

Conversations are rendered by the model's own chat template in its structured form (content as a
list of ``{"type": "text"}`` and ``{"type": "image"}`` entries, as Hugging Face processors take
them), so the template places its own vision markers (Qwen-VL's ``<|vision_start|>`` ...
``<|vision_end|>``, LLaVA's ``<image>``). Its image token is then expanded into one run of
``IMAGE_TOKEN_ID`` per image, as long as the model's features for that image, exactly as the
model's processor expands it; the model maps the runs back to its image token id.

Images take a fixed number of positions: LLaVA's tower has one input size, and Qwen-VL images are
resized to ``image_size`` x ``image_size`` (a multiple of patch x merge size) before the model's
own image processor patches and normalises them, so every image has the same (t, h, w) grid.
"""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image
from transformers import AutoProcessor

from lightning_mllm.chat_format import IMAGE_PLACEHOLDER, ChatFormatter, SampleError
from lightning_mllm.exported_model import llava_image_tokens
from lightning_mllm.image_transform import to_rgb
from lightning_mllm.vlm_parts import family

DEFAULT_QWEN_IMAGE_SIZE = 448  # 16 x 16 merged patches = 256 tokens for Qwen2-VL (patch 14, merge 2)


def structured(messages: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Messages with ``<image>`` placeholders as the structured content processors' templates take."""
    out = []
    for message in messages:
        content: list[dict[str, str]] = []
        for index, text in enumerate(message["content"].split(IMAGE_PLACEHOLDER)):
            if index:
                content.append({"type": "image"})
            if text:
                content.append({"type": "text", "text": text})
        out.append({"role": message["role"], "content": content})
    return out


class TemplateFormatter(ChatFormatter):
    """``ChatFormatter`` over a VLM's chat template and image token.

    Args:
        tokenizer: The model's fast tokenizer.
        chat_template: The model's chat template (its processor's).
        image_token: The text of the model's image token (``<|image_pad|>``, ``<image>``).
        image_tokens: Positions one image takes.
        max_length: Longest sequence kept.
    """

    def __init__(self, tokenizer: Any, chat_template: str, image_token: str, image_tokens: int, max_length: int):
        if not chat_template:
            raise ValueError(f"model.init_from: {getattr(tokenizer, 'name_or_path', '?')!r} has no chat template")
        tokenizer.chat_template = chat_template
        super().__init__(tokenizer, image_tokens, max_length)
        self.image_token = image_token

    def render(self, messages: list[dict[str, str]], add_generation_prompt: bool = False) -> str:
        text = self.tokenizer.apply_chat_template(structured(messages), tokenize=False,
                                                  add_generation_prompt=add_generation_prompt)
        images = sum(m["content"].count(IMAGE_PLACEHOLDER) for m in messages)
        if self.image_token != IMAGE_PLACEHOLDER:
            text = text.replace(self.image_token, IMAGE_PLACEHOLDER)
        if text.count(IMAGE_PLACEHOLDER) != images:
            raise SampleError("image_mismatch", f"the chat template rendered {text.count(IMAGE_PLACEHOLDER)} image "
                                                f"token(s) for {images} image(s)")
        return text

    def assistant_spans(self, messages: list[dict[str, str]], text: str) -> list[tuple[int, int]]:
        """Assistant spans ending at the end-of-turn token: the whitespace some templates put
        between turns (Qwen's newline after ``<|im_end|>``) is not the model's to predict."""
        spans = []
        for start, end in super().assistant_spans(messages, text):
            while end > start and text[end - 1].isspace():
                end -= 1
            spans.append((start, end))
        return spans


class VLMProcessor:
    """Tokenizer, chat formatter and image preprocessing of one existing VLM.

    Args:
        hf_processor: The model's ``AutoProcessor`` (tokenizer, image processor, chat template).
        config: The model's config.
        max_length: Longest sequence in tokens.
        image_size: Qwen-VL only: side in pixels every image is resized to (rounded down to a
            multiple of patch x merge size); None for 448.
    """

    def __init__(self, hf_processor: Any, config: Any, max_length: int, image_size: int | None = None):
        self.hf_processor = hf_processor
        self.tokenizer = hf_processor.tokenizer
        self.image_processor = hf_processor.image_processor
        self.grid: torch.Tensor | None = None
        if family(config).grid:
            image_tokens = self._fix_grid(image_size or DEFAULT_QWEN_IMAGE_SIZE)
        else:
            if image_size is not None:
                raise ValueError(f"model.image_size={image_size}: a {config.model_type} model has one input size; "
                                 f"leave model.image_size unset")
            self.side = None
            image_tokens = llava_image_tokens(config)
        image_token = getattr(hf_processor, "image_token", None) or "<image>"
        self.formatter = TemplateFormatter(self.tokenizer, hf_processor.chat_template, image_token, image_tokens,
                                           max_length)

    @classmethod
    def from_pretrained(cls, init_from: str, config: Any, max_length: int,
                        image_size: int | None = None) -> VLMProcessor:
        return cls(AutoProcessor.from_pretrained(init_from), config, max_length, image_size)

    def _fix_grid(self, image_size: int) -> int:
        """Sets the fixed image side and (t, h, w) patch grid; returns the tokens per image."""
        processor = self.image_processor
        factor = processor.patch_size * processor.merge_size
        self.side = image_size // factor * factor
        if self.side < factor:
            raise ValueError(f"model.image_size={image_size} is below one merged patch ({factor} px)")
        # The image processor's own resizing keeps the area within its pixel bounds; bounds set
        # to the fixed size make it keep our square untouched, and an exported processor then
        # gives any image the token budget the model was trained with.
        processor.size = {"shortest_edge": self.side ** 2, "longest_edge": self.side ** 2}
        for name in ("min_pixels", "max_pixels"):
            if hasattr(processor, name):
                setattr(processor, name, self.side ** 2)
        grid = processor(images=Image.new("RGB", (self.side, self.side)), return_tensors="pt")["image_grid_thw"]
        self.grid = grid[0]
        return int(self.grid.prod()) // processor.merge_size ** 2

    @property
    def pad_token_id(self) -> int:
        tok = self.tokenizer
        return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id

    def pixel_values(self, image: Image.Image) -> torch.Tensor:
        """One image's pixel values: (3, H, W) for LLaVA, (patches, features) for Qwen-VL."""
        image = to_rgb(image)  # transparency on white, 16-bit grey scaled: as training and chat see images
        if self.side is not None:
            image = image.resize((self.side, self.side), Image.Resampling.BICUBIC)
        out = self.image_processor(images=image, return_tensors="pt")
        if self.grid is not None and not torch.equal(out["image_grid_thw"][0], self.grid):
            raise ValueError(f"image grid {out['image_grid_thw'][0].tolist()} != the fixed {self.grid.tolist()}")
        return out["pixel_values"] if self.grid is not None else out["pixel_values"][0]

    def save_pretrained(self, folder: str) -> None:
        """Writes the model's processor (with the training's image size for Qwen-VL)."""
        self.hf_processor.save_pretrained(folder)
