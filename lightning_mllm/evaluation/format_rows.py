"""Reading benchmark files row by row, and the field checks that every format in ``formats.py`` shares.

Each record comes back as a ``Row`` that knows where it is (``file:N`` for JSONL, ``file row N``
otherwise), so every error names the file, the row and the field. Images are never decoded here.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning_mllm.evaluation.items import LETTERS, BenchmarkFileError
from lightning_mllm.files import JsonlError, iter_jsonl

# A key, or a tuple of keys of which any one will do (named "'a' or 'b'" when all are missing).
Required = Sequence[str | tuple[str, ...]]
# Cells that pandas writes for a missing value in MMBench's TSV; they read as absent.
TSV_EMPTY = ("", "nan")
# Base64 images make TSV cells far longer than the csv module's default limit (128 KiB).
TSV_FIELD_LIMIT = 2**31 - 1
# Inline options as MMStar writes them: "...?\nOptions: A: x, B: y".
OPTIONS_HEADER = re.compile(r"(?:Options|Choices)\s*:\s*", re.IGNORECASE)


@dataclass
class Row:
    """One record of a benchmark file.

    Attributes:
        where: ``file:N`` (JSONL, 1-based line) or ``file row N`` (0-based position).
        number: 0-based position among the file's records; the default id.
        data: The record's fields; a missing value is None.
    """

    where: str
    number: int
    data: dict[str, Any]

    def error(self, key: str, problem: str) -> BenchmarkFileError:
        """An error that names the file, this row and the field ``key``."""
        return BenchmarkFileError(f"{self.where}: field {key!r}: {problem}")


def missing_keys(present: Collection[str], required: Required) -> list[str]:
    """The names of the required keys that ``present`` lacks, all of them."""
    missing = []
    for key in required:
        choices = key if isinstance(key, tuple) else (key,)
        if not any(choice in present for choice in choices):
            missing.append(" or ".join(repr(choice) for choice in choices))
    return missing


def check_columns(path: str, columns: Collection[str], required: Required) -> None:
    """Raises ``BenchmarkFileError`` naming the file and every required column it lacks."""
    missing = missing_keys(columns, required)
    if missing:
        raise BenchmarkFileError(f"{path}: missing required column(s) {', '.join(missing)} "
                                 f"(found {', '.join(columns)})")


def check_row_keys(row: Row, required: Required) -> None:
    """Raises ``BenchmarkFileError`` naming the row and every required key that is absent or null."""
    missing = missing_keys([key for key, value in row.data.items() if _present(value)], required)
    if missing:
        raise BenchmarkFileError(f"{row.where}: missing required key(s) {', '.join(missing)}")


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def read_rows(path: str, required: Required = ()) -> Iterator[Row]:
    """The rows of a ``.jsonl``, ``.json`` (a list of objects) or ``.parquet`` file, by extension."""
    suffix = Path(path).suffix.lower()
    if suffix == ".jsonl":
        return read_jsonl(path)
    if suffix == ".json":
        return iter(json_rows(read_json(path), path))
    if suffix == ".parquet":
        return read_parquet(path, required)
    raise BenchmarkFileError(f"{path}: unknown extension {suffix!r}; expected .jsonl, .json (a list) or .parquet")


def read_jsonl(path: str) -> Iterator[Row]:
    """One row per non-blank line, named ``file:line``; a line that is not a JSON object raises."""
    try:
        for number, (line_number, data) in enumerate(iter_jsonl(path)):
            yield Row(f"{path}:{line_number}", number, data)  # type: ignore[arg-type]
    except JsonlError as error:
        raise BenchmarkFileError(str(error)) from error


def read_json(path: str) -> Any:
    """The parsed JSON document; ``BenchmarkFileError`` naming the file when it does not parse."""
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BenchmarkFileError(f"{path}: not valid JSON ({error})") from error


def json_rows(document: Any, path: str, key: str | None = None) -> list[Row]:
    """The rows of a JSON list, or of the list under ``key`` when the document is an object."""
    records = document.get(key) if key is not None and isinstance(document, dict) else document
    if not isinstance(records, list):
        expected = "a list of objects" if key is None else f"an object with a {key!r} list"
        raise BenchmarkFileError(f"{path}: expected {expected}, found a {type(document).__name__}")
    return [Row(f"{path} row {i}", i, _object(data, f"{path} row {i}")) for i, data in enumerate(records)]


def _object(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BenchmarkFileError(f"{where}: the record is a {type(data).__name__}, not an object")
    return data


def read_parquet(path: str, required: Required = ()) -> Iterator[Row]:
    """The rows of a Parquet file, read a batch at a time; checks the required columns first."""
    import pyarrow.parquet as pq  # only the Parquet formats need pyarrow

    try:
        parquet = pq.ParquetFile(path)
    except (ValueError, OSError) as error:
        raise BenchmarkFileError(f"{path}: not a readable Parquet file ({error})") from error
    check_columns(path, parquet.schema_arrow.names, required)
    number = 0
    for batch in parquet.iter_batches(batch_size=64):  # small batches: rows hold whole images
        for data in batch.to_pylist():
            yield Row(f"{path} row {number}", number, data)
            number += 1


def read_tsv(path: str, required: Required) -> list[Row]:
    """The rows of a tab-separated file with a header (quoting allowed); empty or ``nan`` cells
    read as None. Restores the csv module's field size limit afterwards."""
    previous = csv.field_size_limit(TSV_FIELD_LIMIT)
    try:
        with open(path, encoding="utf-8-sig", newline="") as file:
            reader = csv.DictReader(file, delimiter="\t")
            check_columns(path, reader.fieldnames or [], required)
            return [Row(f"{path} row {i}", i, {key: _tsv_cell(value) for key, value in record.items()
                                                if key is not None})
                    for i, record in enumerate(reader)]
    except csv.Error as error:
        raise BenchmarkFileError(f"{path}: not a readable TSV file ({error})") from error
    finally:
        csv.field_size_limit(previous)


