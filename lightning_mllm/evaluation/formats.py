"""Benchmark files in their published formats, read into ``BenchItem`` objects.

``load_items`` is the one entry point: it picks the reader for ``format``, keeps the first ``limit``
items and checks that ids are unique. Images stay encoded (bytes or a path, never decoded here), so
an image that does not decode is counted when its batch is built instead of stopping the load.

Formats and the keys (columns) each row needs:
    mmbench_tsv     MMBench TSV: ``index, question, image, A, B, answer``; options are the non-empty
                    letter columns A-J; ``image`` is base64, or the index of the row holding it.
    mmstar_parquet  MMStar Parquet: ``index, question, image, answer``; the options are parsed out of
                    ``question`` (``...?\\nOptions: A: x, B: y``).
    aokvqa_json     A-OKVQA JSON list: ``question_id, question, choices``, and ``image`` or
                    ``image_id`` (``{image_root}/{image_id:012d}.jpg``, COCO 2017 naming).
    vqav2_official  VQAv2 questions JSON (``question_id, image_id, question``) joined to the
                    annotations JSON (``question_id, answers``); images under ``image_root``.
    mc, vqa, open   Generic ``.jsonl``, ``.json`` or ``.parquet``: ``question`` (``open`` also takes
                    ``prompt``); ``mc`` adds ``options`` and ``answer``, ``vqa`` adds ``answers`` (or
                    ``answer``); optional ``id``, ``image`` or ``image_base64``, ``hint``,
                    ``category`` and, for ``open``, ``reference``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
from lightning_mllm.evaluation.items import LETTERS, BenchItem, BenchmarkFileError, decode_base64_image

FORMATS = ("mmbench_tsv", "mmstar_parquet", "aokvqa_json", "vqav2_official", "mc", "vqa", "open")
MMBENCH_REQUIRED = ("index", "question", "image", "A", "B", "answer")
MMSTAR_REQUIRED = ("index", "question", "image", "answer")
AOKVQA_REQUIRED = ("question_id", "question", "choices", ("image", "image_id"))
VQAV2_REQUIRED = ("question_id", "image_id", "question")
VQAV2_ANNOTATION_REQUIRED = ("question_id", "answers")
GENERIC_REQUIRED = {
    "mc": ("question", "options", "answer"),
    "vqa": ("question", ("answers", "answer")),
    "open": (("question", "prompt"),),
}
GENERIC_FIELDS = {"id", "image", "image_base64", "question", "prompt", "hint", "category", "options", "answer",
                  "answers", "reference"}


@dataclass(frozen=True)
class Source:
    """One benchmark file and what every item read from it shares.

    Attributes:
        path: The benchmark file.
        benchmark: Benchmark name written into every item.
        lang: Language code written into every item.
        image_root: Folder that relative image paths start from (default: the file's folder).
        annotations: Second file of a two-file format (VQAv2's annotations JSON).
    """

    path: str
    benchmark: str
    lang: str
    image_root: str | None = None
    annotations: str | None = None

    @property
    def image_base(self) -> str:
        """Where relative image paths start: ``image_root``, else the benchmark file's folder."""
        return self.image_root or os.path.dirname(os.path.abspath(self.path))

    def item(self, row: Row, **fields: Any) -> BenchItem:
        """The item of ``row``; its own checks (kind, answer among options) name the row too."""
        try:
            return BenchItem(benchmark=self.benchmark, lang=self.lang, **fields)
        except ValueError as error:
            raise BenchmarkFileError(f"{row.where}: {error}") from error


def load_items(format: str, path: str, benchmark: str, lang: str, image_root: str | None = None,
               annotations: str | None = None, limit: int | None = None) -> list[BenchItem]:
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

    Returns:
        The items in file order.

    Raises:
        ValueError: Unknown ``format`` or a negative ``limit``.
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
    source = Source(path, benchmark, lang, image_root, annotations)
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


def _aokvqa_json(source: Source) -> Iterator[BenchItem]:
    for row in json_rows(read_json(source.path), source.path):
        check_row_keys(row, AOKVQA_REQUIRED)
        options = lettered_options(row, "choices", row.data["choices"])
        yield source.item(row, id=item_id(row, "question_id"), kind="mc",
                          question=text_field(row, "question", True), options=options,
                          answer=answer_letter(row, options, "correct_choice_idx"), image=_aokvqa_image(row, source),
                          meta=extra_fields(row, {"question_id", "question", "choices", "correct_choice_idx",
                                                  "image"}))


def _aokvqa_image(row: Row, source: Source) -> bytes | str | None:
    if row.data.get("image"):
        return image_value(row, "image", source.image_base)
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


def _generic(kind: str) -> Callable[[Source], Iterator[BenchItem]]:
    def read(source: Source) -> Iterator[BenchItem]:
        for row in read_rows(source.path, GENERIC_REQUIRED[kind]):
            check_row_keys(row, GENERIC_REQUIRED[kind])
            yield source.item(row, id=item_id(row), kind=kind, hint=text_field(row, "hint"),
                              category=text_field(row, "category"), image=_generic_image(row, source),
                              meta=extra_fields(row, GENERIC_FIELDS), **_generic_fields(row, kind))

    return read


def _generic_fields(row: Row, kind: str) -> dict[str, Any]:
    """The fields that depend on the kind: question, options and answer(s)."""
    if kind == "mc":
        options = lettered_options(row, "options", row.data["options"])
        return {"question": text_field(row, "question", True), "options": options,
                "answer": answer_letter(row, options, required=True)}
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
    "aokvqa_json": _aokvqa_json,
    "vqav2_official": _vqav2_official,
    **{kind: _generic(kind) for kind in ("mc", "vqa", "open")},
}
