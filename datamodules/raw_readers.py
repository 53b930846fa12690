"""Reading the records of one input file (JSON list, JSONL, Parquet) for the shard writer.

A fault in one record (a line that is not JSON, or not UTF-8) becomes a reject of that record; a
fault of the whole file (a JSON list that cannot be read, a Parquet file without the configured
columns) is an ``InputFileError`` naming the file and, where one decides it, the setting.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from datamodules.raw_records import ConvertOptions, RawRecord, Reject
from lightning_mllm.files import JsonlError, iter_jsonl


class InputFileError(ValueError):
    """An input file that cannot be read as a whole; the message names the file."""


def read_records(path: str, options: ConvertOptions) -> Iterator[RawRecord]:
    """The records of one input file, malformed lines included as rejects."""
    if options.format == "parquet":
        yield from _parquet_records(path, options)
    elif path.endswith(".json"):
        yield from _json_list_records(path)
    else:
        yield from _jsonl_records(path)


def _not_utf8(data: bytes, error: UnicodeDecodeError) -> str:
    return f"byte {error.start} ({data[error.start:error.start + 4]!r}...) is not UTF-8"


def _json_list_records(path: str) -> Iterator[RawRecord]:
    with open(path, "rb") as file:
        data = file.read()
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark is UTF-8 too
    except UnicodeDecodeError as error:
        raise InputFileError(f"{path}: {_not_utf8(data, error)}; convert the file to UTF-8 "
                             f"(e.g. iconv -f latin1 -t utf-8)") from error
    try:
        records = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputFileError(f"{path} is not valid JSON ({error}); use .jsonl for one record a line") from error
    if not isinstance(records, list):
        raise InputFileError(f"{path} holds a JSON {type(records).__name__}; expected a list of records")
    for i, data in enumerate(records):
        yield RawRecord(f"{path}:{i}", data)


def _jsonl_records(path: str) -> Iterator[RawRecord]:
    # A bad line is a counted reject of its own kind (not_utf8, bad_json), never the end of the file.
    for number, record in iter_jsonl(path, errors="yield"):
        where = f"{path}:{number}"
        if isinstance(record, JsonlError) and record.kind == "not_utf8":
            yield RawRecord(where, error=Reject("not_utf8", record.reason))
        elif isinstance(record, JsonlError):  # not JSON, or JSON that is not an object
            yield RawRecord(where, error=Reject("bad_json", record.reason))
        else:
            yield RawRecord(where, record)


def _check_columns(path: str, names: list[str], options: ConvertOptions) -> None:
    """Fails on a file whose columns do not match the settings: without this a renamed image
    column would turn every row text-only and a renamed conversation column reject every row."""
    have = f"its columns are {names}"
    if options.messages_column and options.messages_column not in names:
        raise InputFileError(f"{path} has no column {options.messages_column!r} (--messages-column); {have}")
    if not options.messages_column and not {"messages", "conversations"} & set(names):
        raise InputFileError(f"{path} has neither a 'messages' nor a 'conversations' column; name the "
                             f"conversation column with --messages-column; {have}")
    if options.image_column and options.image_column not in names:
        raise InputFileError(f"{path} has no image column {options.image_column!r} (--image-column); {have}; "
                             f"name the image column with --image-column, or pass --image-column '' "
                             f"for text-only rows")


def _parquet_records(path: str, options: ConvertOptions) -> Iterator[RawRecord]:
    import pyarrow  # only the Parquet format needs pyarrow
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pyarrow.ArrowException, OSError) as error:
        raise InputFileError(f"{path} is not a readable Parquet file ({error})") from error
    _check_columns(path, parquet.schema_arrow.names, options)
    row = 0
    try:
        for batch in parquet.iter_batches(batch_size=256):
            for data in batch.to_pylist():
                yield RawRecord(f"{path}:row{row}", data)
                row += 1
    except pyarrow.ArrowException as error:
        raise InputFileError(f"{path}: cannot read past row {row} ({error})") from error
