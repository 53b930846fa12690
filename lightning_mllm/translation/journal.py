"""The append-only output and rejects files, and what a rerun learns from them.

Both files are JSONL keyed by ``id``. They are only ever appended to, and flushed (and synced to
disk) after every batch, so a run killed at any point loses at most the batch in flight. A rerun
reads the ids in both and translates only the other items; rejected items are not tried again
(delete the rejects file, or the lines of the items to retry, to try them again).

A crash can leave the last line cut short. Such a line is ignored, reported and removed from the
file (the file is truncated where it starts) so that the next record starts on a line of its own;
its item is translated again. A bad line anywhere else is not something a crash produces and stops
the run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from lightning_mllm.files import JsonlError, iter_jsonl


class JournalError(ValueError):
    """An output or rejects file that cannot be resumed from; the message names the file and line."""


@dataclass
class Journal:
    """The ids already done in one file, and what was repaired on the way.

    Attributes:
        ids: Ids of the records in the file.
        notes: Messages for the user (a cut-short last line that was dropped).
    """

    ids: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


def read_journal(path: str) -> Journal:
    """The ids recorded in ``path`` (none when it does not exist); drops a cut-short last line.

    Raises:
        JournalError: A line other than the last is not a JSON object with an ``id``.
    """
    journal = Journal()
    if not os.path.exists(path):
        return journal
    bad: tuple[int, str] | None = None  # (line number, why) of an unreadable line
    last = 0
    for number, record in iter_jsonl(path, errors="yield"):
        if bad is not None:
            raise JournalError(f"{path}:{bad[0]}: {bad[1]}; only the last line may be cut short by a crash, "
                               "so the file needs a look before resuming")
        key = None if isinstance(record, JsonlError) else _record_id(record)
        if key is None:
            bad = (number, record.reason if isinstance(record, JsonlError) else "a JSON record without an 'id'")
        else:
            journal.ids.add(key)
        last = number
    if bad is not None:
        offset, length = _line_span(path, bad[0])
        with open(path, "r+b") as file:
            file.truncate(offset)
        journal.notes.append(f"{path}:{bad[0]}: dropped a cut-short last line ({length} bytes, likely from "
                             "an interrupted run); its item is translated again")
    elif last and not _ends_with_newline(path):
        with open(path, "ab") as file:  # a complete record whose newline was lost
            file.write(b"\n")
    return journal


def _record_id(record: dict[str, Any]) -> str | None:
    return None if record.get("id") is None else str(record["id"]).strip()


def _line_span(path: str, number: int) -> tuple[int, int]:
    """The byte offset where line ``number`` (1-based) starts, and its length."""
    offset = 0
    with open(path, "rb") as file:
        for current, line in enumerate(file, 1):
            if current == number:
                return offset, len(line)
            offset += len(line)
    raise JournalError(f"{path}:{number}: the file changed while it was read")


def _ends_with_newline(path: str) -> bool:
    with open(path, "rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"


class JsonlAppender:
    """Appends records to a JSONL file, opened on the first write (no empty rejects files).

    Args:
        path: The file; its folder is created when needed.
    """

    def __init__(self, path: str):
        self.path = path
        self._file: IO[str] | None = None

    def write(self, record: dict[str, Any]) -> None:
        """Appends one record as one line (UTF-8, Basque letters kept readable)."""
        if self._file is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")

    def flush(self) -> None:
        """Pushes everything written so far to disk; called after every batch."""
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        """Flushes and closes the file."""
        if self._file is not None:
            self.flush()
            self._file.close()
            self._file = None
