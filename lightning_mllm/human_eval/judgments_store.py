"""The append-only judgments file: one JSON object per line, safe under concurrent writers.

Each judgment is one full line written with a single ``os.write`` on a descriptor opened with
``O_APPEND``, under an exclusive ``fcntl.flock`` lock, then ``fsync``-ed before the request returns:
two servers (or threads) sharing one file cannot interleave partial lines, and a judgment the page
saw acknowledged survives a crash. If an earlier crash left a last line without its newline, the
next write starts with a newline so that partial line stays on its own (and is reported as
malformed) instead of corrupting the new one. Readers take a shared lock so they never see a
write half done.

A line is ``{"item_id", "rater", "choice", "comment", "time"}``; ``choice`` is one of ``CHOICES``.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lightning_mllm.files import JsonlError, iter_jsonl

CHOICES = ("A", "B", "tie", "both_bad")
MAX_RATER_CHARS = 80
MAX_COMMENT_CHARS = 4000


@dataclass(frozen=True)
class MalformedLine:
    """A judgments line that could not be used: its 1-based number, why, and its start."""

    number: int
    reason: str
    text: str


def make_judgment(item_id: str, rater: str, choice: str, comment: str = "") -> dict[str, Any]:
    """A judgment record stamped with the current UTC time; ``ValueError`` when a field is invalid."""
    judgment = {"item_id": item_id, "rater": rater.strip(), "choice": choice, "comment": comment.strip(),
                "time": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    reason = validate(judgment)
    if reason:
        raise ValueError(reason)
    return judgment


def validate(judgment: Any) -> str | None:
    """Why ``judgment`` is not a valid judgment record, or None when it is."""
    if not isinstance(judgment, dict):
        return "not a JSON object"
    for key in ("item_id", "rater", "choice", "comment"):
        if not isinstance(judgment.get(key), str):
            return f"{key} missing or not a string"
    if not judgment["item_id"] or not judgment["rater"].strip():
        return "empty item_id or rater"
    if len(judgment["rater"]) > MAX_RATER_CHARS or len(judgment["comment"]) > MAX_COMMENT_CHARS:
        return "rater or comment too long"
    if judgment["choice"] not in CHOICES:
        return f"choice {judgment['choice']!r} is not one of {', '.join(CHOICES)}"
    return None


def append_judgment(path: str | os.PathLike, judgment: dict[str, Any]) -> None:
    """Appends one judgment as one whole line (see the module docstring for the guarantees)."""
    data = (json.dumps(judgment, ensure_ascii=False) + "\n").encode("utf-8")
    # Read-write only to peek at the last byte; O_APPEND still sends every write to the end.
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        written = os.write(fd, data)
        if written != len(data):
            # Disk full or similar: take the partial line back rather than leave half a judgment.
            os.ftruncate(fd, size)
            raise OSError(f"{path}: wrote {written} of {len(data)} bytes; the judgment was not saved")
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the lock


def read_judgments(path: str | os.PathLike) -> tuple[list[tuple[int, dict[str, Any]]], list[MalformedLine]]:
    """Valid judgments with their line numbers, and the malformed lines (never silently skipped).

    Blank lines are ignored; any other line that is not a valid judgment is returned as malformed.
    The file is read under a shared lock, so a write half done is never seen.
    """
    if not os.path.exists(path):
        return [], []
    with open(path, "rb") as stream:
        # A shared lock on this descriptor holds off writers while the shared reader reads the file.
        fcntl.flock(stream.fileno(), fcntl.LOCK_SH)
        rows = [(number, record, record.reason if isinstance(record, JsonlError) else validate(record))
                for number, record in iter_jsonl(path, errors="yield")]
        # The start of each bad line goes into the report, so a person can find and mend it.
        raw_lines = stream.read().split(b"\n") if any(reason for _, _, reason in rows) else []
    judgments: list[tuple[int, dict[str, Any]]] = []
    malformed: list[MalformedLine] = []
    for number, record, reason in rows:
        if reason:
            malformed.append(MalformedLine(number, reason, raw_lines[number - 1][:80].decode("utf-8", "replace")))
        else:
            judgments.append((number, record))  # type: ignore[arg-type]
    return judgments, malformed


def rated_by(path: str | os.PathLike, rater: str) -> set[str]:
    """The item ids ``rater`` has judged, from the file (the source of truth for resuming)."""
    judgments, _ = read_judgments(path)
    return {j["item_id"] for _, j in judgments if j["rater"] == rater.strip()}


def ensure_writable(path: str | os.PathLike) -> Path:
    """Creates the judgments file (and folder) when missing; fails early when it cannot be written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
    return path
