"""Reading JSONL and writing files atomically: one definition each, used everywhere.

``iter_jsonl`` names ``file:line`` in every error (bad JSON, a value that is not an object, bytes
that are not UTF-8), so a user can open the file at the right place. ``atomic_write`` and
``atomic_folder`` write under a temporary name in the target's folder and rename it into place
after an fsync: a run killed halfway leaves the old file (or none), never a torn one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO


class JsonlError(ValueError):
    """A line of a JSONL file that is not a JSON object; the message starts with ``file:line``."""

    def __init__(self, path: str | os.PathLike, line: int, reason: str, kind: str = "bad_json"):
        super().__init__(f"{path}:{line}: {reason}")
        # kind: "not_utf8", "bad_json" or "not_object", for callers that count rejects by kind.
        self.path, self.line, self.reason, self.kind = str(path), line, reason, kind


def _parse(raw: bytes, path: str | os.PathLike, number: int) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        # Never read with replacement characters: "Iruñea" must not become "Iru\ufffdea" silently.
        raise JsonlError(path, number, f"not UTF-8 (byte {error.start}: {raw[error.start:error.start + 1]!r})",
                         "not_utf8")
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise JsonlError(path, number, f"not valid JSON ({error.msg}, column {error.colno})")
    if not isinstance(record, dict):
        raise JsonlError(path, number, f"expected a JSON object, got {type(record).__name__}", "not_object")
    return record


def iter_jsonl(path: str | os.PathLike, *, errors: str = "raise") -> Iterator[tuple[int, dict[str, Any] | JsonlError]]:
    """Yields ``(line number, record)`` for each non-blank line of a JSONL file.

    Args:
        path: The file.
        errors: ``raise`` (the first bad line raises ``JsonlError``) or ``yield`` (a bad line is
            yielded as ``(number, JsonlError)`` so the caller can count or list it and go on).
    """
    if errors not in ("raise", "yield"):
        raise ValueError(f"errors={errors!r}; expected 'raise' or 'yield'")
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a byte-order mark some Windows editors write before the first line
            if not raw.strip():
                continue
            try:
                yield number, _parse(raw, path, number)
            except JsonlError as error:
                if errors == "raise":
                    raise
                yield number, error


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every record of a JSONL file; the first bad line raises ``JsonlError`` naming ``file:line``."""
    return [record for _, record in iter_jsonl(path)]  # type: ignore[misc]


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be opened
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, *, mode: int | None = None) -> Iterator[BinaryIO]:
    """Yields a binary file that replaces ``path`` when the block ends (fsync, then a rename), so a
    writer that streams (``torch.save``, a tar) never leaves a torn file and never holds the whole
    content in memory. An exception removes the temporary file and leaves ``path`` as it was.

    Args:
        path: The target; its folder is created when needed.
        mode: Permission bits (e.g. ``0o600`` for secrets); default: the old file's, else ``0o644``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp makes the file owner-only; keep the target's mode, or the usual 0o644 for a new one.
        if mode is None:
            mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_dir(path.parent)


def atomic_write(path: str | os.PathLike, data: str | bytes, *, mode: int | None = None) -> Path:
    """Writes ``data`` (text as UTF-8) to ``path`` through a temporary file and a rename
    (``atomic_open``).

    Args:
        path: The target; its folder is created when needed.
        data: The whole content.
        mode: Permission bits (e.g. ``0o600`` for secrets); default: the old file's, else ``0o644``.
    """
    with atomic_open(path, mode=mode) as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def atomic_write_json(path: str | os.PathLike, value: Any, *, mode: int | None = None, **dumps: Any) -> Path:
    """``atomic_write`` of ``json.dumps(value, **dumps)`` plus a newline (``ensure_ascii=False`` and
    indent 2 unless ``dumps`` says otherwise)."""
    options = {"indent": 2, "ensure_ascii": False, **dumps}
    return atomic_write(path, json.dumps(value, **options) + "\n", mode=mode)


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike, *, replace: bool = False) -> Iterator[Path]:
    """Yields a staging folder beside ``target`` that is renamed to ``target`` when the block ends.

    An exception removes the staging folder and leaves ``target`` as it was. With ``replace`` an
    existing ``target`` is swapped out (it stays in place until the new one is complete);
    otherwise an existing ``target`` is an error.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    # mkdtemp makes the folder owner-only; a published folder (a checkpoint, an export) gets the
    # mode a plain mkdir would give it under the user's umask.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)
    try:
        yield staging
        if target.exists():
            if not replace:
                raise FileExistsError(f"{target} already exists")
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
        _fsync_dir(target.parent)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)

