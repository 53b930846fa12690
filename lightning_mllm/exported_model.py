"""An exported (or any Hugging Face) LLaVA folder behind the interface the benchmark answering uses.

``evaluation/answering.py`` needs from a model only ``processor``, ``device``, ``training``,
``eval``/``train`` and ``generate``; ``ExportedLlava`` provides them around a
``LlavaForConditionalGeneration``, so an exported model is evaluated by the same prompts, image
preprocessing and scoring as the checkpoint it came from, and any other LLaVA folder can be
compared on the same benchmarks.
"""

from __future__ import annotations

import torch
from transformers import AutoProcessor, GenerationConfig, LlavaForConditionalGeneration

from lightning_mllm.chat_format import IMAGE_TOKEN_ID
from lightning_mllm.processor import MultimodalProcessor


def llava_image_tokens(config) -> int:
    """Positions one image takes in a LLaVA model: its vision features, less CLS under ``default``."""
    vision = config.vision_config
    # LLaVA's "default" strategy drops the first feature; only CLIP-like towers add a CLS one.
    features = (vision.image_size // vision.patch_size) ** 2 + int(vision.model_type.startswith("clip"))
    return features - int(config.vision_feature_select_strategy == "default")


class ExportedLlava:
    """A LLaVA folder with the project model's answering interface.

    Args:
        folder: A folder written by ``python -m lightning_mllm.export`` or any Hugging Face LLaVA
            folder with a processor (tokenizer, image processor, chat template).
        device: Where the model goes.
        dtype: Weight dtype (``auto``: as saved).
        max_length: Longest prompt in tokens (default: the LLM's ``max_position_embeddings``).
        max_new_tokens: Answer length when ``generate`` is not given one.
    """

    def __init__(self, folder: str, device: str = "cpu", dtype: str | torch.dtype = "auto",
                 max_length: int | None = None, max_new_tokens: int = 16):
        self.model = LlavaForConditionalGeneration.from_pretrained(folder, dtype=dtype).to(device).eval()
        hf_processor = AutoProcessor.from_pretrained(folder)
        config = self.model.config
        self.processor = MultimodalProcessor(hf_processor.tokenizer, hf_processor.image_processor,
                                             llava_image_tokens(config),
                                             max_length or config.text_config.max_position_embeddings)
        self.max_new_tokens = max_new_tokens

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def training(self) -> bool:
        return self.model.training

    def eval(self) -> "ExportedLlava":
        return self.train(False)

    def train(self, mode: bool = True) -> "ExportedLlava":
        self.model.train(mode)
        return self

    def generation_config(self, max_new_tokens: int | None) -> GenerationConfig:
        """Greedy decoding that stops at the model's or the tokenizer's end of turn."""
        tokenizer = self.processor.tokenizer
        defaults = self.model.generation_config
        eos = defaults.eos_token_id
        eos = list(eos) if isinstance(eos, (list, tuple)) else [eos] if eos is not None else []
        return GenerationConfig(max_new_tokens=max_new_tokens or self.max_new_tokens, do_sample=False,
                                eos_token_id=sorted(set(eos + [tokenizer.eos_token_id])),
                                pad_token_id=self.processor.pad_token_id,
                                suppress_tokens=getattr(defaults, "suppress_tokens", None))

    @torch.no_grad()
    def generate(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, pixel_values: torch.Tensor | None,
                 max_new_tokens: int | None = None) -> list[str]:
        """Greedy answers for left-padded prompts whose image runs are ``IMAGE_TOKEN_ID``.

        Args:
            prompt_ids: (batch, length) ids from the project's chat formatter.
            prompt_mask: (batch, length) attention mask, 0 on the left padding.
            pixel_values: (images, 3, H, W), one per image run in order; or None.
            max_new_tokens: Longest answer (default: the constructor's ``max_new_tokens``).
        """
        # LLaVA marks image positions with a real token, which its forward replaces by features.
        input_ids = prompt_ids.masked_fill(prompt_ids == IMAGE_TOKEN_ID, self.model.config.image_token_index)
        images = {}
        if pixel_values is not None:  # text-only batches pass none: transformers 5 would encode a None
            images["pixel_values"] = pixel_values.to(self.device, self.model.dtype)
        out = self.model.generate(input_ids=input_ids, attention_mask=prompt_mask,
                                  generation_config=self.generation_config(max_new_tokens), **images)
        return self.processor.tokenizer.batch_decode(out[:, input_ids.shape[1]:], skip_special_tokens=True)
