"""Runs the selected project and baseline runs on one workload and one set of random weights."""

from __future__ import annotations

import argparse
import traceback
from typing import Any

import torch
from transformers import AutoConfig

from lightning_mllm.benchmarking.backbones import resolve_backbones
from lightning_mllm.benchmarking.baseline_run import run_baseline
from lightning_mllm.benchmarking.project_run import RunSettings, run_project
from lightning_mllm.benchmarking.report import RUNS, ratios
from lightning_mllm.benchmarking.runtime import GIB, environment, free_memory, progress
from lightning_mllm.benchmarking.workload import WorkloadSpec, make_samples, summarize
from lightning_mllm.vision_tower import image_token_count, vision_config

def parse_runs(text: str) -> list[str]:
    runs = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(runs) - set(RUNS))
    if unknown or not runs:
        raise ValueError(f"--runs: unknown {unknown}; choose from {', '.join(RUNS)}")
    return runs


def _limit_memory(fraction: float | None) -> float | None:
    """Caps this process's share of the GPU (``--memory_fraction``); returns the cap in GiB."""
    if fraction is None:
        return None
    if not torch.cuda.is_available():
        progress("--memory_fraction is ignored without a GPU")
        return None
    torch.cuda.set_per_process_memory_fraction(fraction)
    return fraction * torch.cuda.get_device_properties(0).total_memory / GIB


def _one_run(name: str, settings: RunSettings, samples: list[dict[str, Any]]) -> dict[str, Any]:
    """One run; a failure is recorded (and its traceback shown) so the other runs still report."""
    side, stage = name.split("-")
    try:
        result = (run_project if side == "project" else run_baseline)(stage, settings, samples)
    except Exception as error:  # noqa: BLE001 -- GPU time is scarce: keep the other runs' figures
        progress(f"{name} failed:\n{traceback.format_exc()}")
        result = {"error": f"{type(error).__name__}: {error}", "failed": True}
    free_memory()
    if "samples_per_sec" in result:
        progress(f"{name}: {result['samples_per_sec']:.3g} samples/s")
    return result


def lower_median(values: list[Any], key: Any = None) -> Any:
    """The middle value (the lower middle of an even count): always one that was measured."""
    return sorted(values, key=key)[(len(values) - 1) // 2]


def _median_run(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """The repeat with the median samples/s; a failed repeat is reported as the run's result,
    since a failure is never noise."""
    failed = [run for run in outcomes if "samples_per_sec" not in run]
    if failed:
        return failed[0]
    median = dict(lower_median(outcomes, key=lambda run: run["samples_per_sec"]))
    if len(outcomes) > 1:
        median["repeats_samples_per_sec"] = [run["samples_per_sec"] for run in outcomes]
    return median


def ratio_spread(repeats: dict[str, list[dict[str, Any]]]) -> dict[str, list[float]]:
    """Per stage, project/baseline samples/s of each repeat (the project and baseline runs of one
    repeat paired), when there is more than one."""
    spread = {}
    for stage in ("stage1", "stage2"):
        pairs = zip(repeats.get(f"project-{stage}", []), repeats.get(f"baseline-{stage}", []))
        values = [p["samples_per_sec"] / b["samples_per_sec"] for p, b in pairs
                  if p.get("samples_per_sec") and b.get("samples_per_sec")]
        if len(values) > 1:
            spread[stage] = values
    return spread


def run_suite(args: argparse.Namespace) -> dict[str, Any]:
    """Every selected run; the results as the ``--out`` file holds them."""
    runs = parse_runs(args.runs)
    if args.steps < 1 or args.warmup < 0 or args.batch_size < 1 or args.profile < 0 or args.repeats < 1:
        raise ValueError("--steps, --batch_size and --repeats must be at least 1, --warmup and --profile at least 0")
    cap = _limit_memory(args.memory_fraction)
    backbones = resolve_backbones(args.size, args.llm, args.vision, args.llm_config, args.vision_config,
                                  args.cache_dir)
    text_config, vision = AutoConfig.from_pretrained(backbones.llm), AutoConfig.from_pretrained(backbones.vision)
    # The baseline needs a real id for LLaVA's <image> token: the vocabulary's last, never drawn as text.
    image_token_id = text_config.vocab_size - 1
    spec = WorkloadSpec(samples=(args.warmup + args.steps) * args.batch_size,
                        image_tokens=image_token_count(vision, drop_cls=True),
                        image_size=vision_config(vision).image_size, vocab_size=text_config.vocab_size,
                        special_ids=tuple(sorted({*backbones.special_ids, image_token_id})), text_min=args.text_min,
                        text_max=args.text_max, text_only_share=args.text_only_share,
                        answer_share=args.answer_share, seed=args.seed)
    samples = make_samples(spec)
    longest = max(len(s["input_ids"]) for s in samples)
    if args.pack_length is not None and args.pack_length < longest:
        raise ValueError(f"--pack_length {args.pack_length} is shorter than the longest sample ({longest} tokens)")
    llm_dtype = args.llm_dtype if args.llm_dtype != "auto" else ("bfloat16" if torch.cuda.is_available() else "float32")
    settings = RunSettings(
        llm=backbones.llm, vision=backbones.vision, pad_token_id=backbones.pad_token_id,
        batch_size=args.batch_size, warmup=args.warmup, steps=args.steps, peak_tflops=args.peak_tflops,
        llm_dtype=llm_dtype, lora_rank=args.lora_rank, lora_alpha=args.lora_alpha,
        attn_implementation=args.attn_implementation, connector=args.connector, lora_dtype=args.lora_dtype,
        pack_length=args.pack_length, load_in_4bit=args.load_in_4bit,
        gradient_checkpointing=args.gradient_checkpointing, compile=args.compile,
        baseline_checkpointing=args.baseline_checkpointing, image_token_id=image_token_id,
        profile=bool(args.profile))
    results: dict[str, Any] = {
        "settings": {**vars(args), "llm_dtype": llm_dtype, "llm_folder": backbones.llm,
                     "vision_folder": backbones.vision, "memory_cap_gib": cap},
        "environment": environment(),
        "workload": {**summarize(samples), **spec.as_dict(),
                     "measured": summarize(samples[args.warmup * args.batch_size:])},
        "runs": {},
    }
    progress(f"workload: {len(samples)} samples, mean {results['workload']['mean_tokens']:.0f} tokens, "
             f"longest {longest}")
    # Repeats run the whole list again (project and baseline take turns), so a slow spell of a
    # shared machine falls on both sides; each run reports its median repeat.
    repeats: dict[str, list[dict[str, Any]]] = {name: [] for name in runs}
    for repeat in range(args.repeats):
        if args.repeats > 1:
            progress(f"repeat {repeat + 1} of {args.repeats}")
        for name in runs:
            repeats[name].append(_one_run(name, settings, samples))
    for name, outcomes in repeats.items():
        results["runs"][name] = _median_run(outcomes)
    results["ratios"] = ratios(results["runs"])
    for stage, spread in ratio_spread(repeats).items():
        if stage in results["ratios"]:
            # The median of the paired ratios: each repeat's two sides ran minutes apart, not a whole list apart.
            results["ratios"][stage].update(repeats=spread, repeats_median=lower_median(spread))
    return results
