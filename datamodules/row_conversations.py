"""Flat question/answer (or caption) rows into shard conversations, rows of one image grouped.

PixMo-AMA, PixMo-CapQA, VQAv2 and A-OKVQA publish one row per question, and an image's rows
repeat its URL or bytes. With ``group_by_image`` the rows of one image become one multi-turn
conversation (one image encoding for several labelled answers), at most ``max_turns`` question
and answer pairs each; groups keep the order of their first row and turns the order of their rows,
so the same file always gives the same samples. Groups are formed within one input file.

The reader runs in the shard writer's main process (``read_row_records``) and hands each
conversation, with its image bytes or path, to the worker processes (``convert_row``), which run
the shard writer's own conversation and image checks.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from datamodules.caption_prompts import LETTER_ANSWER, SHORT_ANSWER, caption_prompt
from datamodules.column_rows import file_columns, iter_rows, require_columns
from datamodules.raw_formats import (
    ConvertOptions,
    RawRecord,
    Reject,
    ShardSample,
    check_image,
    normalize_conversation,
    place_image,
    read_image_file,
)
from datamodules.row_images import ImageLookup
from lightning_mllm.evaluation.items import LETTERS

KINDS = ("qa", "vqa", "mc", "caption", "messages")


@dataclass
class RowOptions(ConvertOptions):
    """How flat rows become conversations (on top of the shard writer's ``ConvertOptions``;
    ``image_column`` holds bytes, a ``{"bytes", "path"}`` struct or a path; empty: no image).

    Args:
        kind: ``qa`` (question, answer), ``vqa`` (short answer; a list of answers gives the most
            frequent), ``mc`` (question, choices, answer index -> letter), ``caption`` (a fixed
            prompt, the caption as the answer) or ``messages`` (a ready conversation column).
        question_column: Column with the question.
        answer_column: Column with the answer.
        caption_column: Column with the caption (``caption``).
        choices_column: Column with the options (``mc``).
        answer_index_column: Column with the correct option's 0-based index (``mc``).
        system_column: Column with a system prompt (None: none).
        url_column: Column with the image URL (images then come from ``image_folder`` or ``image_tars``).
        sha256_column: Column with the image's sha256 (checked at download).
        image_path_pattern: Image path built from the row, e.g. ``COCO_train2014_{image_id:012d}.jpg``
            (relative to ``image_root``).
        image_folder: Download folder of ``datamodules.url_images`` holding the URLs' images.
        image_tars: Folder of img2dataset tars holding the URLs' images (joined by URL).
        instruction: Text added after ``vqa``/``mc`` questions (None: the language's default).
        group_by_image: Rows of one image become one conversation.
        max_turns: Question/answer pairs per conversation at most; a larger group is split.
        setting_format: How errors name a column setting: ``{name}_column`` (this class's field) or
            a command line's spelling, e.g. ``--column {name}=...``.
    """

    kind: str = "qa"
    question_column: str | None = "question"
    answer_column: str | None = "answer"
    caption_column: str | None = "caption"
    choices_column: str | None = "choices"
    answer_index_column: str | None = "correct_choice_idx"
    system_column: str | None = None
    url_column: str | None = None
    sha256_column: str | None = None
    image_path_pattern: str | None = None
    image_folder: str | None = None
    image_tars: str | None = None
    instruction: str | None = None
    group_by_image: bool = True
    max_turns: int = 8
    setting_format: str = "{name}_column"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind={self.kind!r} is not one of {KINDS}")
        if self.max_turns < 1:
            raise ValueError(f"max_turns={self.max_turns} must be at least 1")

    def needed_columns(self) -> dict[str, str | None]:
        """Setting name -> column, for the columns this kind reads."""
        by_kind = {"qa": ("question", "answer"), "vqa": ("question", "answer"), "caption": ("caption",),
                   "mc": ("question", "choices", "answer_index"), "messages": ("messages",)}
        names = [*by_kind[self.kind], "system", "url", "sha256"]
        columns = {name: getattr(self, f"{name}_column") for name in names}
        if not self.url_column and not self.image_path_pattern:
            columns["image"] = self.image_column or None
        return {self.setting_format.format(name=n): c for n, c in columns.items()}


@dataclass
class _Group:
    first: int
    where: str
    ident: str
    image: tuple[str, Any] | None
    turns: list[list[dict[str, str]]]


def read_row_records(path: str, options: RowOptions) -> Iterator[RawRecord]:
    """The conversations of one row file (rejected rows included, as records with an error)."""
    require_columns(path, options.needed_columns())
    lookup = ImageLookup(options.image_folder, options.image_tars)
    groups: dict[Any, _Group] = {}
    present = set(file_columns(path))
    columns = _read_columns(options)
    for index, (where, row) in enumerate(iter_rows(path, columns and [c for c in columns if c in present])):
        try:
            turns = _turns(row, options, where)
        except Reject as reject:
            yield RawRecord(where, error=reject)
            continue
        image, key = _image_ref(row, options, index)
        key = key if options.group_by_image and key is not None else ("row", index)
        if key not in groups:
            ident = str(row[options.id_column]) if row.get(options.id_column) is not None else \
                f"{options.source}-{os.path.basename(path).split('.')[0]}-{index}"
            groups[key] = _Group(index, where, ident, image, [])
        groups[key].turns.append(turns)
    yield from _emit(path, options, sorted(groups.values(), key=lambda g: g.first), lookup)


def _read_columns(options: RowOptions) -> list[str] | None:
    if options.kind == "messages" or options.image_path_pattern:
        return None  # the pattern may name any column
    return list(dict.fromkeys([c for c in options.needed_columns().values() if c] + [options.id_column]))


def _text(row: dict[str, Any], column: str | None, where: str, reason: str = "empty_conversation") -> str:
    value = row.get(column) if column else None
    if isinstance(value, list):
        value = _most_frequent(value)
    if not isinstance(value, str) or not value.strip():
        raise Reject(reason, f"{where}: column {column!r} holds no text")
    return value.strip()


def _most_frequent(values: list[Any]) -> str | None:
    """VQAv2-style answer lists (strings or ``{"answer": ...}``): the most frequent, first on ties."""
    texts = [v.get("answer") if isinstance(v, dict) else v for v in values]
    texts = [t.strip() for t in texts if isinstance(t, str) and t.strip()]
    return Counter(texts).most_common(1)[0][0] if texts else None


def _turns(row: dict[str, Any], options: RowOptions, where: str) -> list[dict[str, str]]:
    """The messages one row contributes (a system prompt only from the group's first row)."""
    if options.kind == "messages":
        return normalize_conversation(row.get(options.messages_column or "messages"))
    system = [{"role": "system", "content": _text(row, options.system_column, where)}] \
        if options.system_column and row.get(options.system_column) else []
    lang = options.lang if options.lang in SHORT_ANSWER else "en"
    if options.kind == "caption":
        question = caption_prompt(options.lang, os.path.basename(where))
        answer = _text(row, options.caption_column, where, "no_assistant_turn")
    elif options.kind == "mc":
        question, answer = _multiple_choice(row, options, where, options.instruction or LETTER_ANSWER[lang])
    else:
        question = _text(row, options.question_column, where)
        answer = _text(row, options.answer_column, where, "no_assistant_turn")
        if options.kind == "vqa":
            question = f"{question}\n{options.instruction or SHORT_ANSWER[lang]}"
    return [*system, {"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def _multiple_choice(row: dict[str, Any], options: RowOptions, where: str, instruction: str) -> tuple[str, str]:
    choices, index = row.get(options.choices_column), row.get(options.answer_index_column)
    if not isinstance(choices, list) or not 2 <= len(choices) <= len(LETTERS):
        raise Reject("bad_choices", f"{where}: column {options.choices_column!r} needs 2 to {len(LETTERS)} options")
    if not isinstance(index, int) or not 0 <= index < len(choices):
        raise Reject("bad_choices", f"{where}: column {options.answer_index_column!r} = {index!r} is not an "
                                    f"option index below {len(choices)}")
    lines = [f"{LETTERS[i]}. {str(choice).strip()}" for i, choice in enumerate(choices)]
    question = _text(row, options.question_column, where)
    return "\n".join([question, *lines, instruction]), LETTERS[index]


def _image_ref(row: dict[str, Any], options: RowOptions, index: int) -> tuple[tuple[str, Any] | None, Any]:
    """Where the row's image comes from, and the key that groups rows of one image."""
    if options.url_column:
        url = row.get(options.url_column)
        return (("url", url), ("url", url)) if url else (None, None)
    if options.image_path_pattern:
        try:
            path = options.image_path_pattern.format(**row)
        except (KeyError, ValueError, TypeError) as error:
            raise ValueError(f"image_path_pattern {options.image_path_pattern!r} does not fit the row: "
                             f"{error!r}") from error
        return ("path", path), ("path", path)
    value = row.get(options.image_column) if options.image_column else None
    if isinstance(value, dict):
        value = value.get("bytes") or value.get("path")
    if isinstance(value, str) and value:
        return ("path", value), ("path", value)
    if isinstance(value, (bytes, bytearray)) and value:
        # The bytes are read again when the group is written, so memory holds only text.
        return ("row", index), ("sha256", hashlib.sha256(value).hexdigest())
    return None, None


def _emit(path: str, options: RowOptions, groups: list[_Group], lookup: ImageLookup) -> Iterator[RawRecord]:
    images = _row_images(path, options, {g.first for g in groups if g.image and g.image[0] == "row"})
    for group in groups:
        try:
            image = _resolve(group.image, options, lookup, images)
        except Reject as reject:
            yield RawRecord(group.where, error=reject)
            continue
        chunks = [group.turns[i:i + options.max_turns] for i in range(0, len(group.turns), options.max_turns)]
        for number, chunk in enumerate(chunks):
            messages = [m for i, turns in enumerate(chunk) for m in turns if i == 0 or m["role"] != "system"]
            ident = group.ident if len(chunks) == 1 else f"{group.ident}-{number}"
            where = group.where if len(group.turns) == 1 else f"{group.where} (+{len(group.turns) - 1} rows)"
            yield RawRecord(where, {"messages": messages, "image": image, "id": ident, "lang": options.lang})


def _row_images(path: str, options: RowOptions, wanted: set[int]) -> Iterator[tuple[int, bytes]]:
    """Second pass over the file for the image bytes of each group's first row, in row order."""
    if not wanted:
        return
    for index, (_, row) in enumerate(iter_rows(path, [options.image_column])):
        if index in wanted:
            value = row[options.image_column]
            yield index, value.get("bytes") if isinstance(value, dict) else value


def _resolve(ref: tuple[str, Any] | None, options: RowOptions, lookup: ImageLookup,
             images: Iterator[tuple[int, bytes]]) -> Any:
    if ref is None:
        return None
    kind, value = ref
    if kind == "url":
        return lookup.get(value)
    if kind == "path":
        # Read by the worker (convert_row) through read_image_file, which keeps it inside image_root.
        return {"path": value}
    for index, data in images:  # groups come in first-row order, so this walks the file once
        if index == value:
            return bytes(data)
    raise AssertionError(f"row {value} was not found on the second pass")


def convert_row(raw: RawRecord, options: ConvertOptions, index: int) -> ShardSample:
    """Worker side: the shard writer's conversation and image checks on one conversation."""
    if raw.error is not None:
        raise raw.error
    data = raw.data
    messages = normalize_conversation(data["messages"])
    image = data.get("image")
    if isinstance(image, dict):
        # A path from a row is relative to image_root and must stay inside it (as every reader's);
        # a downloaded image's path is relative to the download folder it names as its root.
        image = read_image_file(image["path"], image.get("root") or options.image_root)
    checked = check_image(image, options.max_aspect_ratio) if image is not None else None
    record = {"messages": place_image(messages, checked is not None), "lang": data["lang"],
              "source": options.source, "id": data["id"]}
    return ShardSample(record, *checked) if checked else ShardSample(record)
