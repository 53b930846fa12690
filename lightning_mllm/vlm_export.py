"""Exports a trained ``PretrainedVLM`` in the model's own Hugging Face format, plus its peft adapter.

    python -m lightning_mllm.vlm_export --checkpoint runs/.../last.ckpt --out exported/qwen2-vl-eu

``--out`` then holds the merged model (LoRA folded into the language model's weights, the trained
projector/merger in place) and the model's processor with its chat template, loadable by
``AutoModelForImageTextToText.from_pretrained`` and ``AutoProcessor.from_pretrained`` with no project
code; ``--out/adapter`` holds the peft adapter (LoRA plus the connector as ``modules_to_save``) for
``PeftModel.from_pretrained`` on the original model. Stage-1 and full runs have no adapter.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from jsonargparse import CLI
from peft import PeftModel

from lightning_mllm.pretrained_vlm import PretrainedVLM


def load_trained_vlm(checkpoint: str, overrides: dict[str, Any] | None = None, device: str = "cpu") -> PretrainedVLM:
    """The ``PretrainedVLM`` of a ``train.py fit`` checkpoint with its trained weights, in eval mode.

    Args:
        checkpoint: A ``.ckpt`` of a run whose model was ``lightning_mllm.PretrainedVLM``.
        overrides: Settings to replace, e.g. ``{"init_from": "/models/Qwen2-VL-2B-Instruct"}``.
        device: Where the model goes.
    """
    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(f"checkpoint {checkpoint!r} does not exist (consolidate FSDP checkpoints first)")
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    settings = {k: v for k, v in state.get("hyper_parameters", {}).items() if not k.startswith("_")}
    if "init_from" not in settings:
        raise KeyError(f"{checkpoint} is not a checkpoint of lightning_mllm.PretrainedVLM (no init_from setting)")
    unknown = sorted(set(overrides or {}) - set(settings))
    if unknown:
        raise KeyError(f"model overrides {unknown} are not settings of PretrainedVLM ({sorted(settings)})")
    model = PretrainedVLM(**{**settings, **(overrides or {})})
    model.configure_model()
    model.on_load_checkpoint(state)  # names the trainable weights the checkpoint lacks
    result = model.load_state_dict(state["state_dict"], strict=False)
    if result.unexpected_keys:
        raise KeyError(f"{checkpoint} holds weights this model does not have, e.g. {result.unexpected_keys[:3]}")
    return model.to(device).eval()


def export_vlm(model: PretrainedVLM, out: str | os.PathLike) -> Path:
    """Writes ``model`` to ``out`` (merged model + processor, ``adapter/`` for LoRA runs).

    The folder is written under a temporary name and renamed when complete. The LoRA weights are
    merged into ``model`` in place, so the module is not trained further after this.
    """
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"--out {str(out)!r} exists; give a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        trained = model.model
        if isinstance(trained, PeftModel):
            trained.save_pretrained(staging / "adapter")
            trained = trained.merge_and_unload()
        trained.save_pretrained(staging)
        model.processor.save_pretrained(str(staging))
        os.replace(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out


def export(checkpoint: str, out: str, model: dict[str, Any] | None = None) -> None:
    """Exports the model of ``checkpoint`` to ``out``.

    Args:
        checkpoint: A ``.ckpt`` written by ``train.py fit`` with ``model.class_path: lightning_mllm.PretrainedVLM``.
        out: New folder for the merged model, its processor and ``adapter/``.
        model: Settings to override, e.g. ``{init_from: /models/Qwen2-VL-2B-Instruct}``.
    """
    path = export_vlm(load_trained_vlm(checkpoint, model), out)
    print(f"exported {checkpoint} to {path}")


def main(args: list[str] | None = None) -> None:
    CLI(export, args=args)


if __name__ == "__main__":
    main()
