"""Writes the LLM of a trained run alone, as a Hugging Face causal-LM folder with its tokenizer.

The text-only benchmarks (``python -m lightning_mllm.text_benchmarks``) load a causal LM through
lm-evaluation-harness, which cannot read the LLaVA folder ``lightning_mllm.export`` writes. LoRA
runs pass the base model and the adapter instead; a full fine-tuning run needs its LLM written out:

    python -m slurm.export_llm --checkpoint runs/<run>/version_0/checkpoints/last.ckpt --out runs/<run>/llm
"""

from __future__ import annotations

import argparse
from pathlib import Path

from transformers import AutoTokenizer

from lightning_mllm.files import atomic_folder
from lightning_mllm.llava_export import merged_llm
from lightning_mllm.model import DTYPES
from lightning_mllm.trained_model import load_trained


def export_llm(checkpoint: str, out: str, dtype: str = "bfloat16") -> Path:
    """Writes the trained LLM of ``checkpoint`` (LoRA merged) and its tokenizer to ``out``."""
    target = Path(out)
    if target.exists():
        raise SystemExit(f"error: --out {target} already exists; remove it or choose another folder")
    model = load_trained(checkpoint, device="cpu")
    tokenizer = AutoTokenizer.from_pretrained(model.hparams.tokenizer or model.hparams.llm)
    llm = merged_llm(model).to(DTYPES[dtype])
    with atomic_folder(target) as staging:  # an interrupted export leaves no folder under --out
        llm.save_pretrained(str(staging))  # safetensors
        tokenizer.save_pretrained(str(staging))
    return target


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m slurm.export_llm", description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True, help="a .ckpt written by train.py fit (one file)")
    parser.add_argument("--out", required=True, help="folder to create for the causal LM and its tokenizer")
    parser.add_argument("--dtype", choices=("bfloat16", "float32"), default="bfloat16", help="weight dtype")
    options = parser.parse_args(argv)
    target = export_llm(options.checkpoint, options.out, options.dtype)
    print(target)
    return target


if __name__ == "__main__":
    main()
