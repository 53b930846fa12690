"""An existing Hugging Face vision-language model's parts, mapped onto the project's training stages.

In transformers 5 an image-text-to-text model is ``ForConditionalGeneration(model=<inner>, lm_head)``
whose inner model holds the vision tower, its projector (LLaVA's ``multi_modal_projector``) or
merger (Qwen-VL's ``visual.merger``) and the ``language_model``. The stages map onto them as for
the project's own model: the vision tower is always frozen, the projector/merger is the connector,
and LoRA (or full training) touches the language model only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn
from transformers import AutoConfig, PretrainedConfig, PreTrainedModel


@dataclass(frozen=True)
class Family:
    """Where a family keeps its parts, as attribute paths under the inner model.

    Args:
        vision: The vision tower (connector modules inside it are counted as connector).
        connector: The projector or merger modules between vision and language model.
        grid: True when images go in as flattened patches with a (t, h, w) grid per image (Qwen-VL).
    """

    vision: str
    connector: tuple[str, ...]
    grid: bool


FAMILIES = {
    "llava": Family("vision_tower", ("multi_modal_projector",), grid=False),
    "qwen2_vl": Family("visual", ("visual.merger",), grid=True),
    "qwen2_5_vl": Family("visual", ("visual.merger",), grid=True),
    # Qwen3-VL also feeds intermediate vision layers through "deepstack" mergers.
    "qwen3_vl": Family("visual", ("visual.merger", "visual.deepstack_merger_list"), grid=True),
}


def load_vlm_config(init_from: str) -> PretrainedConfig:
    """The config of ``init_from``, failing with the setting's name when it is missing or unsupported."""
    looks_local = init_from.startswith(("/", ".", "~")) or init_from.count("/") > 1
    if looks_local and not os.path.isdir(os.path.expanduser(init_from)):
        raise FileNotFoundError(f"model.init_from: folder {init_from!r} does not exist")
    try:
        config = AutoConfig.from_pretrained(os.path.expanduser(init_from))
    except (OSError, ValueError) as error:
        raise FileNotFoundError(f"model.init_from: cannot load {init_from!r} (a Hugging Face id or a local "
                                f"folder is expected; is it downloaded and readable?): {error}") from error
    family(config)
    return config


def family(config: PretrainedConfig) -> Family:
    """The ``Family`` of a config; a ``ValueError`` naming ``model.init_from`` for other architectures."""
    if config.model_type not in FAMILIES:
        raise ValueError(f"model.init_from: architecture {config.model_type!r} is not supported; "
                         f"supported: {sorted(FAMILIES)}")
    return FAMILIES[config.model_type]


def inner_model(model: nn.Module) -> nn.Module:
    """The inner multimodal model (vision, connector, language model) under any peft wrapper."""
    base = model.get_base_model() if isinstance(model, PeftModel) else model
    return base.model


def top_model(model: nn.Module) -> PreTrainedModel:
    """The ``ForConditionalGeneration`` model under any peft wrapper (it owns ``lm_head``)."""
    return model.get_base_model() if isinstance(model, PeftModel) else model


def connector_modules(model: nn.Module, fam: Family) -> list[nn.Module]:
    inner = inner_model(model)
    return [inner.get_submodule(path) for path in fam.connector if _has(inner, path)]


def _has(module: nn.Module, path: str) -> bool:
    try:
        module.get_submodule(path)
        return True
    except AttributeError:
        return False


def parts(model: nn.Module, fam: Family) -> dict[str, nn.Module]:
    """Modules per part for the parameter counts: vision tower (without connector), connector,
    language model, LM head."""
    inner = inner_model(model)
    vision = inner.get_submodule(fam.vision)
    connector = connector_modules(model, fam)
    inside = {id(m) for m in connector}
    tower = nn.ModuleList([child for child in vision.children() if id(child) not in inside])
    return {"vision_tower": tower, "connector": nn.ModuleList(connector),
            "language_model": inner.language_model, "lm_head": top_model(model).lm_head}


def language_linears(model: PreTrainedModel, targets: list[str] | str) -> list[str]:
    """Full names of the language model's linear layers that LoRA adapts.

    ``all-linear`` means every linear layer of the language model; a list keeps those whose last
    name is in it (``q_proj``...). Full names keep peft away from the vision tower's linears,
    which share short names (``qkv``, ``fc1``...) with no language-model layer but could.
    """
    prefix = next(name for name, module in model.named_modules() if module is model.model.language_model)
    names = [f"{prefix}.{name}" for name, module in model.model.language_model.named_modules()
             if isinstance(module, nn.Linear) and (targets == "all-linear" or name.rsplit(".", 1)[-1] in targets)]
    if not names:
        raise ValueError(f"model.lora_target_modules={targets!r} matches no linear layer of the language model")
    return names


def connector_names(model: PreTrainedModel, fam: Family) -> list[str]:
    wanted = {id(m) for m in connector_modules(model, fam)}
    return [name for name, module in model.named_modules() if id(module) in wanted]


def apply_stage(model: PreTrainedModel, stage: str, fam: Family, lora: dict, lora_dtype: torch.dtype) -> nn.Module:
    """Decides what trains for ``stage``; returns the model, wrapped by peft for ``stage2``.

    stage1: the connector. stage2: the connector and LoRA on the language model; the connector
    is a peft ``modules_to_save`` entry, so the saved adapter holds every trained weight.
    full: the connector, the language model and its LM head. The vision tower never trains.
    """
    model.requires_grad_(False)
    if stage == "stage2":
        config = LoraConfig(r=lora["rank"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                            target_modules=language_linears(model, lora["target_modules"]),
                            modules_to_save=connector_names(model, fam), bias="none")
        # float32 adapters are peft's default; any other dtype keeps them in the backbone's dtype.
        return get_peft_model(model, config, autocast_adapter_dtype=lora_dtype == torch.float32)
    if stage == "full":
        model.model.language_model.requires_grad_(True)
        model.lm_head.requires_grad_(True)
    for module in connector_modules(model, fam):
        module.requires_grad_(True)
    return model
