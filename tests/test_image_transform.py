"""The loader's own image preprocessing matches the Hugging Face image processors it stands in for,
in every ``image_aspect`` mode, on transparent, 16-bit and extremely long images too."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional._geometry as tvF_geometry
from PIL import Image
from transformers import CLIPImageProcessor, SiglipImageProcessor

from lightning_mllm.image_aspect import IMAGE_ASPECTS, aspect_image_processor
from lightning_mllm.image_transform import ImageTransform, to_rgb

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


# --------------------------------------------------------------- image_aspect (LLaVA-1.5 padding)
def _llava_expand2square(image: Image.Image, mean: list[float]) -> Image.Image:
    """LLaVA-1.5's expand2square (llava/mm_utils.py): the image pasted centred on a square of the
    processor's mean colour (truncated to integers)."""
    width, height = image.size
    side = max(width, height)
    square = Image.new(image.mode, (side, side), tuple(int(x * 255) for x in mean))
    square.paste(image, ((side - width) // 2, (side - height) // 2))
    return square


@pytest.mark.parametrize("size", [(500, 300), (300, 500), (337, 336)])
def test_pad_is_llava_15s_expand2square_then_the_clip_processor(size):
    clip = CLIPImageProcessor(**CLIP_336)
    image = _photo(*size)
    ours = ImageTransform.from_hf(aspect_image_processor(clip, "pad"))(image)
    reference = clip(images=_llava_expand2square(image, clip.image_mean), return_tensors="pt")["pixel_values"][0]
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-4)
    # The padding is visible: the top rows of a wide image are the mean colour, which normalises to ~0.
    if size[0] > size[1] + 10:
        assert ours[:, :20].abs().max() < 0.02


@pytest.mark.parametrize("mode", IMAGE_ASPECTS)
@pytest.mark.parametrize("processor", [CLIPImageProcessor(**CLIP_336), SiglipImageProcessor(size={"height": 224, "width": 224})],
                         ids=["clip-336", "siglip-224"])
def test_each_aspect_mode_matches_its_hugging_face_processor(mode, processor):
    hf = aspect_image_processor(processor, mode)
    image = _photo(520, 300)
    ours = ImageTransform.from_hf(hf)(image)
    theirs = hf(images=image, return_tensors="pt")["pixel_values"][0]
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-4)


def test_aspect_modes_differ_on_a_wide_image_and_agree_on_a_square_one():
    clip = CLIPImageProcessor(**CLIP_336)
    wide, square = _photo(600, 200), _photo(300, 300)
    out = {mode: ImageTransform.from_hf(aspect_image_processor(clip, mode)) for mode in IMAGE_ASPECTS}
    for a, b in [("pad", "crop"), ("pad", "resize"), ("crop", "resize")]:
        assert (out[a](wide) - out[b](wide)).abs().mean() > 0.1
        torch.testing.assert_close(out[a](square), out[b](square), rtol=0, atol=1e-4)
    with pytest.raises(ValueError, match="model.image_aspect='squash'"):
        aspect_image_processor(clip, "squash")


# --------------------------------------------------------------- images as they come from the wild
def _transparent(kind: str) -> Image.Image:
    photo = _photo(120, 90)
    if kind == "RGBA":
        alpha = Image.linear_gradient("L").resize(photo.size)  # 0 (transparent) to 255, top to bottom
        return Image.merge("RGBA", (*photo.split(), alpha))
    if kind == "LA":
        return Image.merge("LA", (photo.convert("L"), Image.linear_gradient("L").resize(photo.size)))
    if kind == "RGB+tRNS":  # PIL keeps a palette's transparent entry as a transparent colour
        return _transparent("P").convert("RGB")
    palette = photo.quantize(16)
    palette.paste(3, (0, 0, photo.width, 30))  # the top rows use the transparent entry
    saved = io.BytesIO()
    # One palette entry transparent, as in GIFs and PNG-8, through a real PNG file.
    palette.save(saved, format="PNG", transparency=3)
    return Image.open(saved)


@pytest.mark.parametrize("kind", ["RGBA", "LA", "P", "RGB+tRNS"])
def test_transparency_is_composited_on_white_like_the_clip_processor(kind):
    clip = CLIPImageProcessor(**CLIP_336)
    image = _transparent(kind)
    # What dropping the alpha gives (PIL's convert keeps a transparent colour, so only the pixels go).
    plain = Image.fromarray(np.asarray(_transparent(kind).convert("RGB")))
    dropped = clip(images=plain, return_tensors="pt")["pixel_values"][0]
    ours = ImageTransform.from_hf(clip)(image)
    theirs = clip(images=image, return_tensors="pt")["pixel_values"][0]
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-4)
    assert (ours - dropped).abs().max() > 1.0  # dropping alpha instead would be far off
    # The top row is fully transparent: white.
    assert (np.asarray(to_rgb(image))[0] >= 250).all()


def test_sixteen_bit_grey_is_scaled_not_clipped_to_white():
    values = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    rgb = np.asarray(to_rgb(image))
    expected = np.round(values / 257).astype(np.uint8)
    assert np.abs(rgb[..., 0].astype(int) - expected).max() <= 1 and (rgb[..., 0] == rgb[..., 2]).all()
    assert rgb.min() == 0 and rgb.max() == 255 and 100 < rgb.mean() < 155  # PIL's convert gives 255 nearly everywhere


@pytest.mark.parametrize("mode", IMAGE_ASPECTS)
def test_an_extreme_strip_is_preprocessed_without_a_huge_intermediate(mode, monkeypatch):
    clip = CLIPImageProcessor(**CLIP_336)
    strip = _photo(3000, 4)
    hf = aspect_image_processor(clip, mode)
    theirs = hf(images=strip, return_tensors="pt")["pixel_values"][0]  # builds 336 x 252000 for crop
    largest = []
    for module in (torch.nn.functional, tvF_geometry):
        real = module.interpolate

        def spy(*args, _real=real, **kwargs):
            out = _real(*args, **kwargs)
            largest.append(out.numel())
            return out
        monkeypatch.setattr(module, "interpolate", spy)
    ours = ImageTransform.from_hf(hf)(strip)
    assert largest and max(largest) <= 8 * 3 * 336 * 336  # at most INTERMEDIATE_LIMIT times the output
    assert ours.shape == theirs.shape == (3, 336, 336)
    # Only the filter's reach at the padding edges (pad) can differ from the full-size computation.
    assert (ours - theirs).abs().mean() < 0.01
