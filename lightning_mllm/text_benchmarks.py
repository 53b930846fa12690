"""Text-only benchmarks of a trained model's LLM, run through EleutherAI's lm-evaluation-harness.

The paper checks that multimodal training does not cost the LLM its Basque: the exported LLM
(optionally with its LoRA adapter) is scored on EusProficiency, EusReading, EusTrivia, EusExams,
XNLI and Belebele in Basque, and on the English versions where the harness has them. Scoring is
the harness's own (``lm_eval.simple_evaluate``); this module only picks tasks, loads the model and
turns the harness's results into rows of the project's evaluation schema::

    python -m lightning_mllm.text_benchmarks --model runs/llm --tasks paper --out eval/text.json
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import re
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from lightning_mllm.run_mixture import mixture_labels

FORMAT = "lightning-mllm-eval/1"
BASQUE_TASKS = ("eus_proficiency", "eus_reading", "eus_trivia", "eus_exams_eu", "xnli_eu",
                "belebele_eus_Latn")
# English counterparts present in lm-eval 0.4.13 (EusExams has Spanish but no English version).
PRESETS = {"paper": BASQUE_TASKS + ("xnli_en", "belebele_eng_Latn"), "basque": BASQUE_TASKS}
# Harness task (or tag) -> (benchmark, lang): both languages of a benchmark share its name.
TASK_TABLE = {
    **{task: (task, "eu") for task in ("eus_proficiency", "eus_reading", "eus_trivia")},
    "eus_exams_eu": ("eus_exams", "eu"), "eus_exams_es": ("eus_exams", "es"),
    "belebele_eus_Latn": ("belebele", "eu"), "belebele_eng_Latn": ("belebele", "en"),
    "arc_eu_challenge": ("arc_challenge", "eu"), "arc_challenge": ("arc_challenge", "en"),
    "arc_eu_easy": ("arc_easy", "eu"), "arc_easy": ("arc_easy", "en"), "piqa": ("piqa", "en"),
}  # and xnli_eu / xnli_en, xstorycloze_eu / _en... by the suffix rule of benchmark_and_lang
LANG_SUFFIXES = {"_eus_Latn": "eu", "_eng_Latn": "en", "_eu": "eu", "_en": "en"}
# The metric each task is reported with where its harness config computes several: length-
# normalised accuracy for ARC (both languages), HellaSwag, PIQA and OpenBookQA, as their papers
# and the Open LLM Leaderboard report them. Every other task: ``acc`` when it has one (the
# Basque exams as in the Latxa paper, XNLI, Belebele as in its paper), else its first metric.
STANDARD_METRICS = {task: "acc_norm" for task in (
    "arc_easy", "arc_challenge", "arc_eu_easy", "arc_eu_challenge", "hellaswag", "piqa", "piqa_eu", "openbookqa")}
HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


class OptionError(ValueError):
    """A command-line value that cannot work (unknown task, missing folder); names the option."""


def benchmark_and_lang(task: str, default_lang: str = "eu") -> tuple[str, str]:
    """Maps a harness task name to the (benchmark, lang) pair reported in the results.

    Args:
        task: Harness task or tag name (``xnli_eu``, ``belebele_eng_Latn``, a local task...).
        default_lang: Language of a task that is neither in the table nor has a language suffix.

    Returns:
        The table's entry; else the name without a ``_eu``/``_en``/``_eus_Latn``/``_eng_Latn``
        suffix and that suffix's language; else the name itself and ``default_lang``.
    """
    if task in TASK_TABLE:
        return TASK_TABLE[task]
    for suffix, lang in LANG_SUFFIXES.items():
        if task.endswith(suffix) and len(task) > len(suffix):
            return task[: -len(suffix)], lang
    return task, default_lang


@lru_cache(maxsize=4)
def task_manager(include_path: str | None = None) -> Any:
    """The harness's task index (built-in tasks plus ``include_path``), built once per path."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=include_path)


def resolve_tasks(spec: str, manager: Any) -> list[str]:
    """Expands a preset (``paper``, ``basque``) or comma-separated task, group or tag names.

    Raises:
        OptionError: A name that ``manager``'s registry does not know, with the closest known names.
    """
    names = list(PRESETS.get(spec, [name.strip() for name in spec.split(",") if name.strip()]))
    known = set(manager.all_tasks)
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, manager.all_tasks, n=6, cutoff=0.6)
            raise OptionError(f"--tasks: unknown lm-eval task {name!r}; close matches: "
                              f"{', '.join(close) or 'none'} (presets: {', '.join(PRESETS)})")
    if not names:
        raise OptionError("--tasks: no task names given")
    return names


