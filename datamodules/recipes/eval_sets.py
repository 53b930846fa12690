"""Evaluation recipes: published benchmark rows into the files ``configs/eval/paper.yaml`` reads.

Targets the formats as ``lightning_mllm/evaluation/formats.py`` reads them today: ``vqa`` and
``open`` JSONL (images as paths relative to the file), ``aokvqa_json`` (a JSON list; images as
absolute paths, since paper.yaml points that format's ``image_root`` at COCO). Every written file
is read back through ``load_items``, so a format change there fails here, not at evaluation time.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from datamodules.column_rows import iter_rows, require_columns
from datamodules.raw_formats import Reject, check_image
from datamodules.raw_images import read_image_file
from datamodules.recipes.catalog import Recipe
from datamodules.recipes.data_card import write_card
from datamodules.recipes.inputs import input_files
from datamodules.recipes.prepare import SETTING_FORMAT, PrepareSettings, columns_of
from datamodules.row_images import ImageLookup
from lightning_mllm.evaluation.formats import load_items
from lightning_mllm.files import atomic_write

NEEDED = {"vqa": ("question", "answers"), "aokvqa_json": ("question", "choices", "answer_index"),
          "open": ("question",)}


def write_eval_set(recipe: Recipe, settings: PrepareSettings) -> dict[str, Any]:
    """Writes one benchmark file (and its images) under ``settings.out``; returns its card."""
    files = input_files(recipe, settings.input, settings.hf_id, settings.split or recipe.split)
    columns = columns_of(recipe, settings)
    needed = {SETTING_FORMAT.format(name=n): columns.get(n) for n in (*NEEDED[recipe.kind], "image", "url", "id",
                                                                      "reference", "direct_answers")}
    for path in files:
        require_columns(path, needed)
    target = Path(settings.out) / recipe.eval_path
    images = target.parent / "images" / recipe.lang
    images.mkdir(parents=True, exist_ok=True)
    lookup = ImageLookup(settings.images, settings.image_tars)
    rows, rejected = [], Counter()
    for where, row in (r for path in files for r in iter_rows(path)):
        if settings.limit is not None and len(rows) >= settings.limit:
            break
        try:
            ident = str(row[columns["id"]]) if columns.get("id") and row.get(columns["id"]) is not None else str(len(rows))
            image = _image(row, columns, lookup, images, ident, where)
            rows.append(_item(recipe.kind, row, columns, ident, image, target.parent))
        except Reject as reject:
            rejected[reject.reason] += 1
    _write(target, rows, recipe.kind)
    items = load_items(recipe.kind, str(target), recipe.source, recipe.lang)
    card = {"recipe": asdict(recipe), "columns": columns, "inputs": files,
            "file": str(target), "format": recipe.kind, "rejected": dict(sorted(rejected.items())),
            "languages": {recipe.lang: len(items)},
            "stats": {"samples": len(items), "images": sum(1 for i in items if i.image is not None),
                      "turns": len(items), "turns_per_sample": 1.0, "reply_words": 0}}
    card["card"] = str(write_card(str(target.parent), target.stem, card))
    return card


def _image(row: dict[str, Any], columns: dict[str, str | None], lookup: ImageLookup, folder: Path, ident: str,
           where: str) -> str | None:
    if columns.get("url"):
        value = lookup.get(row[columns["url"]]) if row.get(columns["url"]) else None
    else:
        value = row.get(columns["image"]) if columns.get("image") else None
    if isinstance(value, dict) and value.get("root"):  # a downloaded image, inside its download folder
        value = read_image_file(value["path"], value["root"])
    elif isinstance(value, dict):
        value = value.get("bytes") or value.get("path")
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = Path(value).read_bytes()
        except OSError as error:
            raise Reject("missing_image", f"{where}: cannot read {value} ({error.strerror})") from error
    data, ext = check_image(bytes(value))
    path = folder / f"{re.sub(r'[^A-Za-z0-9_-]', '_', ident)[:80]}.{ext}"
    atomic_write(path, data)
    return str(path)


def _item(kind: str, row: dict[str, Any], columns: dict[str, str | None], ident: str, image: str | None,
          base: Path) -> dict[str, Any]:
    question = row.get(columns["question"])
    if not isinstance(question, str) or not question.strip():
        raise Reject("empty_question", f"no text in {columns['question']!r}")
    if kind == "aokvqa_json":
        item = {"question_id": ident, "question": question, "choices": row[columns["choices"]],
                "correct_choice_idx": row[columns["answer_index"]]}
        if columns.get("direct_answers") and row.get(columns["direct_answers"]) is not None:
            item["direct_answers"] = row[columns["direct_answers"]]
        return {**item, **({"image": image} if image else {})}
    item = {"id": ident, "question": question}
    if kind == "vqa":
        answers = [a.get("answer") if isinstance(a, dict) else a for a in row.get(columns["answers"]) or []]
        if not [a for a in answers if isinstance(a, str) and a.strip()]:
            raise Reject("no_answers", f"no answers in {columns['answers']!r}")
        item["answers"] = answers
    elif columns.get("reference") and row.get(columns["reference"]):
        item["reference"] = row[columns["reference"]]
    if image:
        item["image"] = os.path.relpath(image, base)
    return item


def _write(target: Path, rows: list[dict[str, Any]], kind: str) -> None:
    if kind == "aokvqa_json":
        atomic_write(target, json.dumps(rows, ensure_ascii=False))
    else:
        atomic_write(target, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
