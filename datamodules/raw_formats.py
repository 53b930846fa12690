"""Reading raw instruction data (LLaVA JSON, JSONL, Parquet, text-only JSONL) into shard samples.

Every record either becomes a ``ShardSample`` (the DESIGN.md shard format: a JSON record with
``messages``, ``lang``, ``source``, ``id`` and at most one image) or raises ``Reject`` with a
short reason, so the shard writer can count and list it. Nothing here decides where shards go.

Formats:
    llava     JSON list or JSONL; ``conversations`` of ``{"from": "human"|"gpt"|"system",
              "value": ...}``; ``image`` is a path relative to the image root (absent: text-only).
    messages  JSONL; ``messages`` of ``{"role", "content"}``; the image is ``image`` (a path),
              ``image_base64`` (inline bytes) or absent.
    parquet   Parquet rows; the conversation column holds either of the above layouts; the image
              column holds bytes or Hugging Face's ``{"bytes", "path"}`` struct (or is null).
    text      text-only JSONL: ``messages``, ``conversations`` or ``instruction`` (+ ``input``)
              and ``output``; no images.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, UnidentifiedImageError

from lightning_mllm.chat_format import IMAGE_PLACEHOLDER, ROLES

FORMATS = ("llava", "messages", "parquet", "text")
LLAVA_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
               "system": "system"}
# Kept byte for byte; anything else PIL can read is re-encoded as PNG (lossless).
KEPT_IMAGE_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


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
        image_root: Folder that relative image paths start from.
        messages_column: Parquet column with the conversation (default: ``messages`` or
            ``conversations``, whichever the row has).
        image_column: Parquet column with the image.
        id_column: Column or key with the sample id (default ``id``; row number when absent).
    """

    format: str
    source: str
    lang: str
    image_root: str = "."
    messages_column: str | None = None
    image_column: str = "image"
    id_column: str = "id"


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


def read_records(path: str, options: ConvertOptions) -> Iterator[RawRecord]:
    """The records of one input file, malformed lines included as rejects."""
    if options.format == "parquet":
        yield from _parquet_records(path)
    elif path.endswith(".json"):
        yield from _json_list_records(path)
    else:
        yield from _jsonl_records(path)


def _json_list_records(path: str) -> Iterator[RawRecord]:
    with open(path, encoding="utf-8") as file:
        try:
            records = json.load(file)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON ({error}); use .jsonl for one record a line") from error
    if not isinstance(records, list):
        raise ValueError(f"{path} holds a JSON {type(records).__name__}; expected a list of records")
    for i, data in enumerate(records):
        yield RawRecord(f"{path}:{i}", data)


def _jsonl_records(path: str) -> Iterator[RawRecord]:
    with open(path, encoding="utf-8", errors="replace") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                yield RawRecord(where, json.loads(line))
            except json.JSONDecodeError as error:
                yield RawRecord(where, error=Reject("bad_json", str(error)))


def _parquet_records(path: str) -> Iterator[RawRecord]:
    import pyarrow.parquet as pq  # only the Parquet format needs pyarrow

    row = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=256):
        for data in batch.to_pylist():
            yield RawRecord(f"{path}:row{row}", data)
            row += 1


def convert(raw: RawRecord, options: ConvertOptions, index: int) -> ShardSample:
    """The shard sample of one record; ``Reject`` when it cannot be one."""
    if raw.error is not None:
        raise raw.error
    data = raw.data
    if not isinstance(data, dict):
        raise Reject("bad_json", f"the record is a {type(data).__name__}, not an object")
    messages = normalize_conversation(_conversation(data, options))
    image = _image(data, options)
    messages = place_image(messages, image is not None)
    record = {"messages": messages, "lang": str(data.get("lang") or options.lang), "source": options.source,
              "id": str(data[options.id_column]) if data.get(options.id_column) is not None
              else f"{options.source}-{index}"}
    if image is None:
        return ShardSample(record)
    return ShardSample(record, *image)


def _conversation(data: dict[str, Any], options: ConvertOptions) -> Any:
    if options.format == "parquet" and options.messages_column:
        if options.messages_column not in data:
            raise Reject("empty_conversation", f"no column {options.messages_column!r}")
        return data[options.messages_column]
    if options.format == "text" and "messages" not in data and "conversations" not in data:
        return _instruction_turns(data)
    for key in ("messages", "conversations"):
        if data.get(key) is not None:
            return data[key]
    raise Reject("empty_conversation", "the record has neither 'messages' nor 'conversations'")


