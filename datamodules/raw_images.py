"""The image of an input record for the shard writer: found, kept inside the image root, checked.

An image path is resolved (``..``, absolute paths and symbolic links followed) and must stay under
``image_root`` before anything is opened: the writer may run on data from elsewhere, and a record
must not make it read ``/etc/passwd`` into a shard. Every image is decoded in full here, so a
broken one is rejected now rather than skipped in training.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
from typing import Any

from PIL import Image, UnidentifiedImageError

from datamodules.raw_records import MAX_ASPECT_RATIO, ConvertOptions, Reject

# Kept byte for byte; anything else PIL can read is re-encoded as PNG (lossless).
KEPT_IMAGE_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


def record_image(data: dict[str, Any], options: ConvertOptions) -> tuple[bytes, str] | None:
    """Checked image bytes and extension of a record, None for a text-only one; ``Reject`` otherwise."""
    if options.format == "text":
        return None
    if options.format == "parquet":
        return _parquet_image(data, options)
    if options.format == "messages" and data.get("image_base64"):
        try:
            return check_image(base64.b64decode(data["image_base64"], validate=True), options.max_aspect_ratio)
        except (binascii.Error, ValueError) as error:
            raise Reject("undecodable_image", f"image_base64 is not base64 ({error})") from error
    path = data.get("image")
    if path is None or path == "":
        return None
    if isinstance(path, list):
        if len(path) != 1:
            raise Reject("multiple_images", f"{len(path)} images; one image per sample is supported")
        path = path[0]
    return check_image(read_image_file(str(path), options.image_root), options.max_aspect_ratio)


def _parquet_image(data: dict[str, Any], options: ConvertOptions) -> tuple[bytes, str] | None:
    if not options.image_column:
        return None
    value = data.get(options.image_column)
    if isinstance(value, list):
        if len(value) > 1:
            raise Reject("multiple_images", f"{len(value)} images in {options.image_column!r}")
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("bytes") or (read_image_file(value["path"], options.image_root) if value.get("path") else None)
    return None if value is None else check_image(bytes(value), options.max_aspect_ratio)


def read_image_file(path: str, image_root: str) -> bytes:
    """The bytes of the image at ``path`` (relative to ``image_root``); ``Reject`` when it is
    outside the root (checked before opening) or cannot be read."""
    root = os.path.realpath(image_root)
    # join() keeps an absolute path as it is; realpath() resolves "..", and symbolic links
    # anywhere on the way, so the check is on the file that would really be opened.
    full = os.path.realpath(os.path.join(root, path))
    if os.path.commonpath([root, full]) != root:
        raise Reject("image_outside_root", f"{path!r} leads to {full}, outside the image root {root} (--image-root)")
    try:
        with open(full, "rb") as file:
            return file.read()
    except OSError as error:
        raise Reject("missing_image", f"cannot read {full} ({error.strerror})") from error


def check_image(data: bytes, max_aspect_ratio: float = MAX_ASPECT_RATIO) -> tuple[bytes, str]:
    """Decodes the image fully (a truncated file fails here, not in training) and returns the
    bytes to store with their extension."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            width, height = image.size
            if max(width, height) > max_aspect_ratio * max(1, min(width, height)):
                raise Reject("extreme_aspect_ratio", f"{width} x {height} is longer than {max_aspect_ratio}:1 "
                                                     f"(--max-aspect-ratio)")
            kept = KEPT_IMAGE_FORMATS.get(image.format or "")
            if kept:
                return data, kept
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            return buffer.getvalue(), "png"
    except Image.DecompressionBombError as error:
        raise Reject("image_too_large", str(error)) from error
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise Reject("undecodable_image", str(error)) from error
