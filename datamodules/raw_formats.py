"""Converting raw instruction records (LLaVA JSON, JSONL, Parquet, text-only JSONL) into shard samples.

Every record either becomes a ``ShardSample`` (the docs/design.md shard format: a JSON record with
``messages``, ``lang``, ``source``, ``id`` and at most one image) or raises ``Reject`` with a
short reason, so the shard writer can count and list it. Nothing here decides where shards go.
Files are read by ``raw_readers.py``, images found and checked by ``raw_images.py``; the record
types live in ``raw_records.py`` (all re-exported here).

Formats:
    llava     JSON list or JSONL; ``conversations`` of ``{"from": "human"|"gpt"|"system",
              "value": ...}``; ``image`` is a path relative to the image root (absent: text-only).
    messages  JSONL; ``messages`` of ``{"role", "content"}``; the image is ``image`` (a path),
              ``image_base64`` (inline bytes) or absent.
    parquet   Parquet rows; the conversation column holds either of the above layouts; the image
              column holds bytes or Hugging Face's ``{"bytes", "path"}`` struct (or is null).
    text      text-only JSONL: ``messages``, ``conversations`` or ``instruction`` (+ ``input``)
              and ``output``; no images.

Reject reasons (the manifest's ``rejected`` keys): ``bad_json``, ``not_utf8``,
``empty_conversation``, ``bad_conversation``, ``assistant_first``, ``no_assistant_turn``,
``image_tag_mismatch``, ``missing_image``, ``multiple_images``, ``image_outside_root``,
``undecodable_image``, ``image_too_large``, ``extreme_aspect_ratio``; the writer adds
``duplicate_id``.
"""

from __future__ import annotations

import json
from typing import Any

from datamodules.raw_images import KEPT_IMAGE_FORMATS, check_image, read_image_file, record_image
from datamodules.raw_readers import InputFileError, read_records
from datamodules.raw_records import FORMATS, ConvertOptions, RawRecord, Reject, ShardSample
from lightning_mllm.chat_format import IMAGE_PLACEHOLDER, LLAVA_ROLES, ROLES

__all__ = ["FORMATS", "KEPT_IMAGE_FORMATS", "LLAVA_ROLES", "ConvertOptions", "InputFileError", "RawRecord",
           "Reject", "ShardSample", "check_image", "convert", "normalize_conversation", "place_image",
           "read_image_file", "read_records", "record_id"]


def record_id(raw: RawRecord, options: ConvertOptions) -> str | None:
    """The record's own id (its ``id_column``), or None when it has none."""
    if isinstance(raw.data, dict) and raw.data.get(options.id_column) is not None:
        return str(raw.data[options.id_column])
    return None


def convert(raw: RawRecord, options: ConvertOptions, index: int) -> ShardSample:
    """The shard sample of one record; ``Reject`` when it cannot be one."""
    if raw.error is not None:
        raise raw.error
    data = raw.data
    if not isinstance(data, dict):
        raise Reject("bad_json", f"the record is a {type(data).__name__}, not an object")
    messages = normalize_conversation(_conversation(data, options))
    image = record_image(data, options)
    messages = place_image(messages, image is not None)
    record = {"messages": messages, "lang": str(data.get("lang") or options.lang), "source": options.source,
              "id": record_id(raw, options) or f"{options.source}-{index}"}
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
    opening = next((m for m in messages if m["role"] != "system"), None)
    if opening is not None and opening["role"] == "assistant":
        raise Reject("assistant_first", "the first turn after the system prompt is the assistant's; "
                                        "a reply needs a user turn before it")
    if not any(m["role"] == "assistant" and m["content"].strip() for m in messages):
        raise Reject("no_assistant_turn", "no assistant turn with text")
    return messages


def place_image(messages: list[dict[str, str]], has_image: bool) -> list[dict[str, str]]:
    """Checks the ``<image>`` tags against the image; an image without a tag gets one at the
    start of the first user turn (docs/design.md), so shards always say where the image goes."""
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