def _tsv_cell(value: str | None) -> str | None:
    return None if value is None or value.strip().lower() in TSV_EMPTY else value


def text_field(row: Row, key: str, required: bool = False) -> str:
    """The field as stripped text (numbers are turned into text); "" when absent, unless required."""
    value = row.data.get(key)
    if not _present(value):
        value = ""
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise row.error(key, f"expected text, found a {type(value).__name__}")
    if required and not value.strip():
        raise row.error(key, "is empty")
    return value.strip()


def item_id(row: Row, key: str = "id") -> str:
    """The row's id as a string; the row's position when the row has none."""
    value = row.data.get(key)
    if value is None:
        return str(row.number)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise row.error(key, f"expected a non-empty string or an integer, found {value!r}")
    return str(value).strip()


def lettered_options(row: Row, key: str, value: Any) -> dict[str, str]:
    """Options lettered A, B, ... from a list, or taken from a letter -> text mapping in letter order."""
    if isinstance(value, list):
        if len(value) > len(LETTERS):
            raise row.error(key, f"{len(value)} options; at most {len(LETTERS)} are supported")
        pairs = list(zip(LETTERS, value))
    elif isinstance(value, dict):
        pairs = sorted((str(letter).strip().upper(), text) for letter, text in value.items() if text is not None)
        if any(len(letter) != 1 or letter not in LETTERS for letter, _ in pairs):
            raise row.error(key, f"option keys must be letters {LETTERS[0]}-{LETTERS[-1]}, found {list(value)}")
    else:
        raise row.error(key, f"expected a list or a letter -> text mapping, found a {type(value).__name__}")
    options = {}
    for letter, text in pairs:
        if isinstance(text, bool) or not isinstance(text, (str, int, float)) or not str(text).strip():
            raise row.error(key, f"option {letter} is {text!r}, not a non-empty text")
        options[letter] = str(text).strip()
    if len(options) < 2:
        raise row.error(key, f"needs at least two options, found {len(options)}")
    return options


def answer_letter(row: Row, options: dict[str, str], key: str = "answer", required: bool = False) -> str:
    """The letter of the correct option from a letter, an option text or a 0-based index; "" when
    absent and not required."""
    value = row.data.get(key)
    if not _present(value) or (isinstance(value, str) and not value.strip()):
        if required:
            raise row.error(key, "is empty")
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < len(options):
            return list(options)[value]
    elif isinstance(value, str):
        text = value.strip()
        if text in options:
            return text
        letter = next((letter for letter, option in options.items() if option == text), None)
        if letter is None and text.upper() in options:
            letter = text.upper()
        if letter is not None:
            return letter
    raise row.error(key, f"{value!r} is not one of the options {options} (give a letter, an option text "
                         "or a 0-based index)")


def answer_texts(row: Row, key: str) -> list[str]:
    """Human answers from a list of strings or of ``{"answer": ...}`` objects (VQAv2); a single
    string is a one-element list and numbers become text."""
    value = row.data.get(key)
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        raise row.error(key, f"expected a non-empty list of answers, found {value!r}")
    answers = [entry.get("answer") if isinstance(entry, dict) else entry for entry in values]
    if any(isinstance(answer, bool) or not isinstance(answer, (str, int, float)) for answer in answers):
        raise row.error(key, f"every answer must be a string or a number, found {values!r}")
    return [str(answer).strip() for answer in answers]


def image_value(row: Row, key: str, base: str) -> bytes | str | None:
    """Image bytes or a path (relative paths start at ``base``) from bytes, a path or Hugging
    Face's ``{"bytes", "path"}`` struct; None when absent. A path is kept even if it does not
    exist: the item then fails when its image is decoded, and is counted."""
    value = row.data.get(key)
    if isinstance(value, dict):
        value = value.get("bytes") or value.get("path")
    if value is None or value == "" or value == b"":
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value if os.path.isabs(value) else os.path.join(base, value)
    raise row.error(key, f"expected image bytes, a path or a {{'bytes', 'path'}} struct, found a "
                         f"{type(value).__name__}")


def split_options(question: str) -> tuple[str, dict[str, str]]:
    """Stem and options of a question that lists its options inline, as MMStar does
    (``"...?\\nOptions: A: x, B: y, C: z"``). Options are split at the ``, B:``, ``, C:`` ... markers
    in letter order, so commas inside an option's text survive. No options: ``(question, {})``."""
    headers = list(OPTIONS_HEADER.finditer(question))
    if not headers:
        return question.strip(), {}
    stem, listed = question[:headers[-1].start()], question[headers[-1].end():]
    starts = []  # (letter, start of its marker, start of its text)
    position = 0
    for letter in LETTERS:
        if letter == "A":
            match = re.match(r"\s*A\s*:\s*", listed)
        else:
            match = re.compile(rf"\s*[,\n]\s*{letter}\s*:\s*").search(listed, position)
        if match is None:
            break
        starts.append((letter, match.start(), match.end()))
        position = match.end()
    ends = [marker_start for _, marker_start, _ in starts[1:]] + [len(listed)]
    options = {letter: listed[text_start:end].strip() for (letter, _, text_start), end in zip(starts, ends)}
    if len(options) < 2 or not all(options.values()):
        return question.strip(), {}
    return stem.strip(), options


def extra_fields(row: Row, used: Collection[str]) -> dict[str, Any]:
    """The row's other non-null fields, for ``BenchItem.meta`` (raw bytes left out)."""
    return {key: value for key, value in row.data.items()
            if key not in used and _present(value) and not isinstance(value, (bytes, bytearray))}
