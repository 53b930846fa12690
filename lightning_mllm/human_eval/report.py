"""Turns a rating set and its judgments into the human evaluation's figures.

Counting rules (the report repeats them):

* One judgment = one rater's choice on one item. A rater's later judgments of an item they already
  judged (two servers, two tabs) are listed as duplicates and ignored: the first one counts, as the
  server itself refuses a second.
* Win rate of model X against Y = (wins of X + half the ties) / judgments, where "both bad" counts
  as a tie (neither answer preferred); ties and "both bad" are also shown on their own. 95% Wilson
  score intervals (``statistics.wilson_interval``). Per pair, per language and over all languages.
* Bradley-Terry strengths from all judgments, ties and "both bad" as half a win each way.
* Rater agreement on the four choices (A, B, tie, both bad; both raters saw the same A/B order):
  Cohen's kappa for every two raters on the items both judged; Fleiss' kappa, when three or more
  raters judged, on the items every one of them judged.
* Malformed judgment lines and judgments of items not in the set are listed with their line numbers
  and counted; the report continues without them (``--strict`` makes them fail the command).

The LLM judge comparison lives in ``judge_agreement.py``.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations
from typing import Any, Sequence

import numpy as np

from lightning_mllm.human_eval.judge_agreement import compare_with_judge
from lightning_mllm.human_eval.judgments_store import CHOICES, MalformedLine
from lightning_mllm.human_eval.outcomes import Outcome, model_win_rates, resolve
from lightning_mllm.human_eval.statistics import bradley_terry, cohen_kappa, fleiss_kappa, wilson_interval

ALL_LANGS = "all"


def _pair_row(pair: tuple[str, str], lang: str, outcomes: Sequence[Outcome]) -> dict[str, Any]:
    first, second = pair
    wins = sum(o.score_of(first) == 1.0 for o in outcomes)
    losses = sum(o.score_of(second) == 1.0 for o in outcomes)
    ties = sum(o.choice == "tie" for o in outcomes)
    both_bad = sum(o.choice == "both_bad" for o in outcomes)
    row = {"model": first, "opponent": second, "lang": lang, "n": len(outcomes), "wins": wins, "losses": losses,
           "ties": ties, "both_bad": both_bad, "win_rate": None, "ci_low": None, "ci_high": None}
    if outcomes:
        score = wins + 0.5 * (ties + both_bad)
        row["win_rate"] = score / len(outcomes)
        row["ci_low"], row["ci_high"] = wilson_interval(score, len(outcomes))
    return row


def win_rates(models: Sequence[str], langs: Sequence[str], outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    """One row per model pair (in the set's model order) and language, plus ``all`` languages."""
    cells: dict[tuple[tuple[str, str], str], list[Outcome]] = defaultdict(list)
    for o in outcomes:
        pair = tuple(sorted((o.model_a, o.model_b), key=models.index))
        cells[(pair, o.lang)].append(o)
        cells[(pair, ALL_LANGS)].append(o)
    return [_pair_row(pair, lang, cells.get((pair, lang), []))
            for pair in combinations(models, 2) for lang in [*langs, ALL_LANGS]]


def ranking(models: Sequence[str], outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Bradley-Terry strengths (sum 1), best first, with each model's win rate and judgment count."""
    index = {m: i for i, m in enumerate(models)}
    wins = np.zeros((len(models), len(models)))
    for o in outcomes:
        a, b = index[o.model_a], index[o.model_b]
        wins[a, b] += o.score_of(o.model_a)
        wins[b, a] += o.score_of(o.model_b)
    strengths = bradley_terry(wins)
    rates = model_win_rates(models, outcomes)
    counts = {m: sum(m in (o.model_a, o.model_b) for o in outcomes) for m in models}
    rows = [{"model": m, "strength": None if np.isnan(strengths[i]) else float(strengths[i]),
             "win_rate": rates[m], "n": counts[m]} for i, m in enumerate(models)]
    rows.sort(key=lambda r: -1.0 if r["strength"] is None else r["strength"], reverse=True)
    return {"rows": rows, "connected": _connected(models, outcomes)}


def _connected(models: Sequence[str], outcomes: Sequence[Outcome]) -> bool:
    groups = {m: {m} for m in models}
    for o in outcomes:
        merged = groups[o.model_a] | groups[o.model_b]
        for m in merged:
            groups[m] = merged
    return len(groups[models[0]]) == len(models) if models else True


def rater_agreement(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Pairwise Cohen's kappa and, for three or more raters, Fleiss' kappa on the shared items."""
    labels: dict[str, dict[str, str]] = defaultdict(dict)
    for o in outcomes:
        labels[o.rater][o.item_id] = o.choice
    raters = sorted(labels)
    cohen = []
    for first, second in combinations(raters, 2):
        shared = sorted(labels[first].keys() & labels[second].keys())
        if shared:
            a, b = [labels[first][i] for i in shared], [labels[second][i] for i in shared]
            cohen.append({"raters": [first, second], "items": len(shared), "kappa": cohen_kappa(a, b),
                          "agreement": sum(x == y for x, y in zip(a, b)) / len(shared)})
    fleiss = None
    if len(raters) >= 3:
        shared = sorted(set.intersection(*(set(labels[r]) for r in raters)))
        table = [[sum(labels[r][i] == c for r in raters) for c in CHOICES] for i in shared]
        fleiss = {"raters": raters, "items": len(shared), "kappa": fleiss_kappa(table) if shared else None}
    return {"raters": {r: len(labels[r]) for r in raters}, "cohen": cohen, "fleiss": fleiss}


def summarise(header: dict[str, Any], items: Sequence[dict[str, Any]],
              judgments: Sequence[tuple[int, dict[str, Any]]], malformed: Sequence[MalformedLine],
              judge_ratings: dict[str, dict[str, int | None]] | None = None) -> dict[str, Any]:
    """Every figure of the report as plain, JSON-ready data (what ``summary.json`` holds).

    Args:
        header: The rating set's header line.
        items: The rating set's items.
        judgments: Valid judgment lines with their line numbers (``judgments_store.read_judgments``).
        malformed: The lines that were not valid judgments.
        judge_ratings: Per model, the LLM judge's rating of each item key (``judge_agreement``).
    """
    outcomes, problems = resolve(items, judgments, malformed)
    models, langs = list(header["models"]), list(header["langs"])
    return {"items": len(items), "models": models, "langs": langs, "judgments": len(outcomes),
            "problems": problems, "win_rates": win_rates(models, langs, outcomes),
            "ranking": ranking(models, outcomes), "rater_agreement": rater_agreement(outcomes),
            "judge": compare_with_judge(models, outcomes, judge_ratings) if judge_ratings else None}
