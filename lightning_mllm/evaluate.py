"""Evaluates a trained model on English and Basque benchmarks stored locally.

    python -m lightning_mllm.evaluate --config configs/eval/demo.yaml \\
        --checkpoint runs/demo/version_0/checkpoints/last.ckpt --out runs/demo/eval

``--model_dir`` evaluates an exported (``python -m lightning_mllm.export``) or any Hugging Face
LLaVA folder instead of a checkpoint, with the same prompts, image preprocessing and scoring.

Writes ``results.json`` (per benchmark and language, with counts), ``results.md`` and
``predictions.jsonl`` to ``--out`` (see ``lightning_mllm/evaluation/report.py``). Benchmarks are
listed as ``BenchmarkSpec`` entries in a YAML file (``configs/eval/``).

The checkpoint may be of either model class (``MultimodalLM`` or an adapted existing VLM,
``lightning_mllm.PretrainedVLM``). Its results are labelled with the run's language mixture, read
from the ``config.yaml`` that ``train.py fit`` saved in the run folder (``run_mixture.py``): the
target language's share (``basque_share``, in percent, which the sweep report plots) and every
language's share; ``--basque_share`` is then only a check.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from jsonargparse import CLI

from lightning_mllm.evaluation.answering import answer_items
from lightning_mllm.evaluation.judge import LLMJudge, add_ratings
from lightning_mllm.evaluation.report import markdown_table, write_report
from lightning_mllm.evaluation.scoring import score
from lightning_mllm.evaluation.spec import BenchmarkSpec, load_benchmarks
from lightning_mllm.exported_model import ExportedLlava
from lightning_mllm.run_mixture import mixture_labels
from lightning_mllm.trained_model import load_trained


def evaluate(
    checkpoint: str | None = None,
    model_dir: str | None = None,
    benchmarks: list[BenchmarkSpec] | None = None,
    out: str = "runs/eval",
    batch_size: int = 16,
    num_workers: int = 2,
    device: str = "auto",
    model: dict[str, Any] | None = None,
    judge: str | None = None,
    judge_image: bool = False,
    judge_device: str = "auto",
    judge_dtype: str = "bfloat16",
    judge_batch_size: int = 8,
    name: str | None = None,
    backbone: str | None = None,
    basque_share: float | None = None,
    target_lang: str | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    """Answers every benchmark item with the model of ``checkpoint`` or ``model_dir``, scores and reports.

    Args:
        checkpoint: A ``.ckpt`` written by ``train.py fit`` (consolidate FSDP checkpoints first).
        model_dir: A Hugging Face LLaVA folder (e.g. written by ``python -m lightning_mllm.export``),
            evaluated instead of ``checkpoint``; exactly one of the two is required.
        benchmarks: The benchmark files, one entry per benchmark and language.
        out: Folder for ``results.json``, ``results.md`` and ``predictions.jsonl``.
        batch_size: Prompts per generation call.
        num_workers: Loader processes that decode images and tokenize prompts.
        device: ``auto`` (a GPU when there is one), ``cuda``, ``cpu``...
        model: Model settings to override, e.g. ``{llm: /models/Llama-3.1-8B-Instruct}`` when the
            backbones live elsewhere than during training (``checkpoint`` only).
        judge: Hugging Face id or folder of an instruction-tuned model that rates open-ended answers
            (1-10, fixed bilingual rubric); none by default (reference metrics only).
        judge_image: Show the judge the image: ``judge`` is then an image-text-to-text model (any
            Hugging Face vision-language model, an exported LLaVA folder...).
        judge_device: Where the judge runs: ``auto`` spreads it over every visible GPU
            (``device_map="auto"``, for judges too big for one GPU), else ``cuda``, ``cpu``...
        judge_dtype: The judge's weight dtype (``bfloat16``, ``float16``, ``float32``).
        judge_batch_size: Answers rated per judge call.
        name: Run name recorded in the results (default: the checkpoint's run folder or ``model_dir``'s name).
        backbone: Backbone name recorded for the sweep report (e.g. ``llama-3.1-8b-instruct``).
        basque_share: Percentage of the target language (Basque unless the run's
            ``data.mixture.target_lang`` or ``target_lang`` says otherwise) in the run's multimodal
            instruction data, for the sweep report. Read from the checkpoint's run config; a value
            given here must agree with it, and is needed only where there is no run config
            (``model_dir``, a checkpoint moved away from its run folder).
        target_lang: The language ``basque_share`` is the share of (default: the run's
            ``data.mixture.target_lang``, else ``eu``).
        progress: Show progress bars.
    """
    # A model and benchmarks are required, but as options (--checkpoint or --model_dir, a config
    # file's benchmarks), not positionals.
    if bool(checkpoint) == bool(model_dir):
        raise SystemExit("error: give exactly one of --checkpoint (a .ckpt written by train.py fit) and "
                         "--model_dir (a Hugging Face LLaVA folder)")
    if model_dir and model:
        raise SystemExit("error: --model overrides apply to --checkpoint only; an exported folder is complete")
    if not benchmarks:
        raise SystemExit("error: no benchmarks: give --config configs/eval/<file>.yaml or --benchmarks '[...]'")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    mixture = mixture_labels(checkpoint, basque_share, target_lang)  # a disagreeing share fails before the model loads
    items = load_benchmarks(benchmarks)
    trained = ExportedLlava(model_dir, device) if model_dir else load_trained(checkpoint, model, device)
    start = time.perf_counter()
    answers = answer_items(trained, items, batch_size, num_workers, progress)
    seconds = time.perf_counter() - start
    if judge:
        del trained  # the judge may need the memory
        add_ratings(LLMJudge(judge, dtype=judge_dtype, device=judge_device, batch_size=judge_batch_size,
                             image=judge_image), items, answers, progress)
    rows, records = score(items, answers)
    default_name = Path(model_dir).resolve().name if model_dir else Path(checkpoint).resolve().parent.parent.name
    run = {"name": name or default_name, "backbone": backbone, **mixture,
           "checkpoint": str(checkpoint) if checkpoint else None, "model": model_dir, "judge": judge,
           "judge_sees_image": judge_image if judge else None,
           "answer_seconds": round(seconds, 2), "items_per_second": round(len(items) / max(seconds, 1e-9), 2)}
    paths = write_report(out, run, rows, records)
    print(markdown_table(rows))
    print(f"{len(items)} items answered in {seconds:.1f} s ({run['items_per_second']} items/s on {device}); "
          f"wrote {', '.join(str(p) for p in paths.values())}")
    return paths


def main(args: list[str] | None = None) -> None:
    CLI(evaluate, args=args, parser_mode="omegaconf")


if __name__ == "__main__":
    main()
