"""Builds, writes and reads a blind pairwise rating set.

A rating set is a JSONL file: a header line (format, seed, models, languages, per-cell count,
sources) and one line per item: an opaque ``item_id``, the item key, the image path, the prompt and
two answers as ``answer_a``/``answer_b``. ``model_a``/``model_b`` hold the hidden mapping for the
report; the web app never sends them to the page (``public_item``).

Balance: every unordered model pair is rated in every language on the same number of items (one
(pair, language) *cell* each). An item is eligible for a pair when both models answered it (no
error, a non-null prediction). Per language the item keys are shuffled once with the seed and each
pair takes the first eligible keys in that order, so pairs share items wherever possible (the same
prompts for every model, which the ranking and the judge comparison want). The cell size is
``--per-pair`` divided by the number of languages, or by default the size of the smallest cell; a
cell with fewer eligible items than asked keeps all it has and is reported as short. Within a cell
the pair's first model is shown on the left in exactly half of the items (one more when odd),
in seeded random positions, so position bias cancels out. The final order is a seeded shuffle.
Everything random comes from ``random.Random`` seeded with strings derived from ``--seed``, and
models are sorted by name: the same inputs and seed give a byte-identical file.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Sequence

from lightning_mllm.files import JsonlError, atomic_write, read_jsonl
from lightning_mllm.human_eval.answers_io import ModelAnswers, RatingSetError, answered

SET_FORMAT = "lightning-mllm-ratingset/1"
PUBLIC_KEYS = ("item_id", "prompt", "answer_a", "answer_b")
Pair = tuple[str, str]


@dataclass
class PrepareSummary:
    """What ``build_rating_set`` did, for the console and the tests."""

    per_cell: int
    cells: dict[tuple[Pair, str], int] = field(default_factory=dict)
    short: list[str] = field(default_factory=list)
    missing: dict[str, list[str]] = field(default_factory=dict)
    excluded: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """Human-readable report lines."""
        out = [f"{count} items for {a} vs {b} in {lang}" for ((a, b), lang), count in self.cells.items()]
        out += [f"short cell: {text}" for text in self.short]
        for model, keys in self.missing.items():
            out.append(f"{model}: {len(keys)} items missing, skipped for its pairs (e.g. {', '.join(keys[:3])})")
        out += [f"{model}: {n} answers excluded (error or null prediction)" for model, n in self.excluded.items() if n]
        return out


def _langs_present(models: Sequence[ModelAnswers]) -> list[str]:
    found = {r["lang"] for m in models for r in m.records.values()}
    return sorted(found, key=lambda lang: (lang != "en", lang))


def _item_id(seed: int, pair: Pair, key: str) -> str:
    return "i" + hashlib.sha256(f"{seed}|{pair[0]}|{pair[1]}|{key}".encode()).hexdigest()[:12]


def _eligible(models: Sequence[ModelAnswers], langs: Sequence[str], seed: int) -> dict[tuple[Pair, str], list[str]]:
    by_name = {m.name: m.records for m in models}
    cells: dict[tuple[Pair, str], list[str]] = {}
    for lang in langs:
        order = sorted({k for m in models for k, r in m.records.items() if r["lang"] == lang})
        random.Random(f"{seed}/keys/{lang}").shuffle(order)
        for pair in combinations(sorted(by_name), 2):
            cells[(pair, lang)] = [k for k in order if all(answered(by_name[n].get(k)) for n in pair)]
    return cells


def _cell_size(cells: dict[tuple[Pair, str], list[str]], per_pair: int | None, n_langs: int) -> int:
    if per_pair is not None:
        if per_pair < n_langs or per_pair % n_langs:
            raise RatingSetError(f"--per-pair {per_pair} must be a positive multiple of the number of "
                                 f"languages ({n_langs}) so that every language gets the same count")
        return per_pair // n_langs
    (pair, lang), keys = min(cells.items(), key=lambda cell: len(cell[1]))
    if not keys:
        raise RatingSetError(f"no item answered by both {pair[0]} and {pair[1]} in {lang!r}; "
                             "leave the language out with --langs or check those answer files")
    return len(keys)


def _make_item(models: dict[str, ModelAnswers], pair: Pair, key: str, seed: int, first_left: bool) -> dict[str, Any]:
    left, right = pair if first_left else pair[::-1]
    record = models[left].records[key]
    return {"item_id": _item_id(seed, pair, key), "key": key, "benchmark": record["benchmark"],
            "lang": record["lang"], "id": record.get("id"), "image": record.get("image"),
            "prompt": record["question"], "answer_a": record["prediction"],
            "answer_b": models[right].records[key]["prediction"], "model_a": left, "model_b": right}


def _summarise_inputs(models: Sequence[ModelAnswers], summary: PrepareSummary) -> None:
    every = set().union(*(m.records for m in models))
    for model in models:
        missing = sorted(every - set(model.records))
        if missing:
            summary.missing[model.name] = missing
        summary.excluded[model.name] = sum(not answered(r) for r in model.records.values())


def build_rating_set(models: Sequence[ModelAnswers], seed: int = 0, per_pair: int | None = None,
                     langs: Sequence[str] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]], PrepareSummary]:
    """The balanced, shuffled rating set of ``models`` (see the module docstring).

    Args:
        models: The models' answers, prompts already checked (``answers_io.check_prompts``).
        seed: Seed of every random choice.
        per_pair: Items per model pair over all languages; default: as many as the smallest cell allows.
        langs: Languages to include; default: every language found.

    Returns:
        The header, the items in presentation order, and a summary of counts.
    """
    present = _langs_present(models)
    langs = list(langs) if langs else present
    if not present or any(lang not in present for lang in langs):
        raise RatingSetError(f"no open-ended items (kind 'open') in language(s) "
                             f"{', '.join(sorted(set(langs) - set(present))) or 'any'} after the filters")
    cells = _eligible(models, langs, seed)
    size = _cell_size(cells, per_pair, len(langs))
    summary = PrepareSummary(per_cell=size)
    _summarise_inputs(models, summary)
    by_name = {m.name: m for m in models}
    items: list[dict[str, Any]] = []
    for (pair, lang), keys in cells.items():
        chosen = keys[:size]
        if len(chosen) < size:
            summary.short.append(f"{pair[0]} vs {pair[1]} in {lang}: {len(chosen)} of {size} items")
        sides = [i < (len(chosen) + 1) // 2 for i in range(len(chosen))]
        random.Random(f"{seed}/sides/{pair[0]}/{pair[1]}/{lang}").shuffle(sides)
        items += [_make_item(by_name, pair, key, seed, left) for key, left in zip(chosen, sides)]
        summary.cells[(pair, lang)] = len(chosen)
    random.Random(f"{seed}/order").shuffle(items)
    header = {"format": SET_FORMAT, "seed": seed, "models": [m.name for m in models], "langs": langs,
              "per_cell": size, "sources": {m.name: str(m.path) for m in models}}
    return header, items, summary


def write_rating_set(path: str | Path, header: dict[str, Any], items: Sequence[dict[str, Any]]) -> Path:
    """Writes the header line then one line per item (UTF-8, keys in a fixed order)."""
    path = Path(path)
    lines = [json.dumps(header, ensure_ascii=False)] + [json.dumps(item, ensure_ascii=False) for item in items]
    return atomic_write(path, "\n".join(lines) + "\n")


def load_rating_set(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(header, items) of a rating set file; fails naming the file when it is not one."""
    path = Path(path)
    try:
        rows = read_jsonl(path)
    except (OSError, JsonlError) as err:
        raise RatingSetError(f"{path}: cannot read the rating set ({err})") from err
    if not rows or not isinstance(rows[0], dict) or rows[0].get("format") != SET_FORMAT:
        raise RatingSetError(f"{path}: not a rating set (first line must have format {SET_FORMAT!r})")
    ids = [item.get("item_id") for item in rows[1:]]
    if len(set(ids)) != len(ids):
        raise RatingSetError(f"{path}: item ids are not unique")
    return rows[0], rows[1:]


def public_item(item: dict[str, Any]) -> dict[str, Any]:
    """The part of an item the rating page may see: no model names, no item key."""
    return {key: item[key] for key in PUBLIC_KEYS}
