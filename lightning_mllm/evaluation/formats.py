"""Benchmark files in their published formats, read into ``BenchItem`` objects.

``load_items`` is the one entry point: it picks the reader for ``format``, keeps the first ``limit``
items and checks that ids are unique. Images stay encoded (bytes or a path, never decoded here), so
an image that does not decode is counted when its batch is built instead of stopping the load.

Formats and the keys (columns) each row needs:
    mmbench_tsv     MMBench TSV: ``index, question, image, A, B, answer``; options are the non-empty
                    letter columns A-J; ``image`` is base64, or the index of the row holding it.
    mmstar_parquet  MMStar Parquet: ``index, question, image, answer``; the options are parsed out of
                    ``question`` (``...?\\nOptions: A: x, B: y``).
    vqav2_official  VQAv2 questions JSON (``question_id, image_id, question``) joined to the
                    annotations JSON (``question_id, answers``); images under ``image_root``.
    mc, vqa, open   Generic ``.jsonl``, ``.json`` or ``.parquet``: ``question`` (``open`` also takes
                    ``prompt``); ``mc`` adds ``options`` and ``answer``, ``vqa`` adds ``answers`` (or
                    ``answer``); optional ``id``, ``image`` or ``image_base64``, ``hint``,
                    ``category`` and, for ``open``, ``reference``.

Published files read like the generic formats with other column names (``DEFAULT_COLUMNS``:
our field -> the file's column; a spec's ``columns`` replaces single entries, e.g.
``{reference: claude-3-sonnet-20240229}``). Any ``.jsonl``, ``.json`` or ``.parquet``:
    vqav2           VQAv2 as lmms-eval's Parquet or JSONL: ``question_id`` (kept as the item id),
                    ``question``, ``answers`` (``{"answer": ...}`` entries or strings), ``image``;
                    ``answer_type`` is the category. Ten answers: soft accuracy.
    aokvqa          A-OKVQA multiple choice (the Hugging Face Parquet or the official JSON):
                    ``question_id``, ``question``, ``choices``, ``correct_choice_idx``, and ``image``
                    or ``image_id`` (``{image_root}/{image_id:012d}.jpg``, COCO 2017 naming);
                    ``direct_answers`` and the rationales stay in the item's meta.
                    ``aokvqa_json`` is the same reader under its older name.
    aokvqa_direct   A-OKVQA direct answer: ``direct_answers`` (ten) as the human answers.
    wildvision      WildVision-Bench open prompts: ``question_id``, ``instruction``, ``image``; set
                    ``columns: {reference: <a model's answer column>}`` to score against one.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any

from lightning_mllm.evaluation.format_rows import (
    Row,
    answer_letter,
    answer_texts,
    check_row_keys,
    extra_fields,
    image_value,
    item_id,
    json_rows,
    lettered_options,
    read_json,
    read_parquet,
    read_rows,
    read_tsv,
    split_options,
    text_field,
)
from lightning_mllm.evaluation.items import (
    LETTERS,
    BenchItem,
    BenchmarkFileError,
    decode_base64_image,
)
from lightning_mllm.evaluation.source import Source

FORMATS = ("mmbench_tsv", "mmstar_parquet", "aokvqa_json", "vqav2_official", "mc", "vqa", "open", "vqav2", "aokvqa",
           "aokvqa_direct", "wildvision")
# Published formats read by the generic reader of a kind, under other column names (our field -> column).
DEFAULT_COLUMNS: dict[str, dict[str, str]] = {
    "mc": {}, "vqa": {}, "open": {},
    "vqav2": {"id": "question_id", "category": "answer_type"},
    "aokvqa": {"id": "question_id", "options": "choices", "answer": "correct_choice_idx"},
    "aokvqa_json": {"id": "question_id", "options": "choices", "answer": "correct_choice_idx"},
    "aokvqa_direct": {"id": "question_id", "answers": "direct_answers"},
    "wildvision": {"id": "question_id", "question": "instruction"},
}
GENERIC_KIND = {"mc": "mc", "vqa": "vqa", "open": "open", "vqav2": "vqa", "aokvqa": "mc", "aokvqa_json": "mc",
                "aokvqa_direct": "vqa", "wildvision": "open"}
MMBENCH_REQUIRED = ("index", "question", "image", "A", "B", "answer")
MMSTAR_REQUIRED = ("index", "question", "image", "answer")
VQAV2_REQUIRED = ("question_id", "image_id", "question")
VQAV2_ANNOTATION_REQUIRED = ("question_id", "answers")
GENERIC_REQUIRED = {
    "mc": ("question", "options", "answer"),
    "vqa": ("question", ("answers", "answer")),
    "open": (("question", "prompt"),),
}
GENERIC_FIELDS = {"id", "image", "image_base64", "question", "prompt", "hint", "category", "options", "answer",
                  "answers", "reference"}


def load_items(format: str, path: str, benchmark: str, lang: str, image_root: str | None = None,
               annotations: str | None = None, limit: int | None = None,
               columns: dict[str, str] | None = None) -> list[BenchItem]:
    """Reads one benchmark file (one language) into items.

    Args:
        format: One of ``FORMATS``.
        path: The benchmark file (for ``vqav2_official``, the questions JSON).
        benchmark: Benchmark name written into every item.
        lang: Language code written into every item.
        image_root: Folder of the images that rows name by path or by COCO image id; needed by
            ``vqav2_official`` and by ``aokvqa_json`` rows without an ``image`` path.
        annotations: ``vqav2_official`` only: the annotations JSON with the human answers.
        limit: Keep only the first ``limit`` items (all when None).
        columns: Generic and published formats (``DEFAULT_COLUMNS``): our field -> the file's
            column, replacing the format's defaults one field at a time.

    Returns:
        The items in file order.

    Raises:
        ValueError: Unknown ``format``, a negative ``limit`` or ``columns`` for a format without them.
        BenchmarkFileError: A missing file, missing columns or keys, a row with a bad field, a
            repeated id or a file without items; the message names the file, row and field.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown benchmark format {format!r}; expected one of {', '.join(FORMATS)}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")
    for name, file in (("path", path), ("annotations", annotations)):
        if file is not None and not os.path.isfile(file):
            raise BenchmarkFileError(f"{benchmark}/{lang}: {name} {file} is not a file")
    if columns and format not in DEFAULT_COLUMNS:
        raise ValueError(f"{benchmark}/{lang}: format {format!r} has fixed columns; 'columns' applies to "
                         f"{', '.join(DEFAULT_COLUMNS)}")
    mapping = {**DEFAULT_COLUMNS.get(format, {}), **(columns or {})}
    source = Source(path, benchmark, lang, image_root, annotations, tuple(mapping.items()))
    items: list[BenchItem] = []
    seen: set[str] = set()
    for item in itertools.islice(_READERS[format](source), limit):
        if item.id in seen:
            raise BenchmarkFileError(f"{path}: id {item.id!r} appears more than once")
        seen.add(item.id)
        items.append(item)
    if not items and limit != 0:
        raise BenchmarkFileError(f"{path}: no items in the file")
    return items


