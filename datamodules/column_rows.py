"""Flat rows out of the files published data sets come in: Parquet, Arrow (a ``datasets`` folder
or cache), JSONL, a JSON list, CSV.

Rows come back as plain dicts with a ``where`` (``file:rowN``) so every later reject names its
row. Only the columns a recipe needs are read from columnar files, and ``require_columns`` fails
before any row is read when a file lacks one, naming the file, the column and the setting that
maps it (PixMo's Basque translations have columns no one here could confirm).
"""

from __future__ import annotations

import csv
import glob
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from lightning_mllm.files import iter_jsonl

ROW_FILE_EXTENSIONS = (".parquet", ".arrow", ".jsonl", ".json", ".csv")
SNIFFED_LINES = 100  # JSONL/CSV rows whose keys make up the file's columns
CSV_FIELD_LIMIT = 2**31 - 1  # captions and base64 cells pass the csv module's 128 KiB default


class ColumnError(ValueError):
    """A file lacks a column that a setting maps."""


def row_files(path: str, split: str | None = None) -> list[str]:
    """The data files of ``path``: the file itself, or every row file under a folder (a Hugging
    Face cache snapshot, a ``save_to_disk`` folder, a plain folder), sorted; with ``split``, only
    files whose path names it (``train-00000-of-00004.parquet``, ``train/data-....arrow``)."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path} is neither a file nor a folder")
    files = sorted(f for f in glob.glob(os.path.join(path, "**", "*"), recursive=True)
                   if f.endswith(ROW_FILE_EXTENSIONS) and os.path.isfile(f)
                   and os.path.basename(f) not in ("dataset_info.json", "state.json", "dataset_dict.json"))
    if split:
        chosen = [f for f in files if any(part.startswith(split) for part in os.path.relpath(f, path).split(os.sep))]
        # A single-split ``Dataset.save_to_disk`` folder (state.json on top) names no split.
        files = chosen or (files if os.path.isfile(os.path.join(path, "state.json")) else [])
    if not files:
        raise FileNotFoundError(f"{path} holds no {'/'.join(ROW_FILE_EXTENSIONS)} files"
                                + (f" for split {split!r}" if split else ""))
    return files


def file_columns(path: str) -> list[str]:
    """The column names of a row file (for JSONL/JSON/CSV, the keys of its first rows)."""
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    if path.endswith(".arrow"):
        return list(_arrow_reader(path).schema.names)
    names: dict[str, None] = {}
    for _, row in _text_rows(path, limit=SNIFFED_LINES):
        names.update(dict.fromkeys(row))
    return list(names)


def require_columns(path: str, needed: Mapping[str, str | None]) -> None:
    """Raises ``ColumnError`` for the first setting whose column the file lacks.

    Args:
        path: The row file.
        needed: Setting name (as the user writes it) -> column it maps (None: not used).
    """
    present = file_columns(path)
    for setting, column in needed.items():
        if column is not None and column not in present:
            raise ColumnError(f"{path}: column {column!r} is missing (mapped by the setting {setting}); "
                              f"the file has {', '.join(present) or 'no columns'}; set {setting} to one of them")


def iter_rows(path: str, columns: Sequence[str] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, row)`` for every row of ``path``; columnar files read only ``columns``."""
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        batches = pq.ParquetFile(path).iter_batches(batch_size=256, columns=list(columns) if columns else None)
    elif path.endswith(".arrow"):
        reader = _arrow_reader(path)
        batches = (b.select(list(columns)) if columns else b for b in reader)
    else:
        yield from _text_rows(path)
        return
    number = 0
    for batch in batches:
        for row in batch.to_pylist():
            yield f"{path}:row{number}", row
            number += 1


def _arrow_reader(path: str):
    import pyarrow as pa

    # ``save_to_disk`` and the ``datasets`` cache write the IPC stream format; other tools the file format.
    source = pa.memory_map(path)
    try:
        return pa.ipc.open_stream(source)
    except pa.ArrowInvalid:
        return _FileBatches(pa.ipc.open_file(source))


class _FileBatches:
    """An IPC file reader with the stream reader's ``schema`` and iteration."""

    def __init__(self, reader):
        self.schema = reader.schema
        self._reader = reader

    def __iter__(self):
        return (self._reader.get_batch(i) for i in range(self._reader.num_record_batches))


def _text_rows(path: str, limit: int | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    if path.endswith(".csv"):
        csv.field_size_limit(CSV_FIELD_LIMIT)
        with open(path, encoding="utf-8", newline="") as file:
            for number, row in enumerate(csv.DictReader(file)):
                if limit is not None and number >= limit:
                    return
                yield f"{path}:row{number}", {k: (v if v != "" else None) for k, v in row.items()}
        return
    if path.endswith(".json"):
        with open(path, encoding="utf-8") as file:
            records = json.load(file)
        if not isinstance(records, list):
            raise ValueError(f"{path} holds a JSON {type(records).__name__}; expected a list of rows")
        for number, row in enumerate(records[:limit] if limit is not None else records):
            yield f"{path}:row{number}", _object(row, f"{path}:row{number}")
        return
    # A bad line raises JsonlError (a ValueError) naming file:line; lines past ``limit`` are not read.
    for count, (number, row) in enumerate(iter_jsonl(path)):
        if limit is not None and count >= limit:
            return
        yield f"{path}:{number}", row  # type: ignore[misc]


def _object(row: Any, where: str) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise ValueError(f"{where} is a {type(row).__name__}, not an object with columns")
    return row
