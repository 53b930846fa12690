"""Loading the language model, optionally in 4-bit NF4, wrapping it with LoRA through peft, and
preparing it for training (activation checkpointing, peft's k-bit preparation)."""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_info
from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn
from transformers import AutoModelForCausalLM, BitsAndBytesConfig, PreTrainedModel

from lightning_mllm import packed_attention  # registers "sdpa_packed" with transformers on import


def nf4_config(compute_dtype: torch.dtype) -> BitsAndBytesConfig:
    """QLoRA's storage: NF4 weights with double quantisation, matmuls in ``compute_dtype``."""
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute_dtype, bnb_4bit_quant_storage=compute_dtype)


def load_llm(name_or_path: str, dtype: torch.dtype, load_in_4bit: bool = False,
             attn_implementation: str = packed_attention.ATTENTION) -> PreTrainedModel:
    """Loads any Hugging Face causal LM (a hub id or a local folder); frozen until a stage says otherwise."""
    kwargs = {"dtype": dtype, "attn_implementation": attn_implementation}
    if load_in_4bit:
        # bitsandbytes quantises when weights are placed on a device; "cpu" works for tests.
        kwargs["quantization_config"] = nf4_config(dtype)
        kwargs["device_map"] = {"": torch.cuda.current_device() if torch.cuda.is_available() else "cpu"}
    model = AutoModelForCausalLM.from_pretrained(name_or_path, **kwargs)
    model.requires_grad_(False)
    return model


def add_lora(model: PreTrainedModel, rank: int, alpha: int, dropout: float,
             target_modules: list[str] | str, dtype: torch.dtype = torch.float32) -> PeftModel:
    """Wraps the LLM with LoRA adapters; ``"all-linear"`` means every linear layer but the LM head.

    ``dtype`` float32 is peft's default (adapters upcast to float32); any other dtype keeps the
    adapters in the backbone's own dtype, which saves a cast of every adapter input and output.
    """
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules,
                        bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, config, autocast_adapter_dtype=dtype == torch.float32)


def base_model(llm: nn.Module) -> PreTrainedModel:
    """The transformers model under a peft wrapper (LoRA layers live inside it)."""
    return llm.get_base_model() if isinstance(llm, PeftModel) else llm


def enable_checkpointing(model: PreTrainedModel) -> None:
    """Transformers' per-decoder-layer activation checkpointing, non-reentrant (frozen embeddings in
    front of trainable adapters then need no input hook); the newer name first, the older on 5.17."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def norms_to_float32(model: nn.Module) -> int:
    """Puts the weights of every normalisation layer in float32; returns how many tensors changed.

    peft's ``prepare_model_for_kbit_training`` upcasts every non-4-bit weight, embeddings and LM head
    included (2 GiB more for an 8B Llama); QLoRA's own training script upcasts only the norms, which is
    what the recipe needs for stable training, so that is all this does.
    """
    changed = 0
    for module in model.modules():
        if "Norm" not in type(module).__name__:
            continue
        for param in module.parameters(recurse=False):
            if param.dtype in (torch.float16, torch.bfloat16):
                param.data = param.data.float()
                changed += 1
    return changed


def prepare_for_training(llm: nn.Module, gradient_checkpointing: bool, load_in_4bit: bool, trainer: Any = None) -> None:
    """Activation checkpointing and peft's k-bit preparation, for one device, DDP or FSDP.

    Under an FSDP strategy that already wraps layers for activation checkpointing, transformers'
    checkpointing stays off (each layer would be recomputed twice), and norms keep the storage dtype
    (an FSDP unit's weights must share one dtype). ``trainer`` is None outside a fit.
    """
    strategy = getattr(trainer, "strategy", None)
    fsdp = strategy is not None and "FSDP" in type(strategy).__name__
    model = base_model(llm)
    if gradient_checkpointing:
        if getattr(strategy, "_activation_checkpointing_kwargs", None):
            rank_zero_info("model.gradient_checkpointing: the FSDP strategy's activation checkpointing is used")
        else:
            enable_checkpointing(model)
            # As peft does for k-bit models: embeddings that output tensors requiring grad, so a
            # checkpointed first layer always has a graph to recompute into.
            model.enable_input_require_grads()
    if load_in_4bit and not fsdp:
        rank_zero_info(f"k-bit preparation: {norms_to_float32(model)} normalisation weight(s) in float32")