def _instruction_turns(data: dict[str, Any]) -> list[dict[str, str]]:
    instruction, output = data.get("instruction"), data.get("output")
    if not isinstance(instruction, str) or not instruction.strip():
        raise Reject("empty_conversation", "no 'instruction' text")
    if not isinstance(output, str) or not output.strip():
        raise Reject("no_assistant_turn", "no 'output' text")
    extra = data.get("input")
    prompt = f"{instruction}\n\n{extra}" if isinstance(extra, str) and extra.strip() else instruction
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": output}]


def normalize_conversation(turns: Any) -> list[dict[str, str]]:
    """Role/content messages from either layout; checks the turns are usable for training."""
    if isinstance(turns, str):
        try:
            turns = json.loads(turns)  # Parquet exports sometimes keep conversations as a JSON string
        except json.JSONDecodeError as error:
            raise Reject("bad_json", f"the conversation string is not JSON ({error})") from error
    if not isinstance(turns, list) or not turns:
        raise Reject("empty_conversation", "the conversation is empty")
    messages = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise Reject("bad_conversation", f"turn {i} is not an object")
        role = turn.get("role") if "role" in turn else LLAVA_ROLES.get(str(turn.get("from")).lower())
        content = turn.get("content") if "content" in turn else turn.get("value")
        if role not in ROLES or not isinstance(content, str):
            raise Reject("bad_conversation", f"turn {i} needs a role in {ROLES} (or LLaVA 'from') and text")
        messages.append({"role": role, "content": content})
    if not any(m["role"] == "assistant" and m["content"].strip() for m in messages):
        raise Reject("no_assistant_turn", "no assistant turn with text")
    return messages


def place_image(messages: list[dict[str, str]], has_image: bool) -> list[dict[str, str]]:
    """Checks the ``<image>`` tags against the image; an image without a tag gets one at the
    start of the first user turn (DESIGN.md), so shards always say where the image goes."""
    tags = sum(m["content"].count(IMAGE_PLACEHOLDER) for m in messages)
    if any(IMAGE_PLACEHOLDER in m["content"] for m in messages if m["role"] != "user"):
        raise Reject("image_tag_mismatch", f"{IMAGE_PLACEHOLDER} outside a user turn")
    if not has_image:
        if tags:
            raise Reject("missing_image", f"{tags} {IMAGE_PLACEHOLDER} tag(s) but no image")
        return messages
    if tags > 1:
        raise Reject("image_tag_mismatch", f"{tags} {IMAGE_PLACEHOLDER} tags for one image")
    if tags == 0:
        first = next((m for m in messages if m["role"] == "user"), None)
        if first is None:
            raise Reject("image_tag_mismatch", "an image sample needs a user turn")
        first["content"] = f"{IMAGE_PLACEHOLDER}\n{first['content']}"
    return messages


def _image(data: dict[str, Any], options: ConvertOptions) -> tuple[bytes, str] | None:
    if options.format == "text":
        return None
    if options.format == "parquet":
        value = data.get(options.image_column)
        if isinstance(value, list):
            if len(value) > 1:
                raise Reject("multiple_images", f"{len(value)} images in {options.image_column!r}")
            value = value[0] if value else None
        if isinstance(value, dict):
            value = value.get("bytes") or (_read_image_file(value["path"], options) if value.get("path") else None)
        return None if value is None else check_image(bytes(value))
    if options.format == "messages" and data.get("image_base64"):
        try:
            return check_image(base64.b64decode(data["image_base64"], validate=True))
        except (binascii.Error, ValueError) as error:
            raise Reject("undecodable_image", f"image_base64 is not base64 ({error})") from error
    path = data.get("image")
    if path is None or path == "":
        return None
    if isinstance(path, list):
        if len(path) != 1:
            raise Reject("multiple_images", f"{len(path)} images; one image per sample is supported")
        path = path[0]
    return check_image(_read_image_file(str(path), options))


def _read_image_file(path: str, options: ConvertOptions) -> bytes:
    full = path if os.path.isabs(path) else os.path.join(options.image_root, path)
    try:
        with open(full, "rb") as file:
            return file.read()
    except OSError as error:
        raise Reject("missing_image", f"cannot read {full} ({error.strerror})") from error


def check_image(data: bytes) -> tuple[bytes, str]:
    """Decodes the image fully (a truncated file fails here, not in training) and returns the
    bytes to store with their extension."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            kept = KEPT_IMAGE_FORMATS.get(image.format or "")
            if kept:
                return data, kept
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            return buffer.getvalue(), "png"
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise Reject("undecodable_image", str(error)) from error
