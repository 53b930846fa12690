"""The baseline docs/design.md measured: plain transformers ``LlavaForConditionalGeneration`` + peft
LoRA on every LLM linear layer (peft's defaults), right padding, SDPA, bf16 autocast, the model's
own loss from ``labels`` (full logits), AdamW, in a plain PyTorch loop.

The LLaVA model is built from a ``LlavaConfig`` of the same vision and text configs and holds
the same saved random weights as the project's model, so both runs measure one model; only the
projector (LLaVA's two-layer GELU MLP) is freshly initialised. The baseline always uses SDPA,
peft's float32 adapters and no packing: the settings docs/design.md's baseline figures were taken with.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Any

import torch
from peft import LoraConfig, get_peft_model
from torch import nn
from torch.utils.data import DataLoader
from transformers import AutoConfig, AutoModelForCausalLM, LlavaConfig, LlavaForConditionalGeneration

from lightning_mllm.benchmarking.throughput import ThroughputWindow
from lightning_mllm.benchmarking.flops import counts_from_parts
from lightning_mllm.benchmarking.operator_profile import OperatorProfile
from lightning_mllm.benchmarking.project_run import RunSettings, enable_activation_checkpointing
from lightning_mllm.benchmarking.runtime import PeakMemory, device, free_memory, is_out_of_memory, progress, synchronize
from lightning_mllm.chat_format import IGNORE_INDEX, IMAGE_TOKEN_ID
from lightning_mllm.model import DTYPES
from lightning_mllm.padding import mask, pad
from lightning_mllm.vision_tower import VISION_CLASSES, image_token_count


class LlavaCollator:
    """Right-padded LLaVA batches: the image placeholder becomes LLaVA's image token id."""

    def __init__(self, image_token_id: int, pad_token_id: int):
        self.image_token_id = image_token_id
        self.pad_token_id = pad_token_id

    def __call__(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        ids = [[self.image_token_id if t == IMAGE_TOKEN_ID else t for t in s["input_ids"]] for s in samples]
        images = [s["pixel_values"] for s in samples if s["pixel_values"] is not None]
        return {"input_ids": pad(ids, self.pad_token_id), "attention_mask": mask(ids),
                "labels": pad([s["labels"] for s in samples], IGNORE_INDEX),
                "pixel_values": torch.stack(images) if images else None}


def build_llava(settings: RunSettings) -> LlavaForConditionalGeneration:
    """LLaVA holding the saved LLM and vision tower (weights in ``settings.llm_dtype``, SDPA) and
    a fresh float32 projector.

    The parts are loaded by transformers' own ``from_pretrained`` (which knows each version's
    weight names) and placed into a LLaVA built on the meta device: a random initialisation of
    8B weights that are replaced at once would cost time and a second copy in memory.
    """
    dtype = DTYPES[settings.llm_dtype]
    vision_type = AutoConfig.from_pretrained(settings.vision).model_type
    vision = VISION_CLASSES[vision_type].from_pretrained(settings.vision, dtype=dtype, attn_implementation="sdpa")
    llm = AutoModelForCausalLM.from_pretrained(settings.llm, dtype=dtype, attn_implementation="sdpa")
    config = LlavaConfig(vision_config=vision.config, text_config=llm.config, image_token_index=settings.image_token_id,
                         image_seq_length=image_token_count(vision.config, drop_cls=True), vision_feature_layer=-2,
                         vision_feature_select_strategy="default", projector_hidden_act="gelu",
                         multimodal_projector_bias=True, tie_word_embeddings=False)
    with torch.device("meta"):
        model = LlavaForConditionalGeneration(config)
    model.model.vision_tower, model.model.language_model, model.lm_head = vision, llm.get_decoder(), llm.lm_head
    projector = model.model.multi_modal_projector.to_empty(device="cpu").float()  # trainable: float32 master weights
    for layer in (projector.linear_1, projector.linear_2):
        layer.reset_parameters()
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise RuntimeError(f"baseline LLaVA left weights unset (a transformers layout change?): {left[:3]}")
    return model.to(device())


def with_training_setup(model: LlavaForConditionalGeneration, stage: str, settings: RunSettings,
                        checkpointing: bool) -> nn.Module:
    """Stage 1: only the projector trains; stage 2: peft LoRA on every LLM linear + the projector."""
    model.requires_grad_(False)
    if checkpointing:
        enable_activation_checkpointing(model)
    if stage == "stage2":
        names = sorted({n.split(".")[-1] for n, m in model.model.language_model.named_modules()
                        if isinstance(m, nn.Linear)})
        target = rf"model\.language_model\..*\.({'|'.join(names)})"
        model = get_peft_model(model, LoraConfig(r=settings.lora_rank, lora_alpha=settings.lora_alpha,
                                                 target_modules=target, task_type="CAUSAL_LM"))
    projector = model.get_base_model() if stage == "stage2" else model
    projector.model.multi_modal_projector.requires_grad_(True)
    return model.train()


def _timed_loop(model: nn.Module, loader: DataLoader, settings: RunSettings, window: ThroughputWindow) -> dict:
    """Warm-up steps, then the timed ones; the same window semantics as ``ThroughputMonitor``
    (and, with ``settings.profile``, the same steps profiled as ``ProfileSteps`` does)."""
    profiler = OperatorProfile() if settings.profile else None
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    on_gpu = torch.cuda.is_available()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if on_gpu else nullcontext()
    target = device()
    batches = iter(loader)
    if settings.warmup == 0:
        window.open(time.perf_counter())
        if profiler:
            profiler.start()
    last_end = time.perf_counter()
    for step in range(settings.warmup + settings.steps):
        batch = {k: v.to(target, non_blocking=True) if v is not None else None for k, v in next(batches).items()}
        if window.opened_at is not None:
            window.add_stall(time.perf_counter() - last_end)
            window.add_batch(batch)
        with autocast:
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step == settings.warmup - 1:
            synchronize()
            window.open(time.perf_counter())
            if profiler:
                profiler.start()
        last_end = time.perf_counter()
    synchronize()
    figures = window.close(time.perf_counter())
    if profiler:
        figures["profile"] = profiler.stop(settings.steps)
    return figures


def _attempts(setting: str) -> list[bool]:
    """Checkpointing choices to try: ``auto`` tries without it first and falls back on a GPU OOM."""
    if setting == "auto":
        return [False, True] if torch.cuda.is_available() else [False]
    return [setting == "on"]


def run_baseline(stage: str, settings: RunSettings, samples: list[dict[str, Any]]) -> dict[str, Any]:
    """One timed baseline run of ``stage`` on ``samples``; returns its figures or its error."""
    result: dict[str, Any] = {}
    for checkpointing in _attempts(settings.baseline_checkpointing):
        result = {"checkpointing": checkpointing}
        progress(f"baseline {stage}: building LLaVA (activation checkpointing {'on' if checkpointing else 'off'})")
        model = None
        with PeakMemory() as memory:
            try:
                model = with_training_setup(build_llava(settings), stage, settings, checkpointing)
                llava = model.get_base_model() if stage == "stage2" else model
                counts = counts_from_parts(llava.model.vision_tower, llava.model.language_model, llava.lm_head,
                                           model, llava.config.text_config)
                result["counts"] = counts.as_dict()
                loader = DataLoader(samples, batch_size=settings.batch_size, shuffle=False, num_workers=0,
                                    collate_fn=LlavaCollator(settings.image_token_id, settings.pad_token_id))
                progress(f"baseline {stage}: {settings.warmup} warm-up + {settings.steps} timed steps")
                result.update(_timed_loop(model, loader, settings, ThroughputWindow(counts, settings.peak_tflops)))
            except (RuntimeError, torch.cuda.OutOfMemoryError) as error:
                if not is_out_of_memory(error):
                    raise
                result["error"] = "out of memory"
        model = llava = None  # noqa: F841 -- drop the references before freeing
        free_memory()
        result["peak_memory_gib"], result["memory_kind"] = memory.peak_gib, memory.kind
        if "error" not in result:
            break
        progress(f"baseline {stage}: out of memory (checkpointing {'on' if checkpointing else 'off'})")
    return result