def _mmbench_tsv(source: Source) -> Iterator[BenchItem]:
    rows = read_tsv(source.path, MMBENCH_REQUIRED)
    images = {row.data["index"].strip(): row.data.get("image") for row in rows if row.data.get("index")}
    for row in rows:
        check_row_keys(row, ("index", "question", "image"))
        options = lettered_options(row, "A-J", {letter: row.data[letter] for letter in LETTERS
                                                if row.data.get(letter) is not None})
        yield source.item(row, id=item_id(row, "index"), kind="mc", question=text_field(row, "question", True),
                          options=options, answer=answer_letter(row, options), hint=text_field(row, "hint"),
                          image=_mmbench_image(row, images), category=text_field(row, "category"),
                          meta=extra_fields(row, {"index", "question", "hint", "answer", "image", "category",
                                                  *LETTERS}))


def _mmbench_image(row: Row, images: dict[str, str | None]) -> bytes:
    """MMBench stores a repeated image once; other rows hold that row's index instead of base64."""
    value, followed = row.data["image"].strip(), set()
    while value.isdigit():
        if value in followed or not images.get(value):
            raise row.error("image", f"refers to index {value}, which holds no image")
        followed.add(value)
        value = images[value].strip()
    return decode_base64_image(value, f"{row.where}: field 'image'")


def _mmstar_parquet(source: Source) -> Iterator[BenchItem]:
    for row in read_parquet(source.path, MMSTAR_REQUIRED):
        check_row_keys(row, MMSTAR_REQUIRED)
        stem, options = split_options(text_field(row, "question", True))
        if not options:
            raise row.error("question", "no options could be parsed (expected '...\\nOptions: A: ..., B: ...')")
        yield source.item(row, id=item_id(row, "index"), kind="mc", question=stem, options=options,
                          answer=answer_letter(row, options, required=True),
                          image=image_value(row, "image", source.image_base),
                          category=text_field(row, "category"),
                          meta=extra_fields(row, {"index", "question", "answer", "image", "category"}))


def _aokvqa_image(row: Row, source: Source) -> bytes | str | None:
    if row.data.get("image") or row.data.get("image_base64"):
        return _generic_image(row, source)
    if source.image_root is None:
        raise BenchmarkFileError(f"{source.path}: the rows name images by 'image_id' only; pass image_root "
                                 "(the COCO 2017 image folder, e.g. .../coco/val2017) to find them")
    return os.path.join(source.image_root, f"{_coco_id(row):012d}.jpg")


