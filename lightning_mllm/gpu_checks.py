"""The checks of ``python -m lightning_mllm.gpu_check``, in priority order, each a list of commands.

A check knows its commands for the GPU and for the CPU dry run (tiny shapes), a duration estimate
for each (the GPU estimates come from the H100 runs recorded in BENCHMARKS.md, rounded up), and how
to read its figures back. Scratch files (checkpoints, bench JSONs, TensorBoard events) go to a
``-work`` folder beside OUT so OUT holds one small JSON per check, as a device window returns.
"""

from __future__ import annotations

import glob
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

PY = sys.executable
# Random Llama-3.1-8B + CLIP-L/336 weights, written once (about a minute) and shared by the checks.
FULL_CACHE = "/tmp/bench-cache"
QLORA_TARGET_GIB = 24


def work_dir(out: Path) -> Path:
    return out.with_name(out.name + "-work")


@dataclass(frozen=True)
class Check:
    """One check: what it measures, its commands, its estimate and how its figures are read."""

    name: str
    what: str
    gpu_seconds: float
    cpu_seconds: float
    build: Callable[[Path, bool], list[list[str]]]
    read: Callable[[Path], dict]

    def estimate(self, dry_run: bool) -> float:
        return self.cpu_seconds if dry_run else self.gpu_seconds

    def commands(self, out: Path, dry_run: bool) -> list[list[str]]:
        work_dir(out).mkdir(parents=True, exist_ok=True)
        return self.build(work_dir(out), dry_run)

    def figures(self, out: Path, steps: list[dict]) -> dict:
        return self.read(work_dir(out))


# ----------------------------------------------------------------------------- the bench checks
def _bench(work: Path, dry_run: bool, name: str, extra: list[str]) -> list[str]:
    # The dry run: the demo's tiny backbones and short texts, so the whole check takes seconds.
    size = ["--size", "tiny", "--steps", "2", "--warmup", "1", "--text_min", "16", "--text_max", "48"] if dry_run \
        else ["--cache_dir", FULL_CACHE]
    return [PY, "-m", "lightning_mllm.bench", *size, "--out", str(work / f"{name}.json"), *extra]


def _bench_figures(work: Path, name: str) -> dict:
    results = json.loads((work / f"{name}.json").read_text())
    keep = ("samples_per_sec", "tokens_per_sec", "mfu", "peak_memory_gib", "data_stall_fraction",
            "padding_fraction", "checkpointing", "load_in_4bit", "error")
    return {"runs": {run: {k: v[k] for k in keep if k in v} for run, v in results["runs"].items()},
            "ratios": results.get("ratios", {}), "environment": results.get("environment", {}),
            "settings": results.get("settings", {})}


def _stage2_bench(work: Path, dry_run: bool) -> list[list[str]]:
    # The project's fast path (packed rows, bf16 adapters) beside plain LLaVA + peft on the same
    # random weights and varied-length workload; the baseline turns checkpointing on after an OOM.
    batch = ["--batch_size", "2"] if dry_run else ["--batch_size", "6", "--warmup", "2", "--steps", "6"]
    return [_bench(work, dry_run, "stage2_bench", ["--runs", "project-stage2,baseline-stage2", *batch,
                                                   "--pack_length", "1024" if dry_run else "8192",
                                                   "--lora_dtype", "bfloat16", "--text_only_share", "0"])]


def _qlora_memory(work: Path, dry_run: bool) -> list[list[str]]:
    # Issue 13's target: stage 2 of the 8B model at micro-batch 2 with gradient checkpointing in
    # 24 GiB. The process is capped at 24 GiB of whatever card this is, so an overshoot fails loudly.
    cap = []
    if not dry_run:
        import torch

        total = torch.cuda.get_device_properties(0).total_memory
        cap = ["--memory_fraction", f"{QLORA_TARGET_GIB * 2**30 / total:.4f}"]
    return [_bench(work, dry_run, "qlora_memory", ["--runs", "project-stage2", "--batch_size", "2",
                                                   "--load_in_4bit", "--gradient_checkpointing",
                                                   "--lora_dtype", "bfloat16", "--text_only_share", "0",
                                                   "--warmup", "1", "--steps", "2" if dry_run else "4", *cap])]


