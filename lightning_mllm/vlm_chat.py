"""Streams a ``PretrainedVLM``'s answer in a chat, as ``conversation.stream_answer`` does for ``MultimodalLM``.

An adapted VLM cannot take its prompt as embeddings: its own forward places the image features
(and Qwen-VL computes its multimodal rotary positions from the ids), so the prompt goes in as ids
with the model's own image inputs (``PretrainedVLM.model_inputs``) and the streamer skips it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from lightning_mllm.conversation import CallbackStreamer, generation_config
from lightning_mllm.pretrained_vlm import PretrainedVLM
from lightning_mllm.vlm_parts import top_model


@torch.inference_mode()
def stream_vlm_answer(model: PretrainedVLM, ids: list[int], pixel_values: torch.Tensor | None,
                      write: Callable[[str], Any], max_new_tokens: int = 256, temperature: float = 0.0,
                      top_p: float = 1.0) -> str:
    """Generates the answer to one prompt, calling ``write`` with each piece of text as it is decoded.

    Args:
        model: A built ``PretrainedVLM`` in eval mode.
        ids: The prompt ids (``Conversation.prompt_ids``).
        pixel_values: The image as ``model.processor.pixel_values`` gives it, or None.
        write: Receives the answer piece by piece.
        max_new_tokens: Longest answer in tokens.
        temperature: 0 for greedy decoding; above 0 samples with this temperature.
        top_p: Nucleus sampling mass when sampling.

    Returns:
        The whole answer, special tokens left out.
    """
    prompt = torch.tensor([ids], device=model.device)
    pixels = pixel_values[None].to(model.device) if pixel_values is not None else None
    # The prompt goes in as token ids, so generate() streams them first: skip them.
    streamer = CallbackStreamer(model.processor.tokenizer, write, skip_prompt=True)
    inputs = model.model_inputs(prompt, torch.ones_like(prompt), pixels)
    top_model(model.model).generate(**inputs, generation_config=generation_config(model, max_new_tokens, temperature,
                                                                                  top_p), streamer=streamer)
    return "".join(streamer.pieces)
