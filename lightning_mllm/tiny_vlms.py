"""Tiny random vision-language models of existing families, saved where ``from_pretrained`` reads them.

A LLaVA (tiny CLIP tower + tiny Llama), a Qwen2-VL and a Qwen2.5-VL, each with its processor and a chat template
of its family written for these tokenizers, built from config objects and saved, then loaded back
by ``PretrainedVLM`` through ``AutoModelForImageTextToText`` / ``AutoProcessor`` exactly as
``Qwen/Qwen2-VL-2B-Instruct`` or ``llava-hf/llava-1.5-7b-hf`` would be. Nothing is downloaded.
The tokenizer is the project's tiny byte-level BPE (``tiny_backbones.build_tokenizer``) with the
family's special tokens added.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import (
    CLIPImageProcessor,
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedModel,
    ProcessorMixin,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessor,
    Qwen2VLProcessor,
    Qwen2VLVideoProcessor,
)

from lightning_mllm.tiny_backbones import (
    DEFAULT_CACHE,
    build_tokenizer,
    code_key,
    save_folder_once,
)

TINY_VLM_VERSION = 1

# Llama-3's turn format over structured content: an image entry renders as the <image> token.
LLAVA_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}{{ '<image>' }}"
    "{% else %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}{{ '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
# Qwen2-VL's format: a default system turn, <|im_start|>role ... <|im_end|> with a newline after
# each turn, an image as <|vision_start|><|image_pad|><|vision_end|>.
QWEN_VL_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}"
    "{{ '<|vision_start|><|image_pad|><|vision_end|>' }}{% else %}{{ item['text'] }}{% endif %}{% endfor %}"
    "{% endif %}{{ '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
QWEN_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>"]


def _tiny_llama(tokenizer, eos: list[int], hidden: int) -> LlamaConfig:
    return LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                       num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                       max_position_embeddings=1024, bos_token_id=tokenizer.bos_token_id, eos_token_id=eos,
                       pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False)


def build_llava(image_size: int = 48, hidden: int = 64) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """A tiny random LLaVA (CLIP tower 48 px / 8 px patches: 36 image tokens) and its processor."""
    tokenizer = build_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    eos = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|end_of_text|>")]
    vision = CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                              image_size=image_size, patch_size=8, projection_dim=64)
    config = LlavaConfig(vision_config=vision, text_config=_tiny_llama(tokenizer, eos, hidden),
                         image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
                         vision_feature_layer=-2, vision_feature_select_strategy="default")
    image_processor = CLIPImageProcessor(size={"shortest_edge": image_size},
                                         crop_size={"height": image_size, "width": image_size})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=8,
                               vision_feature_select_strategy="default", chat_template=LLAVA_TEMPLATE,
                               num_additional_image_tokens=1)
    model = LlavaForConditionalGeneration(config)
    model.generation_config.eos_token_id = eos
    return model, processor


def build_qwen2_vl(hidden: int = 64, version: str = "2") -> tuple[PreTrainedModel, ProcessorMixin]:
    """A tiny random Qwen2-VL, or Qwen2.5-VL with ``version="2.5"`` (8 px patches merged 2 x 2: a
    48 px image is 9 tokens), and its processor."""
    tokenizer = build_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": QWEN_SPECIAL})
    tokenizer.eos_token, tokenizer.pad_token, tokenizer.bos_token = "<|im_end|>", "<|endoftext|>", None
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in QWEN_SPECIAL}
    eos = [ids["<|im_end|>"], ids["<|endoftext|>"]]
    text = {"vocab_size": len(tokenizer), "hidden_size": hidden, "intermediate_size": 2 * hidden,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 1024,
            # head size 16: 8 rotary frequencies split over (time, height, width)
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
            "bos_token_id": None, "eos_token_id": eos, "pad_token_id": ids["<|endoftext|>"]}
    patches = {"patch_size": 8, "spatial_merge_size": 2, "temporal_patch_size": 2, "in_channels": 3}
    if version == "2":
        classes = (Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor)
        vision = dict(depth=2, embed_dim=64, hidden_size=hidden, num_heads=4, mlp_ratio=2, **patches)
    else:
        # Qwen2.5-VL's tower: windowed attention (one 16 px window = 2 x 2 patches) but in the full-attention layer.
        classes = (Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor)
        vision = dict(depth=2, hidden_size=64, intermediate_size=128, num_heads=4, out_hidden_size=hidden,
                      window_size=16, fullatt_block_indexes=[1], **patches)
    config = classes[0](text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
                        video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                        vision_end_token_id=ids["<|vision_end|>"], tie_word_embeddings=False)
    image_processor = Qwen2VLImageProcessor(patch_size=8, merge_size=2, temporal_patch_size=2,
                                            size={"shortest_edge": 16 * 16, "longest_edge": 128 * 128})
    # The processor class insists on a video processor; videos are not used here.
    video_processor = Qwen2VLVideoProcessor(patch_size=8, merge_size=2, temporal_patch_size=2)
    processor = classes[2](image_processor=image_processor, tokenizer=tokenizer,
                           video_processor=video_processor, chat_template=QWEN_VL_TEMPLATE)
    model = classes[1](config)
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    return model, processor


BUILDERS = {"llava": build_llava, "qwen2_vl": build_qwen2_vl,
            "qwen2_5_vl": lambda: build_qwen2_vl(version="2.5")}


def ensure_tiny_vlm(kind: str, cache_dir: str | os.PathLike | None = None, seed: int = 0) -> str:
    """Builds and saves a tiny VLM (``llava``, ``qwen2_vl`` or ``qwen2_5_vl``) with its processor once; returns its folder."""
    if kind not in BUILDERS:
        raise ValueError(f"unknown tiny VLM {kind!r}; expected one of {sorted(BUILDERS)}")
    root = Path(cache_dir) if cache_dir else DEFAULT_CACHE

    def save(folder: Path) -> None:
        # Seeded for reproducible weights, inside a forked RNG so the caller's stream is untouched.
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model, processor = BUILDERS[kind]()
        model.save_pretrained(folder)
        processor.save_pretrained(folder)

    # The tokenizer's building code is in the name (code_key), as for the tiny backbones: a changed
    # tokenizer must not be served from a folder built with the old one.
    return str(save_folder_once(root / f"tiny-vlm-{kind}-v{TINY_VLM_VERSION}-{code_key()}-seed{seed}", save))