# ----------------------------------------------------------------------------- train.py checks
def _train(work: Path, name: str, args: list[str], dry_run: bool) -> list[str]:
    root = str(work / name)
    # The dry run writes a small synthetic set of its own instead of the demo's full one.
    data = ["--data.init_args.data_root", str(work / "synthetic"), "--data.init_args.synthetic.train_per_language",
            "64", "--data.init_args.synthetic.eval_per_language", "16"] if dry_run else []
    return [PY, "train.py", "fit", "--config", "configs/demo.yaml", *args, *data, "--trainer.enable_progress_bar",
            "false", "--trainer.default_root_dir", root, "--trainer.logger.init_args.save_dir", root]


def _fsdp_resume(work: Path, dry_run: bool) -> list[list[str]]:
    # A sharded checkpoint at step `every` and a resume from it that must repeat the uninterrupted
    # run's losses (SampleLedger). Lightning refuses FSDP on a CPU: the dry run checks the same
    # resume with the default strategy.
    steps, every = (6, 3) if dry_run else (40, 20)
    strategy = [] if dry_run else ["--config", "configs/trainer/fsdp.yaml"]
    common = [*strategy, "--model.stage", "stage2", "--trainer.limit_val_batches", "0",
              "--trainer.max_steps", str(steps), "--trainer.callbacks+=callbacks.SampleLedger",
              "--data.init_args.num_workers", "0" if dry_run else "4"]
    if dry_run:
        common += ["--data.init_args.batch_size", "4"]
    first = _train(work, "fsdp", [*common, "--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
                                  f"--trainer.callbacks.every_n_train_steps={every}",
                                  "--trainer.callbacks.save_top_k=-1"], dry_run)
    checkpoint = str(work / "fsdp" / "demo" / "version_0" / "checkpoints" / f"epoch=0-step={every}.ckpt")
    return [first, _train(work, "fsdp_resumed", [*common, "--ckpt_path", checkpoint], dry_run)]


def _ledger(path: str) -> dict[int, dict]:
    with open(path, encoding="utf-8") as file:
        return {entry["step"]: entry for entry in map(json.loads, file)}


def _fsdp_figures(work: Path) -> dict:
    full = _ledger(str(work / "fsdp" / "demo" / "version_0" / "samples.rank0.jsonl"))
    resumed = _ledger(str(work / "fsdp_resumed" / "demo" / "version_0" / "samples.rank0.jsonl"))
    shared = sorted(set(full) & set(resumed))
    if not shared:
        raise ValueError("the resumed run shares no step with the uninterrupted one")
    checkpoint = next(iter(glob.glob(str(work / "fsdp" / "demo" / "version_0" / "checkpoints" / "*"))), None)
    size = sum(p.stat().st_size for p in Path(checkpoint).rglob("*") if p.is_file()) if checkpoint and \
        Path(checkpoint).is_dir() else (Path(checkpoint).stat().st_size if checkpoint else 0)
    return {"resumed_steps": [shared[0], shared[-1]],
            "same_samples": all(full[s]["ids"] == resumed[s]["ids"] for s in shared),
            "max_loss_difference": max(abs(full[s]["loss"] - resumed[s]["loss"]) for s in shared),
            "checkpoint_bytes": size, "checkpoint_is_sharded_folder": bool(checkpoint and Path(checkpoint).is_dir())}


def _demo(work: Path, dry_run: bool) -> list[list[str]]:
    if dry_run:
        args = ["--trainer.max_steps", "4", "--trainer.limit_val_batches", "1", "--data.init_args.batch_size", "4",
                "--trainer.log_every_n_steps", "1", "--trainer.val_check_interval", "4"]
    else:
        args = ["--config", "configs/trainer/gpu.yaml", "--data.init_args.num_workers", "6"]
    return [_train(work, "demo", args, dry_run)]


