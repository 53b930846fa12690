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
    bad: tuple[int, int, int] | None = None  # (line number, byte offset, length) of an unreadable line
    offset = 0
    with open(path, "rb") as file:
        for number, line in enumerate(file, 1):
            if bad is not None and line.strip():
                raise JournalError(f"{path} line {bad[0]}: not a JSON record with an 'id'; only the last line may "
                                   "be cut short by a crash, so the file needs a look before resuming")
            if line.strip():
                key = _record_id(line)
                if key is None:
                    bad = (number, offset, len(line))
                else:
                    journal.ids.add(key)
            offset += len(line)
    if bad is not None:
        with open(path, "r+b") as file:
            file.truncate(bad[1])
        journal.notes.append(f"{path} line {bad[0]}: dropped a cut-short last line ({bad[2]} bytes, likely from "
                             "an interrupted run); its item is translated again")
    elif offset and not _ends_with_newline(path):
        with open(path, "ab") as file:  # a complete record whose newline was lost
            file.write(b"\n")
    return journal


def _record_id(line: bytes) -> str | None:
    try:
        record = json.loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError (a multi-byte character cut in half)
        return None
    if not isinstance(record, dict) or record.get("id") is None:
        return None
    return str(record["id"]).strip()


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
