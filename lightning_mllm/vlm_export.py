"""Exports a trained ``PretrainedVLM`` in the model's own Hugging Face format, plus its peft adapter.

    python -m lightning_mllm.vlm_export --checkpoint runs/.../last.ckpt --out exported/qwen2-vl-eu

(``python -m lightning_mllm.export`` does the same for these checkpoints, with ``--dtype`` and
``--adapter_only``.)

``--out`` then holds the merged model (LoRA folded into the language model's weights, the trained
projector/merger in place) and the model's processor with its chat template, loadable by
``AutoModelForImageTextToText.from_pretrained`` and ``AutoProcessor.from_pretrained`` with no project
code; ``--out/adapter`` holds the peft adapter (LoRA plus the connector as ``modules_to_save``) for
``PeftModel.from_pretrained`` on the original model. Stage-1 and full runs have no adapter.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from jsonargparse import CLI
from peft import PeftModel

from lightning_mllm.files import atomic_folder
from lightning_mllm.pretrained_vlm import PretrainedVLM
from lightning_mllm.trained_model import load_trained, model_class, read_checkpoint


def load_trained_vlm(checkpoint: str, overrides: dict[str, Any] | None = None, device: str = "cpu") -> PretrainedVLM:
    """The ``PretrainedVLM`` of a ``train.py fit`` checkpoint with its trained weights, in eval mode.

    Args:
        checkpoint: A ``.ckpt`` of a run whose model was ``lightning_mllm.PretrainedVLM``.
        overrides: Settings to replace, e.g. ``{"init_from": "/models/Qwen2-VL-2B-Instruct"}``.
        device: Where the model goes.
    """
    if model_class(read_checkpoint(checkpoint, mmap=True), checkpoint) is not PretrainedVLM:
        raise KeyError(f"{checkpoint} is not a checkpoint of lightning_mllm.PretrainedVLM (no init_from setting)")
    return load_trained(checkpoint, overrides, device)


def export_vlm(model: PretrainedVLM, out: str | os.PathLike, dtype: torch.dtype | None = None,
               adapter_only: bool = False) -> Path:
    """Writes ``model`` to ``out`` (merged model + processor, ``adapter/`` for LoRA runs).

    The folder is written under a temporary name and renamed when complete. The LoRA weights are
    merged into ``model`` in place, so the module is not trained further after this.

    Args:
        model: The trained model (``load_trained_vlm``).
        out: New folder.
        dtype: Dtype of the merged weights (cast after the merge); None keeps the model's.
        adapter_only: Write only ``adapter/`` (a LoRA run's peft adapter).
    """
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"--out {str(out)!r} exists; give a new folder")
    trained = model.model
    if adapter_only and not isinstance(trained, PeftModel):
        raise ValueError(f"--adapter_only: the model is a {model.hparams.stage!r} run, which has no LoRA adapter "
                         f"(only stage2 trains one); export the whole model instead")
    with atomic_folder(out) as staging:  # an interrupted export leaves no half-written folder
        if isinstance(trained, PeftModel):
            trained.save_pretrained(staging / "adapter")
            trained = trained.merge_and_unload()
        if not adapter_only:
            (trained if dtype is None else trained.to(dtype)).save_pretrained(staging)
            model.processor.save_pretrained(str(staging))
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
