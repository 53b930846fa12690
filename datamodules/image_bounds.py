"""The shard writer's optional bound on an image's long side (``--max-image-side``).

Web photos are often 1000-4000 px on the long side while the vision tower sees 336 px; storing
them re-encoded with a bounded long side makes shards smaller and their decode cheaper. An image
within the bound is kept byte for byte; a larger one is shrunk (aspect kept, PIL's ``thumbnail``:
a reduced JPEG decode at no less than twice the size, then an antialiased bicubic resize) and
stored as JPEG at quality 95 without chroma subsampling when it was a JPEG, as PNG (lossless)
otherwise. The stored picture is not the original: on the loader bench's photo-like web images
the model's 336 px tensor differs from the original's by 2.3 on the 0-255 scale on average at a
bound of 672 (2.0 at 1008; up to 10 on single images, where the whole-pixel sides of the shrunk
image move the centre crop by a fraction of a pixel), against 0.1-0.3 for the loader's reduced
decode (``ImageTransform.draft``); hence off by default.
"""

from __future__ import annotations

import io

from PIL import Image

JPEG_QUALITY = 95
# 4:4:4: PIL's default 4:2:0 halves the colour resolution, which tripled the difference above.
JPEG_SUBSAMPLING = 0


def check_max_image_side(value: int | None) -> int | None:
    """``value`` when None or a usable side; ``ValueError`` naming the setting otherwise."""
    if value is not None and value < 64:
        raise ValueError(f"max_image_side={value} (--max-image-side) must be at least 64 px, or None for no bound")
    return value


def bound_image_side(data: bytes, ext: str, max_side: int) -> tuple[bytes, str, bool]:
    """The bytes and extension to store for an image of ``data`` (already checked by the
    writer), and whether it was shrunk to ``max_side`` px on its long side."""
    with Image.open(io.BytesIO(data)) as image:
        if max(image.size) <= max_side:
            return data, ext, False
        image.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        if ext == "jpg":
            image.save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=JPEG_SUBSAMPLING)
            return buffer.getvalue(), "jpg", True
        image.save(buffer, format="PNG")
        return buffer.getvalue(), "png", True
