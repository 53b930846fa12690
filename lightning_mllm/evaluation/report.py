"""Writes an evaluation's outputs: results JSON, a Markdown table and the per-item answers.

``results.json`` (format ``lightning-mllm-eval/1``) is what ``python -m lightning_mllm.sweep_report``
reads; ``predictions.jsonl`` holds one line per item (question, answer, how it was scored) for
error analysis and for the human evaluation's rating sets.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lightning_mllm.files import atomic_write, atomic_write_json

RESULTS_FORMAT = "lightning-mllm-eval/1"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """One line per benchmark: its metric, the score per language and the counts behind it."""
    langs = sorted({r["lang"] for r in rows}, key=lambda lang: (lang != "en", lang))
    by_cell = {(r["benchmark"], r["lang"]): r for r in rows}
    header = ["benchmark", "metric", *langs, "n", "unparseable", "image errors"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for benchmark in dict.fromkeys(r["benchmark"] for r in rows):
        cells = [by_cell.get((benchmark, lang)) for lang in langs]
        present = [c for c in cells if c is not None]
        counts = [" / ".join(str(value(c)) for c in present) for value in
                  (lambda c: c["count"], lambda c: c.get("unparseable", c.get("judge_unparseable", 0)),
                   lambda c: c["image_errors"])]
        scores = [_percent(c["score"]) if c else "–" for c in cells]
        lines.append("| " + " | ".join([benchmark, present[0]["metric"], *scores, *counts]) + " |")
    return "\n".join(lines) + "\n\nScores in percent; counts are per language in the column order.\n"


def write_report(out_dir: str | os.PathLike, run: dict[str, Any], rows: list[dict[str, Any]],
                 records: list[dict[str, Any]]) -> dict[str, Path]:
    """Writes ``results.json``, ``results.md`` and ``predictions.jsonl`` under ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = {"format": RESULTS_FORMAT, "run": run, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "results": rows}
    paths = {"results": out / "results.json", "table": out / "results.md", "predictions": out / "predictions.jsonl"}
    # Atomic: a crash mid-write must not leave a truncated results file that a sweep report then reads.
    atomic_write_json(paths["results"], results)
    atomic_write(paths["table"], markdown_table(rows))
    atomic_write(paths["predictions"], "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return paths
