"""Saved predictions scored again by the current rules, without the model."""

from __future__ import annotations

import json

from lightning_mllm.evaluation.report import write_report
from lightning_mllm.evaluation.rescore import main as rescore_main
from lightning_mllm.evaluation.scoring import score
from lightning_mllm.evaluation.spec import BenchmarkSpec, load_benchmarks


def test_rescoring_saved_predictions_gives_the_evaluations_results(tmp_path):
    mc = tmp_path / "mc-eu.jsonl"
    mc.write_text("".join(json.dumps({"id": str(i), "question": "Zer?", "options": ["pilota urdina", "pilota gorria"],
                                      "answer": "B"}) + "\n" for i in range(3)))
    vqa = tmp_path / "vqa-eu.jsonl"
    vqa.write_text(json.dumps({"id": "0", "question": "Zenbat?", "answers": ["2"] * 10}) + "\n")
    specs = [{"name": "quiz", "lang": "eu", "format": "mc", "path": str(mc), "circular": True},
             {"name": "count", "lang": "eu", "format": "vqa", "path": str(vqa)}]
    config = tmp_path / "eval.yaml"
    config.write_text(json.dumps({"benchmarks": specs}))
    items = load_benchmarks([BenchmarkSpec(**spec) for spec in specs])
    replies = ["Erantzuna B da.", "Pilota gorri bat.", "Erantzuna", "B", "A", "B"]
    answers = {item.key: {"prediction": reply, "error": None} for item, reply in zip(items, replies + ["Bi."])}
    rows, records = score(items, answers)
    write_report(tmp_path / "eval", {"name": "x"}, rows, records)
    rescore_main(["--config", str(config), "--predictions", str(tmp_path / "eval" / "predictions.jsonl"),
                  "--out", str(tmp_path / "again")])
    again = json.loads((tmp_path / "again" / "results.json").read_text())["results"]
    assert [(r["benchmark"], r["metric"], r["score"]) for r in again] == [(r["benchmark"], r["metric"], r["score"])
                                                                          for r in rows]
    by = {r["benchmark"]: r for r in again}
    # The Basque number word scores against the digits; the multiple choice stays circular.
    assert by["count"]["score"] == 1.0 and by["quiz"]["metric"] == "circular_accuracy"
