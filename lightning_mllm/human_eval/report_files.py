"""Writes the human evaluation report: Markdown, a PNG chart, ``summary.json`` and CSV exports.

The figures come from ``report.summarise``; this file only lays them out. The chart is drawn on a
matplotlib ``Figure`` with the Agg canvas (no pyplot, no display needed).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from lightning_mllm.human_eval.report_markdown import markdown

SET_COLUMNS = ("item_id", "key", "benchmark", "lang", "id", "image", "prompt", "answer_a", "answer_b",
               "model_a", "model_b")
JUDGMENT_COLUMNS = ("line", "item_id", "rater", "choice", "comment", "time", "key", "lang", "model_a", "model_b",
                    "preferred", "status")
LANG_COLOURS = {"en": "tab:blue", "eu": "tab:red", "all": "0.35"}


def chart(summary: dict[str, Any], path: Path) -> Path:
    """Horizontal bars: each pair's win rate per language and overall, with 95% Wilson intervals."""
    rows = [r for r in summary["win_rates"] if r["win_rate"] is not None]
    figure = Figure(figsize=(8, 1.2 + 0.35 * max(len(rows), 1)), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for y, row in enumerate(reversed(rows)):
        error = [[row["win_rate"] - row["ci_low"]], [row["ci_high"] - row["win_rate"]]]
        axes.barh(y, row["win_rate"], xerr=error, capsize=3, color=LANG_COLOURS.get(row["lang"], "tab:green"))
    axes.set_yticks(range(len(rows)), [f"{r['model']} vs {r['opponent']} ({r['lang']})" for r in reversed(rows)])
    axes.axvline(0.5, color="black", linewidth=0.8, linestyle="--")
    axes.set_xlim(0, 1)
    axes.set_xlabel("win rate of the first model (ties count half), 95% Wilson interval")
    axes.set_title(f"Human pairwise preferences ({summary['judgments']} judgments)")
    figure.tight_layout()
    figure.savefig(path)
    return path


def _status(line: int, problems: dict[str, list[dict[str, Any]]]) -> str:
    for kind in ("unknown_item", "duplicate"):
        if any(p["line"] == line for p in problems[kind]):
            return kind
    return "counted"


def _preferred(judgment: dict[str, Any], item: dict[str, Any] | None) -> str:
    if item is None or judgment["choice"] in ("tie", "both_bad"):
        return "" if item is None else judgment["choice"]
    return item["model_a"] if judgment["choice"] == "A" else item["model_b"]


def write_csv(out: Path, items: Sequence[dict[str, Any]], judgments: Sequence[tuple[int, dict[str, Any]]],
              problems: dict[str, list[dict[str, Any]]]) -> list[Path]:
    """``ratingset.csv`` (one row per item, hidden mapping included) and ``judgments.csv``.

    Every valid judgment line is exported with its line number and a status (counted, duplicate,
    unknown_item); ``preferred`` names the preferred model, or tie / both_bad.
    """
    by_id = {item["item_id"]: item for item in items}
    set_path, judgments_path = out / "ratingset.csv", out / "judgments.csv"
    with set_path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, SET_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(items)
    with judgments_path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, JUDGMENT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for line, judgment in judgments:
            item = by_id.get(judgment["item_id"])
            extra = {k: item[k] for k in ("key", "lang", "model_a", "model_b")} if item else {}
            writer.writerow({**judgment, **extra, "line": line, "preferred": _preferred(judgment, item),
                             "status": _status(line, problems)})
    return [set_path, judgments_path]


def write_report(out: str | Path, summary: dict[str, Any], sources: dict[str, str],
                 items: Sequence[dict[str, Any]] = (), judgments: Sequence[tuple[int, dict[str, Any]]] = (),
                 with_csv: bool = False) -> list[Path]:
    """Writes ``report.md``, ``win_rates.png``, ``summary.json`` and, with ``with_csv``, the CSV files.

    Args:
        out: Output folder (created).
        summary: ``report.summarise``'s result.
        sources: ``{"set": path, "judgments": path}`` as given, quoted in the report.
        items: The rating set's items (for the CSV export).
        judgments: The valid judgment lines (for the CSV export).
        with_csv: Also write ``ratingset.csv`` and ``judgments.csv``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "report.md", chart(summary, out / "win_rates.png"), out / "summary.json"]
    paths[0].write_text(markdown(summary, sources, paths[1].name), encoding="utf-8")
    paths[2].write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if with_csv:
        paths += write_csv(out, items, judgments, summary["problems"])
    return paths
