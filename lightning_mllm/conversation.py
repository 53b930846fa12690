"""Talking to a trained model: prompt ids from messages and an image, and answers streamed as generated.

Prompts go through the LLM's own chat template (``ChatFormatter``), the same way training and
evaluation format them, so a model answers in whatever language it was taught. Used by
``python -m lightning_mllm.chat`` and ``datamodules.PredictionDataModule``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError
from transformers import GenerationConfig, TextStreamer

from lightning_mllm.evaluation.items import ImageDecodeError
from lightning_mllm.image_transform import to_rgb
from lightning_mllm.processor import MultimodalProcessor


def open_image(path: str | Path) -> Image.Image:
    """The RGB image at ``path`` (transparency on white, as training sees it); ``ImageDecodeError``
    naming the path when it is missing or unreadable."""
    try:
        with Image.open(path) as image:
            rgb = to_rgb(image)
            return rgb.copy() if rgb is image else rgb  # the file's image is closed on leaving
    except FileNotFoundError as error:
        raise ImageDecodeError(f"image {str(path)!r} does not exist") from error
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as error:
        raise ImageDecodeError(f"image {str(path)!r} cannot be read: {error}") from error


def prompt_ids(processor: MultimodalProcessor, messages: list[dict[str, str]], has_image: bool) -> list[int]:
    """Ids of ``messages`` (ending with a user turn) followed by the template's assistant header.

    The image placeholder goes at the start of the first user turn unless a turn already holds it.
    Raises ``SampleError`` when the messages are malformed or longer than the model's ``max_length``.
    """
    ids, _ = processor.formatter.encode_prompt([*messages, {"role": "assistant", "content": ""}], has_image)
    return ids


class Conversation:
    """The turns of one chat so far, with an optional image attached to the first user turn.

    Args:
        processor: The model's processor (tokenizer, chat template, image transform).
        image: The image the conversation is about, or None for a text-only chat.
        system: An optional system prompt.
    """

    def __init__(self, processor: MultimodalProcessor, image: Image.Image | None = None, system: str | None = None):
        self.processor = processor
        self.pixel_values = processor.pixel_values(image) if image is not None else None
        self.messages: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []

    def prompt_ids(self, question: str) -> list[int]:
        """Ids of the conversation so far with ``question`` as the next user turn (not yet recorded)."""
        return prompt_ids(self.processor, [*self.messages, {"role": "user", "content": question}],
                          self.pixel_values is not None)

    def add_turn(self, question: str, answer: str) -> None:
        """Records a question and its answer, so later prompts see them."""
        self.messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


class CallbackStreamer(TextStreamer):
    """A ``TextStreamer`` that hands each finished piece of text to ``write`` instead of printing it.

    ``skip_prompt``: whether generate() hands the prompt's tokens over first (it does when the
    prompt is given as token ids, as an existing VLM's is; not when it is given as embeddings).
    """

    def __init__(self, tokenizer: Any, write: Callable[[str], Any], skip_prompt: bool = False):
        super().__init__(tokenizer, skip_prompt=skip_prompt, skip_special_tokens=True)
        self.write = write
        self.pieces: list[str] = []

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        if text:
            self.pieces.append(text)
            self.write(text)


def generation_config(model: Any, max_new_tokens: int, temperature: float = 0.0,
                      top_p: float = 1.0) -> GenerationConfig:
    """Greedy decoding when ``temperature`` is 0, sampling otherwise; stops on every end token
    the LLM or its tokenizer declares (as ``MultimodalLM.generate`` does)."""
    if temperature < 0 or not 0 < top_p <= 1:
        raise ValueError(f"temperature must be >= 0 and top_p in (0, 1]; got {temperature} and {top_p}")
    tokenizer = model.processor.tokenizer
    eos = model.llm.generation_config.eos_token_id
    eos = list(eos) if isinstance(eos, (list, tuple)) else [eos] if eos is not None else []
    sampling = {"do_sample": False}
    if temperature > 0:
        sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p}
    return GenerationConfig(max_new_tokens=max_new_tokens, eos_token_id=sorted(set(eos + [tokenizer.eos_token_id])),
                            pad_token_id=model.processor.pad_token_id, **sampling)


@torch.inference_mode()
def stream_answer(model: Any, ids: list[int], pixel_values: torch.Tensor | None, write: Callable[[str], Any],
                  max_new_tokens: int = 256, temperature: float = 0.0, top_p: float = 1.0) -> str:
    """Generates the answer to one prompt, calling ``write`` with each piece of text as it is decoded.

    Args:
        model: A built ``MultimodalLM`` in eval mode.
        ids: The prompt ids (``Conversation.prompt_ids``).
        pixel_values: The (3, H, W) image tensor, or None.
        write: Receives the answer piece by piece (e.g. ``sys.stdout.write``).
        max_new_tokens: Longest answer in tokens.
        temperature: 0 for greedy decoding; above 0 samples with this temperature.
        top_p: Nucleus sampling mass when sampling.

    Returns:
        The whole answer, special tokens left out.
    """
    device = model.device
    prompt = torch.tensor([ids], device=device)
    pixels = pixel_values[None].to(device) if pixel_values is not None else None
    streamer = CallbackStreamer(model.processor.tokenizer, write)
    model.llm.generate(inputs_embeds=model.embed(prompt, pixels), attention_mask=torch.ones_like(prompt),
                       generation_config=generation_config(model, max_new_tokens, temperature, top_p),
                       streamer=streamer)
    return "".join(streamer.pieces)
