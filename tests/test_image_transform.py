"""The loader's own image preprocessing matches the Hugging Face image processors it stands in for."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import CLIPImageProcessor, SiglipImageProcessor

from lightning_mllm.image_transform import ImageTransform

CLIP_336 = dict(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})


def _photo(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([np.sin(x / (9 + 5 * c)) * np.cos(y / (13 + 3 * c)) for c in range(3)], -1) * 90 + 128
    return Image.fromarray(np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8))


@pytest.mark.parametrize("size", [(640, 480), (480, 640), (333, 500), (336, 336)])
@pytest.mark.parametrize("processor", [CLIPImageProcessor(**CLIP_336), SiglipImageProcessor(size={"height": 224, "width": 224})],
                         ids=["clip-336", "siglip-224"])
def test_transform_matches_the_processor(size, processor):
    image = _photo(*size)
    ours = ImageTransform.from_hf(processor)(image)
    theirs = processor(images=image, return_tensors="pt")["pixel_values"][0]
    assert ours.shape == theirs.shape
    if "Torchvision" in type(processor).__mro__[1].__name__:  # transformers >= 5.x default backend
        assert torch.allclose(ours, theirs, atol=1e-4), (ours - theirs).abs().max()
    else:  # an older, PIL-based processor: the same up to the resampling implementation
        assert (ours - theirs).abs().mean() < 0.02


def test_unknown_settings_fall_back_to_the_processor():
    assert ImageTransform.from_hf(CLIPImageProcessor(do_normalize=False)) is None
    assert ImageTransform.from_hf(CLIPImageProcessor(size={"longest_edge": 300})) is None
