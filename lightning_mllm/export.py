"""Exports a training checkpoint as a standard Hugging Face folder and a LoRA adapter.

    python -m lightning_mllm.export --checkpoint runs/demo/version_0/checkpoints/last.ckpt --out exports/demo \\
        [--model '{llm: /models/Llama-3.1-8B-Instruct}'] [--dtype bfloat16|float32] [--adapter_only]

``--out`` then holds a ``LlavaForConditionalGeneration`` (safetensors) with its tokenizer (an
``<image>`` token added), image processor and ``LlavaProcessor``, so ``from_pretrained`` and
``AutoProcessor.from_pretrained`` load it with no project code (conversion: ``llava_export.py``).
A stage-2 run also gets ``adapter/``: the LoRA adapter in peft's format, loadable with
``PeftModel.from_pretrained(base_llm, OUT/adapter)``, and the connector (``connector.safetensors``
and ``connector.json``). ``--adapter_only`` writes just ``adapter/``. Everything is written to a
staging folder beside ``OUT`` (``files.atomic_folder``) and renamed at the end, so ``OUT`` is
either complete or absent.

A checkpoint of ``lightning_mllm.PretrainedVLM`` (an adapted existing VLM, ``configs/demo-vlm.yaml``)
is exported in that model's own format instead (``vlm_export.py``): the merged model with its
processor and chat template, and ``adapter/`` for a stage-2 run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors.torch import save_file

from lightning_mllm.files import atomic_folder
from lightning_mllm.llava_export import to_llava
from lightning_mllm.model import DTYPES, MultimodalLM
from lightning_mllm.pretrained_vlm import PretrainedVLM
from lightning_mllm.trained_model import load_trained, model_class, read_checkpoint
from lightning_mllm.vlm_export import export_vlm

# The trainable weights each stage's checkpoint must hold, as (description, test on a key).
REQUIRED_WEIGHTS = {
    "stage1": [("connector", lambda k: k.startswith("connector."))],
    "stage2": [("connector", lambda k: k.startswith("connector.")), ("LoRA adapter", lambda k: ".lora_" in k)],
    "full": [("connector", lambda k: k.startswith("connector.")), ("LLM", lambda k: k.startswith("llm."))],
}
# Merging LoRA into bf16 or 4-bit weights would round the update away; the export casts at the end.
EXPORT_LOAD = {"llm_dtype": "float32", "load_in_4bit": False}
EXPORT_LOAD_VLM = {"dtype": "float32"}


class ExportError(ValueError):
    """A checkpoint or request that cannot be exported; the message says why."""


def _read(checkpoint: str) -> dict[str, Any]:
    """The checkpoint (memory-mapped), or ``ExportError`` saying why it cannot be one of train.py's."""
    try:
        return read_checkpoint(checkpoint, mmap=True)
    except (FileNotFoundError, IsADirectoryError) as error:
        raise ExportError(str(error)) from error
    except KeyError as error:
        raise ExportError(error.args[0]) from error


def trained_class(state: dict[str, Any], checkpoint: str) -> type:
    """The model class of the checkpoint (``MultimodalLM`` or ``PretrainedVLM``), or ``ExportError``."""
    try:
        return model_class(state, checkpoint)
    except KeyError as error:
        raise ExportError(error.args[0]) from error


def checked_stage(state: dict[str, Any], checkpoint: str, overrides: dict[str, Any], adapter_only: bool,
                  project_model: bool = True) -> str:
    """The run's stage, after checking that ``--adapter_only`` has an adapter to write and (for
    the project's own ``MultimodalLM``) that the checkpoint holds what that stage trained."""
    stage = {**state["hyper_parameters"], **overrides}.get("stage")
    if project_model and stage not in REQUIRED_WEIGHTS:
        raise ExportError(f"{checkpoint}: unknown stage {stage!r}")
    if adapter_only and stage != "stage2":
        raise ExportError(f"--adapter_only: {checkpoint} is a {stage!r} run, which has no LoRA adapter "
                          f"(only stage2 trains one); export the whole model instead")
    for part, wanted in REQUIRED_WEIGHTS[stage] if project_model else ():
        if not any(wanted(key) for key in state["state_dict"]):
            raise ExportError(f"{checkpoint} (stage {stage!r}) holds no {part} weights; a {stage} checkpoint "
                              f"written by train.py fit has them")
    return stage


