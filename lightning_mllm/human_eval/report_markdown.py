"""The Markdown text of the human evaluation report, from ``report.summarise``'s figures."""

from __future__ import annotations

from typing import Any

from lightning_mllm.human_eval.judge_agreement import LABELS

MISSING = "–"

METHOD = """## How the figures are computed

- One judgment is one rater's choice on one item; a rater's repeated judgments of an item count once
  (the first). Malformed lines and judgments of items not in the set are listed above and left out.
- Win rate of *model* against *opponent* = (wins + ½ × (ties + both bad)) / judgments: "both bad"
  prefers neither answer, so it counts as a tie; its count is shown on its own.
- 95% interval: Wilson score interval with z = 1.96, each judgment one trial scored 0, ½ or 1.
- Ranking: Bradley-Terry strengths (sum 1) fitted by Hunter's MM algorithm on all judgments,
  ties and "both bad" as half a win each way.
- Rater agreement on the four choices (A, B, tie, both bad): Cohen's κ for each two raters on
  the items both judged; Fleiss' κ, when three or more raters judged, on the items all of them judged.
- LLM judge: its 1-10 ratings of the two answers become a preference (higher rating wins, equal
  ratings tie); a human "both bad" counts as a tie. Agreement rate and Cohen's κ (A/B/tie) over every
  human judgment whose two answers both have a judge rating; Spearman's ρ between the models'
  win rates under the human labels and under the judge's labels on those same pairs.
"""


def _pct(value: float | None) -> str:
    return MISSING if value is None else f"{100 * value:.1f}%"


def _num(value: float | None, digits: int = 3) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def _problems(problems: dict[str, list[dict[str, Any]]]) -> list[str]:
    lines = ["## Problems in the judgments file", ""]
    malformed, unknown, duplicate = problems["malformed"], problems["unknown_item"], problems["duplicate"]
    lines.append(f"Malformed lines: {len(malformed)}; judgments of items not in the set: {len(unknown)}; "
                 f"repeated judgments: {len(duplicate)}. All are left out of the figures below.")
    rows = [[p["line"], "malformed", p["reason"]] for p in malformed]
    rows += [[p["line"], "unknown item", p["item_id"]] for p in unknown]
    rows += [[p["line"], "repeated judgment", f"{p['rater']} on {p['item_id']}"] for p in duplicate]
    if rows:
        lines += [""] + _table(["line", "problem", "detail"], sorted(rows, key=lambda r: r[0]))
    return lines


def _win_rates(summary: dict[str, Any], chart_name: str) -> list[str]:
    rows = [[r["model"], r["opponent"], r["lang"], r["n"], r["wins"], r["losses"], r["ties"], r["both_bad"],
             _pct(r["win_rate"]), f"{_pct(r['ci_low'])} – {_pct(r['ci_high'])}" if r["n"] else MISSING]
            for r in summary["win_rates"]]
    header = ["model", "opponent", "language", "n", "wins", "losses", "ties", "both bad", "win rate", "95% CI"]
    return ["## Win rates", "", *_table(header, rows), "", f"![win rates]({chart_name})"]


def _ranking(ranking: dict[str, Any]) -> list[str]:
    rows = [[i + 1, r["model"], _num(r["strength"]), _pct(r["win_rate"]), r["n"]]
            for i, r in enumerate(ranking["rows"])]
    lines = ["## Ranking (Bradley-Terry)", "", *_table(["rank", "model", "strength", "win rate", "judgments"], rows)]
    if not ranking["connected"]:
        lines += ["", "Some models were never compared, directly or through others: the strengths of "
                      "separate groups are not on one scale."]
    return lines


def _raters(agreement: dict[str, Any]) -> list[str]:
    raters = ", ".join(f"{name} ({n})" for name, n in agreement["raters"].items()) or "none"
    lines = ["## Agreement between raters", "", f"Raters (judgments counted): {raters}.", ""]
    if agreement["cohen"]:
        rows = [[c["raters"][0], c["raters"][1], c["items"], _pct(c["agreement"]), _num(c["kappa"])]
                for c in agreement["cohen"]]
        lines += _table(["rater", "rater", "shared items", "agreement", "Cohen's κ"], rows)
    else:
        lines.append("No item was judged by two raters.")
    fleiss = agreement["fleiss"]
    if fleiss:
        lines += ["", f"Fleiss' κ over {len(fleiss['raters'])} raters on the {fleiss['items']} items all of "
                      f"them judged: {_num(fleiss['kappa'])}."]
    return lines


def _judge(judge: dict[str, Any] | None) -> list[str]:
    lines = ["## Agreement with the LLM judge", ""]
    if judge is None:
        return lines + ["No judge ratings given (`--judge-ratings NAME=predictions.jsonl`)."]
    excluded = ", ".join(f"{n} {why}" for why, n in judge["excluded"].items()) or "none"
    lines += [f"{judge['pairs']} human judgments paired with a judge preference (left out: {excluded}).",
              f"Agreement rate {_pct(judge['agreement'])}, Cohen's κ {_num(judge['kappa'])}, "
              f"Spearman's ρ of the model win rates {_num(judge['spearman'])} "
              f"(over {len(judge['models_compared'])} models).", ""]
    lines += _table(["human \\ judge", *LABELS], [[h, *judge["confusion"][h].values()] for h in LABELS])
    rates = [[m, _pct(r["human"]), _pct(r["judge"])] for m, r in judge["win_rates"].items()]
    return lines + ["", *_table(["model", "human win rate", "judge win rate"], rates)]


def markdown(summary: dict[str, Any], sources: dict[str, str], chart_name: str) -> str:
    """The whole report as Markdown."""
    lines = ["# Human evaluation: blind pairwise preferences", "",
             f"Rating set `{sources['set']}`: {summary['items']} items, models {', '.join(summary['models'])}, "
             f"languages {', '.join(summary['langs'])}. Judgments `{sources['judgments']}`: "
             f"{summary['judgments']} counted.", ""]
    for part in (_problems(summary["problems"]), _win_rates(summary, chart_name), _ranking(summary["ranking"]),
                 _raters(summary["rater_agreement"]), _judge(summary["judge"])):
        lines += part + [""]
    return "\n".join(lines + [METHOD])
