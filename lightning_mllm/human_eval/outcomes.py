"""Judgments resolved to model names: the unit every figure of the report counts.

``resolve`` maps each valid judgment line to its item's hidden models and sets aside what cannot
count: judgments of items that are not in the set, and a rater's repeated judgments of one item
(the first counts, as the server itself refuses a second).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

from lightning_mllm.human_eval.judgments_store import MalformedLine


@dataclass(frozen=True)
class Outcome:
    """One counted judgment, resolved to model names."""

    line: int
    item_id: str
    key: str
    lang: str
    rater: str
    choice: str
    model_a: str
    model_b: str

    def score_of(self, model: str) -> float:
        """1 if ``model``'s answer was preferred, 0 if the other's, 0.5 for tie or both bad."""
        if self.choice in ("tie", "both_bad"):
            return 0.5
        winner = self.model_a if self.choice == "A" else self.model_b
        return float(winner == model)


def resolve(items: Sequence[dict[str, Any]], judgments: Sequence[tuple[int, dict[str, Any]]],
            malformed: Sequence[MalformedLine]) -> tuple[list[Outcome], dict[str, list[dict[str, Any]]]]:
    """Counted outcomes, and the problems: malformed lines, unknown items, duplicates."""
    by_id = {item["item_id"]: item for item in items}
    problems: dict[str, list[dict[str, Any]]] = {
        "malformed": [{"line": m.number, "reason": m.reason, "text": m.text} for m in malformed],
        "unknown_item": [], "duplicate": []}
    outcomes: list[Outcome] = []
    seen: set[tuple[str, str]] = set()
    for line, judgment in judgments:
        item = by_id.get(judgment["item_id"])
        rater = judgment["rater"].strip()
        if item is None:
            problems["unknown_item"].append({"line": line, "item_id": judgment["item_id"]})
        elif (rater, item["item_id"]) in seen:
            problems["duplicate"].append({"line": line, "item_id": item["item_id"], "rater": rater})
        else:
            seen.add((rater, item["item_id"]))
            outcomes.append(Outcome(line, item["item_id"], item["key"], item["lang"], rater, judgment["choice"],
                                    item["model_a"], item["model_b"]))
    return outcomes, problems


def model_win_rates(models: Sequence[str], outcomes: Sequence[Outcome],
                    labels: Sequence[str] | None = None) -> dict[str, float | None]:
    """Each model's overall win rate over its comparisons (ties half); ``labels`` replace the choices."""
    scores: dict[str, list[float]] = {m: [] for m in models}
    for i, o in enumerate(outcomes):
        outcome = o if labels is None else replace(o, choice=labels[i])
        for model in (o.model_a, o.model_b):
            scores[model].append(outcome.score_of(model))
    return {m: (sum(s) / len(s) if s else None) for m, s in scores.items()}
