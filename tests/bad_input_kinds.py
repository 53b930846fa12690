"""Builders of bad input for the battery in ``test_bad_inputs.py``: raw records for the shard writer,
raw shard samples for the decoder, and small images (good, broken, transparent, 16-bit, a bomb).

Shared by both halves of the battery (writer and sample decoding here; the streaming reader's
kinds go next to them), so every kind is built the same way.
"""

from __future__ import annotations

import io
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def image_bytes(size: tuple[int, int] = (40, 30), fmt: str = "JPEG", colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=fmt)
    return buffer.getvalue()


def bomb_png(width: int = 40000, height: int = 40000) -> bytes:
    """A valid PNG header declaring width x height 1-bit pixels (1.6 G pixels) and a few bytes
    of data: PIL refuses it on opening (over twice ``Image.MAX_IMAGE_PIXELS``)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def rgba_png() -> bytes:
    """A red picture whose top half is fully transparent."""
    alpha = np.full((30, 40), 255, np.uint8)
    alpha[:15] = 0
    rgb = Image.new("RGB", (40, 30), (200, 30, 30))
    buffer = io.BytesIO()
    Image.merge("RGBA", (*rgb.split(), Image.fromarray(alpha))).save(buffer, format="PNG")
    return buffer.getvalue()


def grey16_png() -> bytes:
    """A 16-bit greyscale ramp from black to white (PIL's plain convert would make it white)."""
    buffer = io.BytesIO()
    Image.fromarray(np.linspace(0, 65535, 48 * 64).reshape(48, 64).astype(np.uint16)).save(buffer, format="PNG")
    return buffer.getvalue()


def turns(question: str = "<image>\nWhat is it?", answer: str = "A red box.") -> list[dict[str, str]]:
    """A LLaVA-layout conversation."""
    return [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]


def messages(question: str = "<image>\nZer da?", answer: str = "Kutxa.") -> list[dict[str, str]]:
    """A role/content conversation."""
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def write_shard(path: Path, samples: list[tuple[str, dict[str, bytes]]]) -> str:
    """A tar shard holding ``samples`` as given (key, {extension: bytes}), with no checks, as a
    shard written by another tool could be."""
    with tarfile.open(path, "w") as tar:
        for key, files in samples:
            for ext, data in files.items():
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return str(path)