def check_model_paths(model: str, adapter: str | None) -> None:
    """Fails early, naming the option, on a model or adapter that is not there.

    A ``--model`` that is not a folder must look like a hub id and, offline, be in the hub cache.
    """
    from huggingface_hub import constants, try_to_load_from_cache

    if Path(model).is_dir():
        if not (Path(model) / "config.json").is_file():
            raise OptionError(f"--model: {model!r} has no config.json (not an exported LLM)")
    elif not HUB_ID.match(model) or (constants.HF_HUB_OFFLINE and not isinstance(
            try_to_load_from_cache(model, "config.json"), str)):
        raise OptionError(f"--model: no model folder (nor cached hub model) at {model!r}")
    if adapter is not None and not (Path(adapter) / "adapter_config.json").is_file():
        raise OptionError(f"--adapter: no peft adapter (adapter_config.json) in {adapter!r}")


def _metric_keys(task_result: dict[str, Any]) -> list[str]:
    """The harness keys (``acc,none``...) of the numeric non-stderr metrics, in the harness's order."""
    return [key for key, value in task_result.items() if "," in key and "_stderr" not in key
            and isinstance(value, (int, float)) and not isinstance(value, bool)]


def main_metric(task_result: dict[str, Any], task: str = "") -> tuple[str, str] | None:
    """The task's standard metric: ``STANDARD_METRICS[task]`` if reported, else ``acc``, else its
    first numeric non-stderr metric.

    Returns:
        (metric name, harness key such as ``acc_norm,none``), or None if the task has no score.
    """
    keys = _metric_keys(task_result)
    if not keys:
        return None
    wanted = STANDARD_METRICS.get(task, "acc")
    key = min(keys, key=lambda key: key.split(",")[0] != wanted)  # the first of the minima
    return key.split(",")[0], key


def _row(task: str, metric: str, score: float, stderr: Any, count: int, lang: str,
         others: dict[str, float] | None = None) -> dict[str, Any]:
    benchmark, lang = benchmark_and_lang(task, lang)
    return {"benchmark": benchmark, "lang": lang, "kind": "text", "metric": metric,
            "score": float(score), "stderr": float(stderr) if isinstance(stderr, (int, float)) else None,
            "count": int(count), "task": task, "metrics": others or {metric: float(score)}}


def _pool(tag: str, rows: list[dict[str, Any]], lang: str) -> dict[str, Any]:
    """One row for a tag (EusExams' 29 exams): sample-weighted mean and its standard error."""
    total = sum(row["count"] for row in rows)
    stderr = None if any(row["stderr"] is None for row in rows) else math.sqrt(
        sum((row["count"] / total * row["stderr"]) ** 2 for row in rows))
    score = sum(row["score"] * row["count"] for row in rows) / total
    return _row(tag, rows[0]["metric"], score, stderr, total, lang)


def result_rows(raw: dict[str, Any], manager: Any, requested: list[str],
                default_lang: str = "eu") -> list[dict[str, Any]]:
    """Turns the harness's results into schema rows, one per leaf task.

    Leaf tasks of a tag that was requested or is in ``TASK_TABLE`` (``eus_exams_eu``) become one
    pooled row when all of the tag's tasks were run with the same metric. Groups' own aggregates
    are left in the raw results.
    """
    rows = {}
    for task, result in raw["results"].items():
        if task in raw["n-samples"] and (found := main_metric(result, task)) is not None:
            name, _, filter_name = found[1].partition(",")
            others = {key.replace(",none", ""): float(result[key]) for key in _metric_keys(result)}
            rows[task] = _row(task, name, result[found[1]], result.get(f"{name}_stderr,{filter_name}"),
                              raw["n-samples"][task]["effective"], default_lang, others)
    index = manager.task_index
    for tag in [name for name in dict.fromkeys([*requested, *TASK_TABLE]) if name in index]:
        members = index[tag].tags if index[tag].kind.name == "TAG" else set()
        if members and members <= rows.keys() and len({rows[m]["metric"] for m in members}) == 1:
            rows[tag] = _pool(tag, [rows.pop(member) for member in sorted(members)], default_lang)
    return list(rows.values())


_DROP = object()


def jsonable(value: Any) -> Any:
    """A JSON-serialisable copy: tuples become lists, scalars and dtypes are kept (as numbers or
    strings); entries that are none of these (functions, tensors...) are dropped."""
    if isinstance(value, dict):
        items = ((str(key), jsonable(item)) for key, item in value.items())
        return {key: item for key, item in items if item is not _DROP}
    if isinstance(value, (list, tuple)):
        return [item for item in map(jsonable, value) if item is not _DROP]
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return jsonable(value.item())  # numpy and torch scalars
    if type(value).__name__ == "dtype" or isinstance(value, Path):
        return str(value)
    return _DROP


