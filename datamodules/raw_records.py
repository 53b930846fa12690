"""The data types of the shard writer: an input record, a converted sample, a reject, the options.

Kept apart from the readers and converters so that each of those can import them without
importing the others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

FORMATS = ("llava", "messages", "parquet", "text")
# Why a record was not written (the manifest's "rejected" keys); raw_formats.py says when each applies.
REJECT_REASONS = ("bad_json", "not_utf8", "empty_conversation", "bad_conversation", "assistant_first",
                  "no_assistant_turn", "image_tag_mismatch", "missing_image", "multiple_images",
                  "image_outside_root", "undecodable_image", "image_too_large", "extreme_aspect_ratio",
                  "duplicate_id")
MAX_ASPECT_RATIO = 20.0


class Reject(Exception):
    """A record that cannot become a sample; ``reason`` is the key counted in the manifest."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass
class RawRecord:
    """One input record and where it came from (``file:line`` or ``file:row``)."""

    where: str
    data: Any = None
    error: Reject | None = None


@dataclass
class ConvertOptions:
    """How records of one conversion run are read.

    Args:
        format: One of ``FORMATS``.
        source: Source name written into every sample.
        lang: Language written into samples whose record does not name one.
        image_root: Folder that image paths start from; a path that leads outside it (``..``,
            an absolute path, a symbolic link) is rejected as ``image_outside_root``.
        messages_column: Parquet column with the conversation (default: ``messages`` or
            ``conversations``, whichever the file has).
        image_column: Parquet column with the image; empty or None for text-only rows.
        id_column: Column or key with the sample id (default ``id``; source and row number when absent).
        max_aspect_ratio: Longest side over shortest side an image may have; longer strips are
            rejected as ``extreme_aspect_ratio`` (a 4 x 3000 strip is noise to a 336 px tower).
    """

    format: str
    source: str
    lang: str
    image_root: str = "."
    messages_column: str | None = None
    image_column: str | None = "image"
    id_column: str = "id"
    max_aspect_ratio: float = MAX_ASPECT_RATIO


@dataclass
class ShardSample:
    """A converted sample: the JSON record and the image's bytes and extension (or None)."""

    record: dict[str, Any]
    image: bytes | None = None
    image_ext: str | None = None
    files: dict[str, bytes] = field(init=False)

    def __post_init__(self) -> None:
        self.files = {"json": json.dumps(self.record, ensure_ascii=False).encode("utf-8")}
        if self.image is not None:
            self.files[self.image_ext] = self.image
