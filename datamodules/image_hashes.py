"""Image fingerprints for finding benchmark images in training data.

``exact``: sha256 of the decoded RGB pixels and size, so the same picture stored as PNG or as a
byte-different but lossless copy still matches. ``phash``: the 64-bit DCT hash of imagehash's
``phash`` (grey 32x32, 2-D DCT, the 8x8 lowest frequencies against their median), which survives
resizing and JPEG re-encoding; written here with numpy to add no dependency.
"""

from __future__ import annotations

import hashlib
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from PIL import Image

HASH_SIDE = 32
LOW = 8
BANDS = 8  # 64 bits = 8 bytes; two hashes within 7 bits agree on at least one whole byte


def _dct_matrix(n: int) -> np.ndarray:
    k, x = np.arange(n)[:, None], np.arange(n)[None, :]
    return np.cos(np.pi * (2 * x + 1) * k / (2 * n))


_DCT = _dct_matrix(HASH_SIDE)


@dataclass(frozen=True)
class Fingerprint:
    """The two hashes of one image."""

    exact: str
    phash: int


def fingerprint(data: bytes) -> Fingerprint:
    """Hashes of encoded image bytes; PIL's errors pass through for the caller to count."""
    with Image.open(io.BytesIO(data)) as image:
        rgb = image.convert("RGB")
    exact = hashlib.sha256(f"{rgb.size}".encode() + rgb.tobytes()).hexdigest()
    return Fingerprint(exact, phash(rgb))


def phash(image: Image.Image) -> int:
    """imagehash's ``phash`` (hash_size 8, highfreq_factor 4) as a 64-bit integer."""
    grey = np.asarray(image.convert("L").resize((HASH_SIDE, HASH_SIDE), Image.Resampling.LANCZOS), dtype=np.float64)
    low = (_DCT @ grey @ _DCT.T)[:LOW, :LOW]
    bits = (low > np.median(low)).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


class PhashIndex:
    """Finds stored hashes within ``max_distance`` bits of a query without comparing all pairs:
    hashes are filed under each of their 8 bytes, and any two within 7 bits share one.

    Args:
        max_distance: Largest Hamming distance that counts as a match (0-7).
    """

    def __init__(self, max_distance: int):
        if not 0 <= max_distance < BANDS:
            raise ValueError(f"max_distance={max_distance} must be between 0 and {BANDS - 1}")
        self.max_distance = max_distance
        self._bands: list[dict[int, list[int]]] = [defaultdict(list) for _ in range(BANDS)]
        self._hashes: list[int] = []

    def add(self, value: int) -> int:
        """Files ``value``; returns its position."""
        position = len(self._hashes)
        self._hashes.append(value)
        for band in range(BANDS):
            self._bands[band][(value >> (8 * band)) & 0xFF].append(position)
        return position

    def near(self, value: int) -> Iterable[tuple[int, int]]:
        """``(position, distance)`` of every stored hash within ``max_distance`` of ``value``."""
        seen = set()
        for band in range(BANDS):
            for position in self._bands[band].get((value >> (8 * band)) & 0xFF, ()):
                if position not in seen:
                    seen.add(position)
                    distance = hamming(value, self._hashes[position])
                    if distance <= self.max_distance:
                        yield position, distance