def _scalars(folder: Path) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    figures = {}
    for run in sorted(glob.glob(str(folder / "demo" / "version_*"))):
        events = EventAccumulator(run)
        events.Reload()
        for tag in events.Tags()["scalars"]:
            if tag.startswith("val/") or tag == "train/loss":
                figures[tag] = events.Scalars(tag)[-1].value
    return figures


def _demo_figures(work: Path) -> dict:
    return _scalars(work / "demo")


def _eval(work: Path, dry_run: bool) -> list[list[str]]:
    # A 2-step stage-2 checkpoint of the full-size random model (the demo's tiny one on the dry
    # run), then the synthetic benchmarks answered one prompt per call and in batches of 32.
    # --model.stage rather than configs/stage/stage2.yaml: that file's global batch of 128 would
    # turn the two micro-batches into one optimizer step (and another checkpoint name).
    commands, model = [], ["--model.stage", "stage2", "--model.connector", "linear"]
    if not dry_run:
        backbones = work / "backbones"
        commands.append([PY, "-m", "lightning_mllm.random_backbones", "--out", str(backbones), "--size", "full"])
        model += ["--config", "configs/trainer/gpu.yaml", "--model.llm", str(backbones / "llm"),
                  "--model.vision_tower", str(backbones / "vision"), "--model.llm_dtype", "bfloat16",
                  "--model.max_length", "1024"]
    commands.append(_train(work, "eval_fit", [*model, "--data.init_args.batch_size", "2",
                                              "--data.init_args.samples_per_epoch", "4",
                                              "--trainer.limit_val_batches", "0"], dry_run))
    bench = work / "bench"
    commands.append([PY, "-m", "datamodules.synthetic_benchmarks", "--root", str(bench),
                     "--per-language", "8" if dry_run else "64"])
    # The demo's benchmark list, pointed at this check's files.
    config = work / "eval.yaml"
    config.write_text(Path("configs/eval/demo.yaml").read_text().replace("data/synthetic-bench", str(bench)))
    overrides = [] if dry_run else ["--model", json.dumps({"llm": str(work / "backbones" / "llm"),
                                                           "vision_tower": str(work / "backbones" / "vision")})]
    checkpoint = str(work / "eval_fit" / "demo" / "version_0" / "checkpoints" / "epoch=0-step=2.ckpt")
    for batch in (1, 32):
        commands.append([PY, "-m", "lightning_mllm.evaluate", "--config", str(config), "--checkpoint", checkpoint,
                         *overrides, "--batch_size", str(batch), "--out", str(work / f"eval_b{batch}"),
                         "--progress", "false"])
    return commands


def _eval_figures(work: Path) -> dict:
    figures = {}
    for batch in (1, 32):
        run = json.loads((work / f"eval_b{batch}" / "results.json").read_text())["run"]
        figures[f"batch_{batch}"] = {"answer_seconds": run["answer_seconds"], "items_per_second": run["items_per_second"]}
    return figures


def _suite(work: Path, dry_run: bool) -> list[list[str]]:
    # The CPU test suite under the device's own torch and transformers (the dry run is part of
    # that suite, so it does not run the suite again).
    return [] if dry_run else [[PY, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "tests"]]


def _suite_figures(work: Path) -> dict:
    return {}


CHECKS = (
    Check("stage2_bench", "stage-2 bench: project (packed, bf16 adapters) vs transformers + peft", 240, 240,
          _stage2_bench, lambda work: _bench_figures(work, "stage2_bench")),
    Check("qlora_memory", f"QLoRA stage 2, micro-batch 2, gradient checkpointing, capped at {QLORA_TARGET_GIB} GiB",
          120, 120, _qlora_memory, lambda work: _bench_figures(work, "qlora_memory")),
    Check("fsdp_resume", "sharded FSDP checkpoint at a step and an exact resume from it", 150, 150,
          _fsdp_resume, _fsdp_figures),
    Check("gpu_demo", "the demo trained on the GPU in bf16: wall time and accuracies", 150, 90, _demo,
          _demo_figures),
    Check("eval_throughput", "evaluation of a full-size model, batch 1 vs 32", 300, 150, _eval, _eval_figures),
    Check("test_suite", "the CPU test suite under the device's torch and transformers", 300, 0, _suite,
          _suite_figures),
)