def evaluate(args: argparse.Namespace) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Runs the harness on the chosen tasks; returns its raw results and the schema rows."""
    import torch
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    check_model_paths(args.model, args.adapter)
    manager = task_manager(args.include_path)
    tasks = resolve_tasks(args.tasks, manager)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = args.dtype or ("bfloat16" if device.startswith("cuda") else "float32")
    lm = HFLM(pretrained=args.model, peft=args.adapter, device=device, dtype=dtype,
              batch_size=args.batch_size, trust_remote_code=False)
    raw = simple_evaluate(model=lm, tasks=tasks, num_fewshot=args.num_fewshot, limit=args.limit,
                          task_manager=manager, log_samples=args.log_samples)
    if raw is None:  # only rank 0 gets results
        return {}, []
    return raw, result_rows(raw, manager, tasks, args.lang)


def write_outputs(args: argparse.Namespace, raw: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Writes ``--out`` in the evaluation schema, the raw results as ``<stem>.lm_eval.json`` and,
    with ``--log_samples``, the per-sample records as ``<stem>.samples.json``."""
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Labelled like the multimodal results: from the training run's config when --checkpoint names
    # it (so the sweep report places text and image scores of one run at the same share).
    labels = mixture_labels(args.checkpoint, args.basque_share, args.target_lang)
    run = {"name": args.name, "backbone": args.backbone, **labels, "checkpoint": args.checkpoint,
           "model": args.model, "adapter": args.adapter}
    document = {"format": FORMAT, "run": run,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "results": rows}
    out.write_text(json.dumps(document, indent=2) + "\n")
    samples = raw.pop("samples", None)
    out.with_name(f"{out.stem}.lm_eval.json").write_text(json.dumps(jsonable(raw), indent=2) + "\n")
    if samples is not None:
        out.with_name(f"{out.stem}.samples.json").write_text(json.dumps(jsonable(samples)) + "\n")


def print_table(rows: list[dict[str, Any]]) -> None:
    """Prints one line per result: task, metric, score (with its standard error) and count."""
    print(f"{'task':<28} {'metric':<10} {'score':>8} {'stderr':>8} {'count':>7}")
    for row in rows:
        stderr = "-" if row["stderr"] is None else f"{row['stderr']:.4f}"
        print(f"{row['task']:<28} {row['metric']:<10} {row['score']:>8.4f} {stderr:>8} {row['count']:>7}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="exported LLM folder (or hub id, if cached)")
    parser.add_argument("--adapter", help="peft LoRA adapter folder applied on top of --model")
    parser.add_argument("--tasks", default="paper",
                        help=f"preset ({', '.join(PRESETS)}) or comma-separated harness task names")
    parser.add_argument("--include_path", help="folder of extra lm-eval task YAMLs")
    parser.add_argument("--limit", type=int, help="at most this many samples per task (testing)")
    parser.add_argument("--batch_size", type=_batch_size, default=8, help="batch size, or 'auto'")
    parser.add_argument("--num_fewshot", type=int, help="few-shot examples (default: each task's own)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda if available)")
    parser.add_argument("--dtype", choices=["bfloat16", "float32"],
                        help="model dtype (default: bfloat16 on cuda, float32 on cpu)")
    parser.add_argument("--lang", default="eu", help="language of tasks the table cannot place")
    parser.add_argument("--log_samples", action="store_true", help="also write per-sample records")
    parser.add_argument("--out", required=True, help="results JSON in the evaluation schema")
    parser.add_argument("--name", help="run name recorded in the results")
    parser.add_argument("--backbone", help="backbone name recorded in the results")
    parser.add_argument("--basque_share", type=_number,
                        help="percent of the target language's multimodal data (default: read from --checkpoint's run)")
    parser.add_argument("--checkpoint", help="the training checkpoint the model was exported from: its run's "
                                             "config.yaml labels the results with the run's language mixture")
    parser.add_argument("--target_lang", help="the language --basque_share is the share of (default: the run's "
                                              "data.mixture.target_lang, else eu)")
    return parser.parse_args(argv)


def _batch_size(text: str) -> int | str:
    return text if text == "auto" else int(text)


def _number(text: str) -> int | float:
    return int(text) if float(text).is_integer() else float(text)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Evaluates, writes the result files and prints the table; returns the schema rows."""
    args = parse_args(argv)
    raw, rows = evaluate(args)
    if raw:
        write_outputs(args, raw, rows)
        print_table(rows)
    return rows


if __name__ == "__main__":
    try:
        main()
    except OptionError as error:
        raise SystemExit(f"error: {error}") from error
