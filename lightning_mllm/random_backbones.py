"""Randomly initialised backbones with the paper's shapes, saved where ``from_pretrained`` reads them.

Random weights are exact for throughput and memory (docs/design.md) and need no download. The
tokenizer is the demo's Llama-3-style one: its ids all fall inside Llama-3's 128,256-row vocabulary.
``python -m lightning_mllm.random_backbones`` and ``python -m lightning_mllm.bench`` both build from
``SIZES``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM

from lightning_mllm.tiny_backbones import build_tokenizer

SIZES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # Llama-3.1-8B and CLIP ViT-L/14-336, as their published configs give them.
    "full": (dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                  num_attention_heads=32, num_key_value_heads=8, rope_theta=500000.0, rms_norm_eps=1e-5),
             dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                  image_size=336, patch_size=14, projection_dim=768)),
    "small": (dict(vocab_size=1024, hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=2),
              dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                   image_size=336, patch_size=14, projection_dim=128)),
}


def save_backbones(out: Path, llm_shape: dict[str, Any], vision_shape: dict[str, Any]) -> tuple[Path, Path]:
    """Writes ``out/llm`` (random Llama weights + tokenizer) and ``out/vision`` (random CLIP
    vision weights + image processor) for the given config keyword arguments."""
    tokenizer = build_tokenizer()
    config = LlamaConfig(**{"max_position_embeddings": 8192, **llm_shape}, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         tie_word_embeddings=False)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):  # initialising 8B parameters is minutes on a CPU, seconds on a GPU
        llm = LlamaForCausalLM(config).to(torch.bfloat16)
    llm.save_pretrained(out / "llm")
    tokenizer.save_pretrained(out / "llm")
    del llm
    vision = CLIPVisionModel(CLIPVisionConfig(**vision_shape)).to(torch.bfloat16)
    vision.save_pretrained(out / "vision")
    side = vision.config.image_size
    CLIPImageProcessor(size={"shortest_edge": side}, crop_size={"height": side, "width": side}).save_pretrained(
        out / "vision")
    return out / "llm", out / "vision"


def save_random_backbones(out: Path, size: str) -> tuple[Path, Path]:
    """Writes the ``SIZES[size]`` backbones to ``out/llm`` and ``out/vision``."""
    llm_shape, vision_shape = SIZES[size]
    return save_backbones(out, llm_shape, vision_shape)


def main(argv: list[str] | None = None) -> None:
    """``python -m lightning_mllm.random_backbones --out DIR [--size full|small]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m lightning_mllm.random_backbones",
                                     description="Saves random backbones with the paper's shapes (full) or CPU-sized ones.")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    args = parser.parse_args(argv)
    llm, vision = save_random_backbones(args.out, args.size)
    print(f"llm: {llm}\nvision: {vision}")


if __name__ == "__main__":
    main()
