"""Loading the language model, optionally in 4-bit NF4, and wrapping it with LoRA through peft."""

from __future__ import annotations

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn
from transformers import AutoModelForCausalLM, BitsAndBytesConfig, PreTrainedModel


def nf4_config(compute_dtype: torch.dtype) -> BitsAndBytesConfig:
    """QLoRA's storage: NF4 weights with double quantisation, matmuls in ``compute_dtype``."""
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute_dtype, bnb_4bit_quant_storage=compute_dtype)


def load_llm(name_or_path: str, dtype: torch.dtype, load_in_4bit: bool = False,
             attn_implementation: str = "sdpa") -> PreTrainedModel:
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
