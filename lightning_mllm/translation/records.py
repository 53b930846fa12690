"""Reading and checking the input file, before any model is loaded.

Every record of the file is checked first (required keys, field types, unique ids), so a bad
record stops the run with an error naming the file, the line (or row) and the fields, instead of
after hours of generation. The input is ``.jsonl`` (one object a line) or ``.json`` (a list of
objects, as LLaVA's instruction files are); images are never opened here.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning_mllm.evaluation.format_rows import (
    Row,
    check_row_keys,
    item_id,
    json_rows,
    read_json,
    read_jsonl,
)
from lightning_mllm.evaluation.items import BenchmarkFileError
from lightning_mllm.translation.item_fields import (
    FORMATS,
    KIND,
    REQUIRED,
    SEGMENTERS,
    translated_record,
)
from lightning_mllm.translation.segments import (
    Segment,
    TranslationRejected,
    has_tag_line,
)


class InputError(ValueError):
    """An input file or record that cannot be translated; the message names the file and line."""


@dataclass
class Item:
    """One input record, ready to translate.

    Attributes:
        id: The record's id as text (the key of the resumable output).
        format: The input format (``item_fields.FORMATS``).
        row: The record and where it is in the file.
        segments: Its translatable texts; empty when there is nothing to translate.
        problem: Set when the source itself cannot be rendered (it already holds a tag line); the
            item is rejected without generation.
    """

    id: str
    format: str
    row: Row
    segments: list[Segment]
    problem: TranslationRejected | None = None

    @property
    def kind(self) -> str:
        """Which worked examples the prompt shows (``prompts.KINDS``)."""
        return KIND[self.format]

    def output(self, texts: list[str]) -> dict[str, Any]:
        """The translated record, given one translated text per segment."""
        return translated_record(self.format, self.row, self.segments, texts)


def read_items(path: str, format: str, limit: int | None = None) -> list[Item]:
    """Reads and checks every record of ``path``; returns the first ``limit`` as items.

    Args:
        path: The input file (``.jsonl`` or ``.json``).
        format: One of ``item_fields.FORMATS``.
        limit: Keep only the first ``limit`` records (all when None); the whole file is checked.

    Raises:
        InputError: A missing or unreadable file, a record with missing or bad fields, a repeated
            id or no records at all; the message names the file, the line or row and the fields.
    """
    if format not in FORMATS:
        raise InputError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    if limit is not None and limit < 0:
        raise InputError(f"limit must be >= 0, got {limit}")
    if not Path(path).is_file():
        raise InputError(f"{path}: no such file")
    try:
        items = _checked_items(path, format)
    except BenchmarkFileError as error:  # the shared row checks name the file, line and field
        raise InputError(str(error)) from error
    if not items:
        raise InputError(f"{path}: no records in the file")
    return list(itertools.islice(items, limit))


def _rows(path: str) -> list[Row]:
    suffix = Path(path).suffix.lower()
    if suffix == ".jsonl":
        return list(read_jsonl(path))
    if suffix == ".json":
        return json_rows(read_json(path), path)
    raise InputError(f"{path}: unknown extension {suffix!r}; expected .jsonl or .json (a list of records)")


def _checked_items(path: str, format: str) -> list[Item]:
    items: list[Item] = []
    first_seen: dict[str, str] = {}
    for row in _rows(path):
        check_row_keys(row, REQUIRED[format])
        key = item_id(row)
        if key in first_seen:
            raise InputError(f"{row.where}: id {key!r} was already used at {first_seen[key]}")
        first_seen[key] = row.where
        segments = SEGMENTERS[format](row)
        tagged = next((s for s in segments if has_tag_line(s.text)), None)
        problem = None if tagged is None else TranslationRejected(
            "source_has_tag", f"the source text of [{tagged.tag}] holds a line that reads as a tag")
        items.append(Item(key, format, row, segments, problem))
    return items
