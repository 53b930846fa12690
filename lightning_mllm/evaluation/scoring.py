"""Scores answers per benchmark and language: one result row each, and one record per item.

Every multiple-choice and short-answer item stays in its benchmark's denominator: an unparseable
reply, an image that did not decode or a prompt that could not be built counts as wrong, and each
is counted in its own column so the report shows how much of a score they explain. Short answers
are scored with the official soft accuracy when an item has ten human answers and by exact match
otherwise (``vqa_metric``); the row's ``metric`` says which, with ``soft_items``/``exact_items``.
Judge ratings are different: an answer the judge could not rate (no answer came, the judge's
generation failed, or its reply held no rating) is counted, not scored 0, and left out of the mean.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from lightning_mllm.evaluation.circular import original_id
from lightning_mllm.evaluation.items import BenchItem
from lightning_mllm.evaluation.mc_extraction import extract_choice
from lightning_mllm.evaluation.text_metrics import corpus_scores, pair_scores
from lightning_mllm.evaluation.vqa_metric import EXACT, SOFT, VQA_ANSWERS, vqa_score

# Reference-based metric reported as an open-ended benchmark's score when no judge ran.
OPEN_MAIN_METRIC = "chrf"


def item_record(item: BenchItem, answer: dict[str, Any]) -> dict[str, Any]:
    """The per-item output line: the question, the model's answer and how it was scored."""
    prediction = answer.get("prediction")
    record = {"key": item.key, "benchmark": item.benchmark, "lang": item.lang, "id": item.id, "kind": item.kind,
              "question": item.question, "prediction": prediction, "error": answer.get("error"),
              "category": item.category}
    if isinstance(item.image, str):
        record["image"] = item.image
    if item.kind == "mc":
        parsed = extract_choice(prediction, item.options, item.lang) if prediction is not None else None
        record.update(options=item.options, answer=item.answer, parsed=parsed,
                      score=float(parsed is not None and parsed == item.answer))
        if "circular_of" in item.meta:
            record["circular_of"] = item.meta["circular_of"]
    elif item.kind == "vqa":
        value, metric = vqa_score(prediction, item.answers, item.lang) if prediction is not None else \
            (0.0, SOFT if len(item.answers) == VQA_ANSWERS else EXACT)
        record.update(answers=item.answers, score=value, metric=metric)
    else:
        record["reference"] = item.answer
        if item.answer.strip() and prediction is not None:
            record["metrics"] = pair_scores(prediction, item.answer)
    if "rating" in answer:
        record.update(rating=answer["rating"], judge_reply=answer.get("judge_reply"),
                      judge_error=answer.get("judge_error"))
    return record


def _counts(records: list[dict[str, Any]]) -> dict[str, int]:
    return {"image_errors": sum(r["error"] == "image_error" for r in records),
            "other_errors": sum(r["error"] not in (None, "image_error") for r in records)}


def _mc_row(records: list[dict[str, Any]]) -> dict[str, Any]:
    unparseable = sum(r["prediction"] is not None and r["parsed"] is None for r in records)
    if any("circular_of" in r for r in records):
        # A question is right only when every rotation of it is right.
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in records:
            groups[r.get("circular_of", original_id(r["id"]))].append(r)
        scores = [float(all(r["score"] == 1.0 for r in group)) for group in groups.values()]
        categories = [group[0]["category"] for group in groups.values()]
        return {"metric": "circular_accuracy", "scores": scores, "replies": len(records), "unparseable": unparseable,
                "group_categories": categories}
    return {"metric": "accuracy", "scores": [r["score"] for r in records], "unparseable": unparseable}


def _vqa_row(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Soft accuracy, exact match, or both (per item, by its number of answers), named in ``metric``."""
    soft = sum(r["metric"] == SOFT for r in records)
    metric = SOFT if soft == len(records) else EXACT if soft == 0 else f"{SOFT}+{EXACT}"
    return {"metric": metric, "scores": [r["score"] for r in records], "soft_items": soft,
            "exact_items": len(records) - soft}


def _open_row(records: list[dict[str, Any]]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    referenced = [r for r in records if r["reference"].strip()]
    if referenced:
        # Answers that never came (errors) score as empty strings against their references.
        row["metrics"] = corpus_scores([r["prediction"] or "" for r in referenced],
                                       [r["reference"] for r in referenced])
        row["with_reference"] = len(referenced)
    judged = [r for r in records if "rating" in r]
    if judged:
        ratings = [r["rating"] for r in judged if r["rating"] is not None]
        failed = sum(r.get("judge_error") is not None for r in judged)
        row["judge_failed"] = failed
        row["judge_unparseable"] = len(judged) - len(ratings) - failed
        row["judge_unrated"] = len(records) - len(ratings)
        # Only rated answers make the mean; the rest are counted above (and answers that never
        # came in image_errors / other_errors), not scored 0.
        row["metric"], row["scores"] = "judge_rating", [rating / 10 for rating in ratings]
    elif referenced:
        row["metric"], row["scores"] = OPEN_MAIN_METRIC, [row["metrics"][OPEN_MAIN_METRIC]]
    else:
        row["metric"], row["scores"] = "none", []
    return row


def result_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (benchmark, language): metric, score in [0, 1], counts, per-category scores."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        groups[(record["benchmark"], record["lang"])].append(record)
    rows = []
    for (benchmark, lang), group in groups.items():
        kind = group[0]["kind"]
        row = _mc_row(group) if kind == "mc" else _open_row(group) if kind == "open" else _vqa_row(group)
        scores = row.pop("scores")
        count = len(scores) if kind != "open" or row["metric"] != OPEN_MAIN_METRIC else row["with_reference"]
        score = sum(scores) / len(scores) if scores else None
        row = {"benchmark": benchmark, "lang": lang, "kind": kind, "metric": row.pop("metric"), "score": score,
               "count": count, **({"correct": sum(scores)} if kind != "open" else {}), **_counts(group), **row}
        # Per category: circular rows by question (each group's category), others by record.
        labels = row.pop("group_categories", None) or [r["category"] for r in group]
        categories = sorted({label for label in labels if label})
        if kind != "open" and categories:
            row["categories"] = {c: sum(s for s, label in zip(scores, labels) if label == c)
                                 / sum(label == c for label in labels) for c in categories}
        rows.append(row)
    return sorted(rows, key=lambda r: (r["benchmark"], r["lang"]))


def score(items: list[BenchItem], answers: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Result rows and per-item records; an item with no answer at all is a programming error."""
    missing = [item.key for item in items if item.key not in answers]
    if missing:
        raise KeyError(f"{len(missing)} item(s) were never answered, e.g. {missing[:3]}")
    records = [item_record(item, answers[item.key]) for item in items]
    return result_rows(records), records
