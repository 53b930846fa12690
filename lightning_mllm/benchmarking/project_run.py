"""Times the project's own training path: ``MultimodalLM`` + ``Collator`` + its AdamW, run by a
Lightning ``Trainer``, with ``ThroughputMonitor`` measuring the steps after the warm-up."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from lightning_mllm.benchmarking.flops import project_counts
from lightning_mllm.benchmarking.operator_profile import ProfileSteps
from lightning_mllm.benchmarking.runtime import (
    PeakMemory,
    free_memory,
    is_out_of_memory,
    progress,
)
from lightning_mllm.benchmarking.throughput import ThroughputMonitor
from lightning_mllm.collate import Collator
from lightning_mllm.llm import base_model
from lightning_mllm.model import MultimodalLM


@dataclass(frozen=True)
class RunSettings:
    """What a run measures and how; shared by the project and baseline runs."""

    llm: str
    vision: str
    pad_token_id: int
    batch_size: int
    warmup: int
    steps: int
    peak_tflops: float
    llm_dtype: str
    lora_rank: int
    lora_alpha: int
    attn_implementation: str
    connector: str = "linear"
    lora_dtype: str = "float32"
    pack_length: int | None = None
    load_in_4bit: bool = False
    gradient_checkpointing: bool = False
    compile: bool = False
    baseline_checkpointing: str = "auto"
    image_token_id: int = 0
    profile: bool = False


def enable_activation_checkpointing(model: torch.nn.Module) -> None:
    """Transformers' per-layer activation checkpointing, non-reentrant (adapters behind frozen
    embeddings then still get gradients); the newer name first, the older one on transformers 5.17."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


class ProjectOptions(L.Callback):
    """Applies the bench's model options that ``MultimodalLM`` has no setting for, once the model
    is built and on its device: activation checkpointing of the LLM's decoder layers (through
    transformers) and ``torch.compile`` of each decoder layer."""

    def __init__(self, gradient_checkpointing: bool, compile_layers: bool):
        self.gradient_checkpointing = gradient_checkpointing
        self.compile_layers = compile_layers

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        llm = base_model(pl_module.llm)
        if self.gradient_checkpointing:
            enable_activation_checkpointing(llm)
        if self.compile_layers:
            # Layer by layer: one compiled graph reused 32 times, and no graph breaks at the
            # model's Python-side mask building; lengths vary, so shapes are dynamic.
            for layer in llm.get_decoder().layers:
                layer.compile(dynamic=True)


def _trainer(settings: RunSettings, callbacks: list[L.Callback]) -> L.Trainer:
    on_gpu = torch.cuda.is_available()
    return L.Trainer(accelerator="auto", devices=1, precision="bf16-mixed" if on_gpu else "32-true",
                     max_steps=settings.warmup + settings.steps, logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                     limit_val_batches=0, callbacks=callbacks)


def run_project(stage: str, settings: RunSettings, samples: list[dict[str, Any]]) -> dict[str, Any]:
    """One timed run of the project's ``stage`` on ``samples``; returns its figures or its error."""
    quiet = logging.getLogger("lightning.pytorch")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # Lightning's banner and the model's count table, once per run
    result: dict[str, Any] = {"checkpointing": settings.gradient_checkpointing,
                              "load_in_4bit": settings.load_in_4bit and stage == "stage2"}
    try:
        with PeakMemory() as memory:
            model = MultimodalLM(
                vision_tower=settings.vision, llm=settings.llm, stage=stage, connector=settings.connector,
                max_length=max(len(s["input_ids"]) for s in samples), llm_dtype=settings.llm_dtype,
                load_in_4bit=settings.load_in_4bit and stage == "stage2", lora_rank=settings.lora_rank,
                lora_alpha=settings.lora_alpha, lora_dropout=0.0, lora_dtype=settings.lora_dtype,
                attn_implementation=settings.attn_implementation)
            loader = DataLoader(samples, batch_size=settings.batch_size, shuffle=False, num_workers=0,
                                collate_fn=Collator(settings.pad_token_id, settings.pack_length))
            monitor = ThroughputMonitor(settings.peak_tflops, log_every_n_steps=settings.steps,
                                        warmup_steps=settings.warmup)
            options = ProjectOptions(settings.gradient_checkpointing, settings.compile)
            profiler = ProfileSteps(settings.warmup, settings.steps) if settings.profile else None
            progress(f"project {stage}: loading the backbones, then {settings.warmup} warm-up + "
                     f"{settings.steps} timed steps{' (profiled)' if profiler else ''}")
            trainer = _trainer(settings, [monitor, options] + ([profiler] if profiler else []))
            trainer.fit(model, train_dataloaders=loader)
            result["counts"] = project_counts(model).as_dict()
            result.update(monitor.windows[-1])
            if profiler:
                result["profile"] = profiler.table
    except (RuntimeError, torch.cuda.OutOfMemoryError) as error:
        if not is_out_of_memory(error):
            raise
        result["error"] = "out of memory"
        progress(f"project {stage}: out of memory")
    finally:
        quiet.setLevel(level)
        model = trainer = loader = None  # noqa: F841 -- drop the references before freeing
        free_memory()
    result["peak_memory_gib"] = memory.peak_gib
    result["memory_kind"] = memory.kind
    return result