def save_adapter(model: MultimodalLM, folder: Path) -> None:
    """The LoRA adapter in peft's format plus the connector, for use on the original backbones."""
    model.llm.save_pretrained(str(folder), safe_serialization=True)
    connector = model.connector
    save_file({k: v.detach().cpu().contiguous() for k, v in connector.state_dict().items()},
              str(folder / "connector.safetensors"), metadata={"format": "pt"})
    h = model.hparams
    first = connector.layers[0]
    meta = {"kind": connector.kind, "vision_size": first.in_features, "llm_size": first.out_features,
            "vision_tower": h.vision_tower, "llm": h.llm, "feature_layer": h.feature_layer,
            "drop_cls": h.drop_cls, "image_tokens": model.image_tokens}
    (folder / "connector.json").write_text(json.dumps(meta, indent=2) + "\n")


def save_llava(model: MultimodalLM, folder: Path, dtype: torch.dtype) -> None:
    """The merged LLaVA model, tokenizer, image processor and processor; consumes ``model``."""
    llava, processor = to_llava(model, dtype)
    llava.save_pretrained(str(folder))  # transformers 5 writes safetensors only
    # preprocessor_config.json for loaders that read the image processor alone; the processor's
    # own files (processor_config.json, tokenizer, chat template) follow.
    processor.image_processor.save_pretrained(str(folder))
    processor.save_pretrained(str(folder))


def export(checkpoint: str, out: str, model: dict[str, Any] | None = None, dtype: str = "bfloat16",
           adapter_only: bool = False) -> Path:
    """Writes the exported model (and adapter) of ``checkpoint`` to ``out``; returns ``out``.

    Args:
        checkpoint: A ``.ckpt`` written by ``train.py fit`` (consolidate FSDP checkpoints first).
        out: Folder to create; it must not exist yet.
        model: Model settings to override, e.g. ``{"llm": "/models/Llama-3.1-8B-Instruct"}``.
        dtype: Weight dtype of the exported LLaVA model, ``bfloat16`` or ``float32``.
        adapter_only: Write only ``adapter/`` (stage 2 only).
    """
    if dtype not in ("bfloat16", "float32"):
        raise ExportError(f"--dtype {dtype!r}; expected bfloat16 or float32")
    target = Path(out)
    if target.exists():
        raise ExportError(f"{target} already exists; remove it or choose another --out")
    overrides = model or {}
    state = _read(checkpoint)  # memory-mapped: only the settings and weight names are read here
    vlm = trained_class(state, checkpoint) is PretrainedVLM
    stage = checked_stage(state, checkpoint, overrides, adapter_only, project_model=not vlm)
    try:
        trained = load_trained(checkpoint, {**(EXPORT_LOAD_VLM if vlm else EXPORT_LOAD), **overrides}, "cpu")
    except KeyError as error:  # a checkpoint lacking some trainable weights, or of another architecture
        raise ExportError(f"cannot export {checkpoint} (stage {stage!r}): {error.args[0]}") from error
    if vlm:  # the model's own format (LoRA merged in float32, then cast)
        return export_vlm(trained, target, DTYPES[dtype], adapter_only)
    with atomic_folder(target) as staging:  # an interrupted export leaves no half-written folder
        if stage == "stage2":
            save_adapter(trained, staging / "adapter")  # before the merge, which removes the adapters
        if not adapter_only:
            save_llava(trained, staging, DTYPES[dtype])
    return target


def main(args: list[str] | None = None) -> Path:
    """Command-line entry: parses the options and runs ``export``; bad input exits with its reason."""
    parser = argparse.ArgumentParser(prog="python -m lightning_mllm.export", description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True, help="a .ckpt written by train.py fit")
    parser.add_argument("--out", required=True, help="folder to create for the exported Hugging Face model")
    parser.add_argument("--model", type=yaml.safe_load, default=None,
                        help="model settings to override, e.g. '{llm: /models/Llama-3.1-8B-Instruct}'")
    parser.add_argument("--dtype", choices=("bfloat16", "float32"), default="bfloat16",
                        help="weight dtype of the exported model")
    parser.add_argument("--adapter_only", action="store_true", help="write only the LoRA adapter and connector")
    options = parser.parse_args(args)
    if options.model is not None and not isinstance(options.model, dict):
        parser.error(f"--model must be a mapping of model settings, got {options.model!r}")
    try:
        target = export(options.checkpoint, options.out, options.model, options.dtype, options.adapter_only)
    except ExportError as error:
        raise SystemExit(f"error: {error}") from error
    print(f"exported {options.checkpoint} to {target}")
    return target


if __name__ == "__main__":
    main()
