"""Scores saved answers again with the current scoring code, without the model.

    python -m lightning_mllm.evaluation.rescore --config configs/eval/demo.yaml \\
        --predictions runs/demo/eval/predictions.jsonl --out runs/demo/eval-rescored

Reads the benchmark files of an evaluation config and the ``predictions.jsonl`` an earlier
``python -m lightning_mllm.evaluate`` wrote (its ``key``, ``prediction`` and ``error`` per item; judge
ratings are kept), scores them and writes the usual ``results.json``, ``results.md`` and
``predictions.jsonl``. Comparing the two ``results.md`` shows what a change of the scoring rules
does to the same answers.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from lightning_mllm.evaluation.items import BenchmarkFileError
from lightning_mllm.evaluation.report import markdown_table, write_report
from lightning_mllm.evaluation.scoring import score
from lightning_mllm.evaluation.spec import BenchmarkSpec, load_benchmarks
from lightning_mllm.files import JsonlError, iter_jsonl

_KEPT = ("prediction", "error", "rating", "judge_reply", "judge_error")


def saved_answers(path: str) -> dict[str, dict[str, Any]]:
    """The answers of a ``predictions.jsonl``, by item key."""
    answers = {}
    try:
        for number, record in iter_jsonl(path):
            if "key" not in record:
                raise BenchmarkFileError(f"{path}:{number}: not a predictions record (no \"key\")")
            answers[record["key"]] = {k: record[k] for k in _KEPT if k in record}
    except JsonlError as error:
        raise BenchmarkFileError(str(error)) from error
    return answers


def rescore(config: str, predictions: str, out: str) -> dict[str, Path]:
    """Scores ``predictions`` against the benchmarks of ``config``; writes the report to ``out``."""
    document = OmegaConf.to_container(OmegaConf.load(config), resolve=True)
    specs = [BenchmarkSpec(**spec) for spec in document["benchmarks"]]
    rows, records = score(load_benchmarks(specs), saved_answers(predictions))
    paths = write_report(out, {"name": Path(predictions).parent.name, "rescored_from": predictions}, rows, records)
    print(markdown_table(rows))
    return paths


def main(argv: list[str] | None = None) -> dict[str, Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="the evaluation config the predictions were made with")
    parser.add_argument("--predictions", required=True, help="predictions.jsonl of that evaluation")
    parser.add_argument("--out", required=True, help="folder for the new results")
    args = parser.parse_args(argv)
    return rescore(args.config, args.predictions, args.out)


if __name__ == "__main__":
    main()
