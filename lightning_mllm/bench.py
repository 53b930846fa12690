"""Training speed of the project against plain transformers + peft, on the same model and data.

    python -m lightning_mllm.bench                                  # Llama-3.1-8B + CLIP-L/336 shapes
    python -m lightning_mllm.bench --size tiny --steps 2 --warmup 1  # seconds on a CPU
    python -m lightning_mllm.bench --runs project-stage2 --pack_length 4096 --lora_dtype bfloat16
    python -m lightning_mllm.bench --size small --profile 15         # where each side's step goes

Random weights with the real shapes are saved once under the cache and loaded by both sides. The
project runs go through ``MultimodalLM`` + ``Collator`` + a Lightning ``Trainer``; the baseline is
``LlavaForConditionalGeneration`` + peft LoRA in a plain loop (docs/design.md, "Measuring speed
honestly"). Prints samples/s, real tokens/s, MFU, peak memory, data stall and the ratios.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from transformers.utils import logging as hf_logging

from lightning_mllm.benchmarking.operator_profile import profile_tables
from lightning_mllm.benchmarking.report import RUNS, table, write_json
from lightning_mllm.benchmarking.suite import run_suite


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    models = parser.add_argument_group("models")
    models.add_argument("--size", choices=("full", "small", "tiny"), default="full",
                        help="random backbones: Llama-3.1-8B + CLIP-L/336, CPU-sized, or the demo's tiny ones")
    models.add_argument("--llm_config", help="JSON of LlamaConfig arguments laid over the size's")
    models.add_argument("--vision_config", help="JSON of CLIPVisionConfig arguments laid over the size's")
    models.add_argument("--llm", help="an existing LLM folder (with --vision) instead of random backbones")
    models.add_argument("--vision", help="an existing vision tower folder")
    models.add_argument("--cache_dir", help="where random backbones are saved; default: $LIGHTNING_MLLM_CACHE "
                                            "or ~/.cache/lightning_mllm")
    work = parser.add_argument_group("workload")
    work.add_argument("--batch_size", type=int, default=16, help="samples per step (packed or padded)")
    work.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    work.add_argument("--steps", type=int, default=10, help="timed steps")
    work.add_argument("--repeats", type=int, default=1,
                      help="run every run this many times, project and baseline in turns; report each run's "
                           "median and every repeat's ratio (a shared machine's speed drifts between runs)")
    work.add_argument("--text_min", type=int, default=60, help="shortest text in tokens")
    work.add_argument("--text_max", type=int, default=700, help="longest text in tokens")
    work.add_argument("--text_only_share", type=float, default=0.1, help="share of samples without an image")
    work.add_argument("--answer_share", type=float, default=0.5, help="labelled share at the end of each text")
    work.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated, from {', '.join(RUNS)}")
    project = parser.add_argument_group("project configuration")
    project.add_argument("--pack_length", type=int, help="pack samples into rows of this many tokens")
    project.add_argument("--lora_dtype", choices=("float32", "bfloat16"), default="bfloat16",
                         help="adapters in the frozen weights' dtype (the model's default, with Kahan-summed AdamW)")
    project.add_argument("--attn_implementation", choices=("sdpa_packed", "sdpa", "flex_attention", "eager"),
                         default="sdpa_packed", help="the project's LLM attention (the baseline's is sdpa)")
    project.add_argument("--connector", choices=("linear", "mlp2x_gelu"), default="linear")
    project.add_argument("--llm_dtype", choices=("auto", "bfloat16", "float16", "float32"), default="auto",
                         help="frozen weights (both sides); auto: bfloat16 on a GPU, float32 on a CPU")
    project.add_argument("--lora_rank", type=int, default=64)
    project.add_argument("--lora_alpha", type=int, default=128)
    project.add_argument("--gradient_checkpointing", action="store_true",
                         help="activation checkpointing of the project's LLM layers")
    project.add_argument("--compile", action="store_true", help="torch.compile each LLM decoder layer")
    project.add_argument("--load_in_4bit", action="store_true", help="QLoRA: the project's stage-2 LLM in NF4")
    parser.add_argument("--baseline_checkpointing", choices=("auto", "on", "off"), default="auto",
                        help="auto: off, and on again after a GPU out-of-memory")
    parser.add_argument("--memory_fraction", type=float, help="cap this process's share of GPU memory")
    parser.add_argument("--peak_tflops", type=float, default=989.0, help="peak for MFU (989: H100 bf16 dense)")
    parser.add_argument("--profile", type=int, default=0, metavar="ROWS",
                        help="profile the timed steps (torch.profiler) and print this many operators per stage, "
                             "project and baseline side by side; profiled runs are slower, quote unprofiled figures")
    parser.add_argument("--out", help="write every figure and setting to this JSON file")
    return parser


def main(argv: list[str] | None = None) -> dict:
    """Runs the bench; returns the results that ``--out`` writes."""
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # one "Loading weights" bar per part and run drowns the progress lines
    try:
        with warnings.catch_warnings():
            # Lightning's advice to add loader workers (the bench feeds from memory and reports its
            # stall) and to validate, its note on the frozen vision tower's eval mode, and
            # transformers' renames: noise around the progress lines, once per run.
            for message in (".*does not have many workers.*", ".*no `val_dataloader`.*",
                            ".*module\\(s\\) in eval mode.*", ".*deprecated.*"):
                warnings.filterwarnings("ignore", message)
            results = run_suite(args)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    print(table(results))
    if args.profile:
        print()
        print(profile_tables(results["runs"], args.profile))
    if args.out:
        write_json(args.out, results)
    return results


if __name__ == "__main__":
    # A run that failed for another reason than memory is a bug: the exit status says so.
    sys.exit(int(any(run.get("failed") for run in main()["runs"].values())))
