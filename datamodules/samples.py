"""Reading samples out of WebDataset tar shards and turning them into model inputs.

Only JSON and images are decoded; nothing from a shard is ever unpickled. A sample that cannot be
used raises ``SampleError`` naming its shard and key (``shard.tar:key``), which the streams count
as a skip under the error's reason.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import webdataset as wds
from PIL import Image, UnidentifiedImageError

from lightning_mllm.chat_format import IGNORE_INDEX, SampleError
from lightning_mllm.processor import MultimodalProcessor

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")


def read_shard(path: str) -> Iterator[dict[str, Any]]:
    """Raw samples (``__key__`` plus one bytes entry per file extension) of one tar shard."""
    yield from wds.tariterators.tarfile_samples(iter([{"url": path}]))


def decode_sample(raw: dict[str, Any]) -> dict[str, Any]:
    """JSON record and PIL image (or None) of a raw sample; ``SampleError`` when unusable."""
    where = f"{raw.get('__url__', '?')}:{raw.get('__key__', '?')}"
    if "json" not in raw:
        raise SampleError("missing_json", "no json file", where)
    try:
        record = json.loads(raw["json"])
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SampleError("bad_json", str(error), where) from error
    if not isinstance(record, dict):
        raise SampleError("bad_json", "the json file is not an object", where)
    images = [ext for ext in IMAGE_EXTENSIONS if ext in raw]
    if len(images) > 1:
        raise SampleError("image_mismatch", f"several images {images}", where)
    image = None
    if images:
        with _image_errors(where):
            # Only the header is read here: encode_sample decodes the pixels, at reduced size
            # where the image transform allows it (``image_pixels``).
            image = Image.open(io.BytesIO(raw[images[0]]))
    record.setdefault("id", raw.get("__key__"))
    return {"record": record, "image": image, "where": where}


@contextmanager
def _image_errors(where: str) -> Iterator[None]:
    """Turns PIL's errors for an image that cannot be used into ``SampleError`` naming the sample."""
    try:
        yield
    except Image.DecompressionBombError as error:
        # Not an OSError: a shard written elsewhere can hold an image the writer would refuse.
        raise SampleError("image_too_large", str(error), where) from error
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise SampleError("bad_image", str(error), where) from error


def image_pixels(image: Image.Image, processor: MultimodalProcessor, where: str) -> Any:
    """Decodes ``image`` (opened by ``decode_sample``) and preprocesses it. With the processor's
    own image transform, a JPEG much larger than its output is decoded at 1/2, 1/4 or 1/8 scale
    (``ImageTransform.draft``, the transform's ``reduced_decode`` setting, on by default);
    ``SampleError`` when the image cannot be decoded."""
    transform = getattr(processor, "transform", None)
    with _image_errors(where):
        draft = transform.draft(image) if transform is not None else None
        image.load()
    return transform(image, draft) if transform is not None else processor.pixel_values(image)


def encode_sample(decoded: dict[str, Any], processor: MultimodalProcessor, with_prompt: bool) -> dict[str, Any]:
    """Token ids, labels, pixel values and metadata; with ``with_prompt`` also the generation
    prompt and reference answer that validation needs."""
    record, image = decoded["record"], decoded["image"]
    # Decoded first, so that a broken image is its own skip reason.
    pixels = image_pixels(image, processor, decoded["where"]) if image is not None else None
    name = f"{decoded['where']} (id {record.get('id')})"
    encoded = processor.formatter.encode(record.get("messages"), has_image=image is not None, sample=name)
    sample = {"input_ids": encoded.input_ids, "labels": encoded.labels, "truncated": encoded.truncated,
              "lang": str(record.get("lang", "unknown")), "id": record.get("id")}
    if with_prompt:
        sample["prompt_ids"], sample["answer"] = processor.formatter.encode_prompt(
            record["messages"], has_image=image is not None, sample=name)
    sample["pixel_values"] = pixels
    sample["words"], sample["text_tokens"] = reply_cost(record["messages"], encoded.labels)
    return sample


def reply_cost(messages: list[dict[str, str]], labels: list[int]) -> tuple[int, int]:
    """Words and tokens of the assistant replies (the labelled text, without the end-of-turn
    token of each turn): their ratio is how many tokens a word costs in the sample's language.
    Counted from the labels, so it needs no second tokenisation."""
    replies = [m["content"] for m in messages if m["role"] == "assistant"]
    tokens = sum(1 for label in labels if label != IGNORE_INDEX) - len(replies)
    return sum(len(reply.split()) for reply in replies), max(0, tokens)
