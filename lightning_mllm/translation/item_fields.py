"""Which fields of each input format are translated, and how a translated record is finished.

A format turns a checked input row into segments (``segments.Segment``), each remembering the
path of its text in the record; translated texts are written back to those paths in a copy of
the record, so every other field (``id``, ``image``, ``source``, ``category``...) is carried over
unchanged. Texts without a letter (numbers, a bare ``<image>``) are copied, not translated.

Formats and what is translated:
    mc        ``question``, ``hint``, every option (list or letter -> text mapping); ``answer`` is
              written as the option letter, never translated.
    vqa       ``question``, ``hint``, ``answers`` (or ``answer``): each distinct answer once, the list
              keeps its length and order (VQAv2 ``{"answer": ...}`` entries keep their other keys).
    open      ``question`` or ``prompt``, ``hint``, ``reference``.
    caption   ``caption``, and/or a ``question`` with its ``answer``; a ``messages`` conversation is
              added for the shard writer: user question -> assistant answer, or for a caption of a
              record with an image, a user turn holding only ``<image>`` -> assistant caption.
    messages  every turn's ``content``, system turns included.
    llava     every turn's ``value``; written as ``messages`` (human -> user, gpt -> assistant).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from lightning_mllm.chat_format import IMAGE_PLACEHOLDER, LLAVA_ROLES, ROLES
from lightning_mllm.evaluation.format_rows import (
    Required,
    Row,
    answer_letter,
    answer_texts,
    lettered_options,
    text_field,
)
from lightning_mllm.evaluation.items import LETTERS
from lightning_mllm.translation.segments import FieldPath, Segment

FORMATS = ("mc", "vqa", "open", "caption", "messages", "llava")
# The prompt examples each format is shown (prompts.KINDS).
KIND = {"mc": "mc", "vqa": "vqa", "open": "open", "caption": "caption", "messages": "conversation",
        "llava": "conversation"}
# Keys every record must have (a tuple: any one of them); ``id`` keys the resumable output.
REQUIRED: dict[str, Required] = {
    "mc": ("id", "question", "options", "answer"),
    "vqa": ("id", "question", ("answers", "answer")),
    "open": ("id", ("question", "prompt")),
    "caption": ("id", ("caption", "question")),
    "messages": ("id", "messages"),
    "llava": ("id", "conversations"),
}
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


def _segment(tag: str, text: str, *paths: FieldPath) -> list[Segment]:
    """A one-element list with the segment, or nothing when the text has no letter to translate."""
    text = text.strip()
    return [Segment(tag, text, list(paths))] if _LETTER.search(text.replace(IMAGE_PLACEHOLDER, "")) else []


def _optional(row: Row, key: str, tag: str) -> list[Segment]:
    return _segment(tag, text_field(row, key), (key,)) if row.data.get(key) is not None else []


def _mc(row: Row) -> list[Segment]:
    options = lettered_options(row, "options", row.data["options"])
    answer_letter(row, options, required=True)  # checked now, so a bad answer stops the run before generation
    raw = row.data["options"]
    segments = _segment("QUESTION", text_field(row, "question", True), ("question",)) + _optional(row, "hint", "HINT")
    for letter, text in options.items():
        key = LETTERS.index(letter) if isinstance(raw, list) else \
            next(key for key in raw if str(key).strip().upper() == letter)
        segments += _segment(f"OPTION {letter}", text, ("options", key))
    return segments


def _vqa(row: Row) -> list[Segment]:
    key = "answers" if row.data.get("answers") is not None else "answer"
    texts = answer_texts(row, key)
    value = row.data[key]
    paths = [(key,)] if isinstance(value, str) else \
        [(key, i, "answer") if isinstance(entry, dict) else (key, i) for i, entry in enumerate(value)]
    grouped: dict[str, list[FieldPath]] = {}
    for text, path in zip(texts, paths):
        grouped.setdefault(text, []).append(path)
    answers: list[Segment] = []
    for text, same in grouped.items():
        answers += _segment(f"ANSWER {len(answers) + 1}", text, *same)
    return (_segment("QUESTION", text_field(row, "question", True), ("question",)) + _optional(row, "hint", "HINT")
            + answers)


def _open(row: Row) -> list[Segment]:
    key = "question" if row.data.get("question") is not None else "prompt"
    return (_segment("QUESTION", text_field(row, key, True), (key,)) + _optional(row, "hint", "HINT")
            + _optional(row, "reference", "REFERENCE"))


def _caption(row: Row) -> list[Segment]:
    segments = _optional(row, "caption", "CAPTION")
    if row.data.get("question") is not None:
        if row.data.get("answer") is None:
            raise row.error("answer", "a caption question needs its answer")
        segments += (_segment("QUESTION", text_field(row, "question", True), ("question",))
                     + _segment("ANSWER", text_field(row, "answer", True), ("answer",)))
    return segments


def _turns(row: Row, key: str, role_of: Callable[[dict[str, Any]], str | None], text_key: str) -> list[Segment]:
    turns = row.data[key]
    if not isinstance(turns, list) or not turns:
        raise row.error(key, "expected a non-empty list of turns")
    counts = {role: 0 for role in ROLES}
    segments = []
    for i, turn in enumerate(turns):
        role = role_of(turn) if isinstance(turn, dict) else None
        if role not in ROLES or not isinstance(turn.get(text_key), str):
            raise row.error(key, f"turn {i} needs a role in {ROLES} and a text {text_key!r}")
        counts[role] += 1
        segments += _segment(f"{role.upper()} {counts[role]}", turn[text_key], (key, i, text_key))
    return segments


def _messages(row: Row) -> list[Segment]:
    return _turns(row, "messages", lambda turn: turn.get("role"), "content")


def _llava(row: Row) -> list[Segment]:
    return _turns(row, "conversations", lambda turn: LLAVA_ROLES.get(str(turn.get("from")).lower()), "value")


SEGMENTERS: dict[str, Callable[[Row], list[Segment]]] = {
    "mc": _mc, "vqa": _vqa, "open": _open, "caption": _caption, "messages": _messages, "llava": _llava}


def translated_record(format: str, row: Row, segments: list[Segment], texts: list[str]) -> dict[str, Any]:
    """The output record: a copy of the input with the translations in place and ``lang`` ``eu``.

    Args:
        format: One of ``FORMATS``.
        row: The input row (left unchanged).
        segments: The row's segments.
        texts: One translated text per segment.
    """
    record = copy.deepcopy(row.data)
    for segment, text in zip(segments, texts):
        for path in segment.paths:
            _set(record, path, text)
    if format == "mc":
        record["answer"] = answer_letter(row, lettered_options(row, "options", row.data["options"]), required=True)
    elif format == "llava":
        record["messages"] = [{"role": LLAVA_ROLES[str(turn["from"]).lower()], "content": turn["value"]}
                              for turn in record.pop("conversations")]
    elif format == "caption" and "messages" not in record:
        _add_caption_messages(record)
    record["lang"] = "eu"
    return record


def _set(record: Any, path: FieldPath, value: str) -> None:
    for key in path[:-1]:
        record = record[key]
    record[path[-1]] = value


def _add_caption_messages(record: dict[str, Any]) -> None:
    """The shard writer's ``messages`` for a caption record (see the module docstring)."""
    if record.get("question") is not None:
        record["messages"] = [{"role": "user", "content": str(record["question"])},
                              {"role": "assistant", "content": str(record["answer"])}]
    elif record.get("image") or record.get("image_base64"):
        record["messages"] = [{"role": "user", "content": IMAGE_PLACEHOLDER},
                              {"role": "assistant", "content": str(record["caption"])}]