def _coco_id(row: Row) -> int:
    value = row.data.get("image_id")
    try:
        return int(value)
    except (TypeError, ValueError) as error:
        raise row.error("image_id", f"expected a COCO image id (an integer), found {value!r}") from error


def _vqav2_official(source: Source) -> Iterator[BenchItem]:
    if source.annotations is None or source.image_root is None:
        raise BenchmarkFileError(f"{source.path}: vqav2_official needs annotations (the annotations JSON "
                                 "matching these questions) and image_root (the COCO image folder)")
    questions = read_json(source.path)
    answered = _annotations_by_question(source.annotations)
    # The official files are COCO_<subtype>_<id>.jpg; re-exported folders often keep only <id>.jpg.
    subtype = questions.get("data_subtype") if isinstance(questions, dict) else None
    prefix = f"COCO_{subtype or 'val2014'}_"
    for row in json_rows(questions, source.path, "questions"):
        check_row_keys(row, VQAV2_REQUIRED)
        annotation = answered.get(str(row.data["question_id"]))
        if annotation is None:
            raise row.error("question_id", f"no annotation with this question_id in {source.annotations}")
        image_id = _coco_id(row)
        plain = os.path.join(source.image_root, f"{image_id:012d}.jpg")
        image = plain if os.path.isfile(plain) else os.path.join(source.image_root, f"{prefix}{image_id:012d}.jpg")
        yield source.item(row, id=item_id(row, "question_id"), kind="vqa", question=text_field(row, "question", True),
                          answers=answer_texts(annotation, "answers"), image=image,
                          category=text_field(annotation, "answer_type"),
                          meta={"image_id": image_id, **extra_fields(annotation, {"question_id", "answers",
                                                                                  "answer_type", "image_id"})})


def _annotations_by_question(path: str) -> dict[str, Row]:
    rows = json_rows(read_json(path), path, "annotations")
    for row in rows:
        check_row_keys(row, VQAV2_ANNOTATION_REQUIRED)
    return {str(row.data["question_id"]): row for row in rows}


def _generic(format: str) -> Callable[[Source], Iterator[BenchItem]]:
    kind, coco = GENERIC_KIND[format], format.startswith("aokvqa")
    # A-OKVQA's test split has no answers; its rows name images by COCO id when not embedded.
    required = (("question", "options") if kind == "mc" else GENERIC_REQUIRED[kind]) + (("image", "image_id"),) \
        if coco else GENERIC_REQUIRED[kind]

    def read(source: Source) -> Iterator[BenchItem]:
        for raw in read_rows(source.path, source.file_keys(required)):
            check_row_keys(raw, source.file_keys(required))  # names the file's columns
            row = source.renamed(raw)
            fields = _generic_fields(row, kind, answer_required=not coco)
            image = _aokvqa_image(row, source) if coco else _generic_image(row, source)
            yield source.item(row, id=item_id(row), kind=kind, hint=text_field(row, "hint"),
                              category=text_field(row, "category"), image=image, meta=extra_fields(row, GENERIC_FIELDS),
                              **fields)

    return read


def _generic_fields(row: Row, kind: str, answer_required: bool = True) -> dict[str, Any]:
    """The fields that depend on the kind: question, options and answer(s)."""
    if kind == "mc":
        options = lettered_options(row, "options", row.data["options"])
        return {"question": text_field(row, "question", True), "options": options,
                "answer": answer_letter(row, options, required=answer_required)}
    if kind == "vqa":
        key = "answers" if row.data.get("answers") is not None else "answer"
        return {"question": text_field(row, "question", True), "answers": answer_texts(row, key)}
    key = "question" if row.data.get("question") is not None else "prompt"
    return {"question": text_field(row, key, True), "answer": text_field(row, "reference")}


def _generic_image(row: Row, source: Source) -> bytes | str | None:
    if row.data.get("image") is None and row.data.get("image_base64") is not None:
        encoded = row.data["image_base64"]
        if not isinstance(encoded, str):
            raise row.error("image_base64", f"expected base64 text, found a {type(encoded).__name__}")
        return decode_base64_image(encoded, f"{row.where}: field 'image_base64'")
    return image_value(row, "image", source.image_base)


_READERS: dict[str, Callable[[Source], Iterator[BenchItem]]] = {
    "mmbench_tsv": _mmbench_tsv,
    "mmstar_parquet": _mmstar_parquet,
    "vqav2_official": _vqav2_official,
    **{format: _generic(format) for format in GENERIC_KIND},
}
