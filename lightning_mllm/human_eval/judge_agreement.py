"""Agreement between the people and the LLM judge on the same pairs of answers.

The judge rates each answer on its own (1-10, ``rating`` in the evaluate command's
``predictions.jsonl``). For a judged pair it prefers the answer with the higher rating, and calls a
tie when the ratings are equal. Each counted human judgment is paired with the judge's preference on
the same item and the same two answers; a human "both bad" becomes a tie, since the judge cannot
say it. Judgments are left out (and counted by reason) when either answer has no judge rating: no
ratings file for that model, the item missing from it, or an unparseable judge reply (null).

On those pairs the report gives:

* the agreement rate: the share of pairs where the human and the judge chose the same of A/B/tie;
* Cohen's kappa between the two label sequences (three categories);
* a 3 x 3 confusion table;
* each model's win rate under the human labels and under the judge's labels (same pairs, ties
  half) and Spearman's rank correlation of the two, over the models with at least one pair (with
  two models it is +1 or -1; it needs three or more models to say much).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

from lightning_mllm.files import JsonlError, read_jsonl
from lightning_mllm.human_eval.answers_io import RatingSetError, resolve_spec
from lightning_mllm.human_eval.outcomes import Outcome, model_win_rates
from lightning_mllm.human_eval.statistics import cohen_kappa, spearman

LABELS = ("A", "B", "tie")
_ABSENT = object()


def load_judge_ratings(specs: Sequence[str], models: Sequence[str]) -> dict[str, dict[str, int | None]]:
    """Per model, the judge rating (or None when unparseable) of every rated item key.

    Args:
        specs: ``NAME=PATH`` or ``PATH`` (an evaluation folder or its predictions.jsonl).
        models: The rating set's models; every NAME must be one of them.
    """
    ratings: dict[str, dict[str, int | None]] = {}
    for spec in specs:
        name, path, _ = resolve_spec(spec)
        if name not in models:
            raise RatingSetError(f"--judge-ratings {spec}: {name!r} is not a model of the rating set ({', '.join(models)})")
        ratings[name] = {}
        try:
            records = read_jsonl(path)
        except JsonlError as err:
            raise RatingSetError(str(err)) from err
        ratings[name] = {r["key"]: r["rating"] for r in records if "rating" in r and "key" in r}
        if not ratings[name]:
            raise RatingSetError(f"{path}: no judge ratings (was the evaluate command run with --judge?)")
    return ratings


def judge_label(rating_a: int, rating_b: int) -> str:
    """The judge's pairwise preference from its two pointwise ratings."""
    return "A" if rating_a > rating_b else "B" if rating_b > rating_a else "tie"


def _pair(o: Outcome, ratings: dict[str, dict[str, int | None]]) -> str:
    """The judge label for ``o``, or why there is none."""
    if o.model_a not in ratings or o.model_b not in ratings:
        return "no ratings file for one of the models"
    rating_a, rating_b = ratings[o.model_a].get(o.key, _ABSENT), ratings[o.model_b].get(o.key, _ABSENT)
    if rating_a is _ABSENT or rating_b is _ABSENT:
        return "item not rated by the judge"
    if rating_a is None or rating_b is None:
        return "judge reply unparseable"
    return judge_label(rating_a, rating_b)


def compare_with_judge(models: Sequence[str], outcomes: Sequence[Outcome],
                       ratings: dict[str, dict[str, int | None]]) -> dict[str, Any]:
    """The human-vs-judge figures of the module docstring, as plain data."""
    paired: list[Outcome] = []
    human: list[str] = []
    judge: list[str] = []
    excluded: Counter[str] = Counter()
    for o in outcomes:
        label = _pair(o, ratings)
        if label not in LABELS:
            excluded[label] += 1
            continue
        paired.append(o)
        human.append("tie" if o.choice == "both_bad" else o.choice)
        judge.append(label)
    confusion = {h: {j: sum(a == h and b == j for a, b in zip(human, judge)) for j in LABELS} for h in LABELS}
    human_rates = model_win_rates(models, paired, ["tie" if c == "both_bad" else c for c in human])
    judge_rates = model_win_rates(models, paired, judge)
    compared = [m for m in models if human_rates[m] is not None]
    return {"pairs": len(paired), "excluded": dict(excluded),
            "agreement": sum(h == j for h, j in zip(human, judge)) / len(paired) if paired else None,
            "kappa": cohen_kappa(human, judge), "confusion": confusion,
            "win_rates": {m: {"human": human_rates[m], "judge": judge_rates[m]} for m in models},
            "spearman": spearman([human_rates[m] for m in compared], [judge_rates[m] for m in compared]),
            "models_compared": compared}
