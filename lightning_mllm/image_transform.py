"""The vision tower's image preprocessing done directly with torchvision, for the data loader.

It follows the settings of the tower's Hugging Face image processor (pad to a square, resize rule,
crop, rescale, mean and std, resampling filter) and computes what its default torchvision backend
computes (padding with the mean colour as ``LlavaImageProcessor`` does, antialiased resize of the
uint8 image, centre crop, normalisation in float32), without the per-call overhead of the
processor: the loader's time goes into decoding and resizing. Settings it does not know (other
padding, resize rules or filters) make ``from_hf`` return None, and the caller falls back to the
Hugging Face processor itself.

A JPEG at least 3x the output (on the side the output is scaled by) is decoded at 1/2, 1/4 or
1/8 scale (``draft``, setting ``reduced_decode``, on by default) and resized on the full image's
sampling grid; the final tensor differs from a full decode's by about 0.25 on the 0-255 scale.

Extreme aspect ratios would need a huge intermediate image (a 4 x 3000 strip resized so its short
side is 336 px is 336 x 252000); past ``INTERMEDIATE_LIMIT`` only the part under the crop is
resized (crop) or the image is shrunk before padding (pad): the same picture up to resampling at
the edges.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch
import torchvision.transforms.v2.functional as tvF
from PIL import Image

SUPPORTED_FLAGS = {"do_pad": False, "do_reduce_labels": False}
# PIL filter number -> torchvision mode, for the filters torchvision resizes with on every version.
INTERPOLATION = {Image.Resampling.NEAREST: tvF.InterpolationMode.NEAREST,
                 Image.Resampling.BILINEAR: tvF.InterpolationMode.BILINEAR,
                 Image.Resampling.BICUBIC: tvF.InterpolationMode.BICUBIC}
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
# An intermediate may hold this many times the larger of the output and the input (pixels).
INTERMEDIATE_LIMIT = 8
PAD_FIRST_PIXELS = 8  # output pixels of fill around a thin strip before shrinking it
DRAFT_FACTORS = (8, 4, 2)  # the reductions libjpeg decodes at directly, largest first
DRAFT_MAX_ASPECT = 4  # longer strips are decoded in full
# A reduced decode keeps at least this many times the resize target: libjpeg's scaled IDCT filters
# unlike the antialiased bicubic, and at 1.5x the final tensor differs from a full decode's by
# 0.25 on the 0-255 scale on average (1x: 0.6), about the resize's own rounding to uint8 (0.25).
DRAFT_MARGIN = 1.5


class Draft(NamedTuple):
    """A JPEG set to decode at reduced size: its full size and the reduction factor."""

    width: int
    height: int
    factor: int


def to_rgb(image: Image.Image) -> Image.Image:
    """The image in RGB as Hugging Face's image processors make it (``convert_to_rgb``):
    transparency (an alpha band, or a palette or grey level marked transparent) composited on
    white. 16-bit greyscale, which PIL's ``convert`` clips to white, is scaled to 8 bits first."""
    if image.mode in SIXTEEN_BIT_MODES:
        values = np.asarray(image).astype(np.int64)
        # Round v * 255 / 65535: 0 stays black, 65535 becomes 255.
        image = Image.fromarray(np.clip((values * 255 + 32767) // 65535, 0, 255).astype(np.uint8), "L")
    if "A" in image.getbands() or image.info.get("transparency") is not None:
        # Also an RGB image with a transparent colour (PNG tRNS, or a palette image PIL converted).
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


class ImageTransform:
    """Pad to a square (optional), resize (shortest edge or fixed size), centre crop, rescale and
    normalise one image.

    Args:
        shortest_edge: Resize so the shorter side has this length (CLIP); or None.
        size: Resize to exactly (height, width) (SigLIP); or None.
        crop: Centre crop (height, width) after resizing; or None.
        mean: Per-channel mean subtracted after rescaling.
        std: Per-channel standard deviation divided by.
        rescale: Factor from 0..255 values (1/255).
        interpolation: Torchvision resampling mode.
        pad_fill: Pad to a square with this uint8 colour before resizing (LLaVA-1.5's
            ``expand2square``); None for no padding.
        reduced_decode: Let ``draft`` decode a JPEG much larger than the output at 1/2, 1/4 or
            1/8 scale (libjpeg's DCT scaling), never below 1.5x the resize target; False decodes
            every image in full.
    """

    def __init__(self, shortest_edge: int | None, size: tuple[int, int] | None, crop: tuple[int, int] | None,
                 mean: list[float], std: list[float], rescale: float = 1 / 255,
                 interpolation: tvF.InterpolationMode = tvF.InterpolationMode.BICUBIC,
                 pad_fill: tuple[int, int, int] | None = None, reduced_decode: bool = True):
        self.reduced_decode = reduced_decode
        self.shortest_edge = shortest_edge
        self.size = size
        self.crop = crop
        # Rescale and normalise fused into one subtract and one divide, as the processor does.
        self.mean = (torch.tensor(mean, dtype=torch.float32) / rescale).view(3, 1, 1)
        self.std = (torch.tensor(std, dtype=torch.float32) / rescale).view(3, 1, 1)
        self.interpolation = interpolation
        self.pad_fill = list(pad_fill) if pad_fill is not None else None

    @classmethod
    def from_hf(cls, processor: Any) -> "ImageTransform | None":
        """The transform a Hugging Face image processor describes, or None if it needs more."""
        get = lambda name, default=None: getattr(processor, name, default)  # noqa: E731
        # Only LLaVA's processor pads to a square with the mean colour; other do_pad mean other things.
        pads = bool(get("do_pad")) and hasattr(processor, "pad_to_square")
        flags = {**SUPPORTED_FLAGS, "do_pad": pads}
        if any(bool(get(flag, default)) != default for flag, default in flags.items()):
            return None
        if not (get("do_convert_rgb", True) is not False and get("do_rescale") and get("do_normalize")):
            return None
        size = get("size") or {}
        shortest = size.get("shortest_edge") if get("do_resize") else None
        exact = (size["height"], size["width"]) if get("do_resize") and "height" in size else None
        if get("do_resize") and not (shortest or exact) or size.get("longest_edge"):
            return None
        crop_size = get("crop_size") or {}
        crop = (crop_size["height"], crop_size["width"]) if get("do_center_crop") and crop_size else None
        interpolation = INTERPOLATION.get(Image.Resampling(int(get("resample", Image.Resampling.BICUBIC))))
        if interpolation is None:
            return None
        mean = list(get("image_mean"))
        # LlavaImageProcessor's fill: the mean colour truncated to integers (LLaVA's expand2square).
        fill = tuple(int(x * 255) for x in mean) if pads else None
        return cls(shortest, exact, crop, mean, list(get("image_std")), float(get("rescale_factor", 1 / 255)),
                   interpolation, fill)

    def _target(self, height: int, width: int) -> tuple[int, int]:
        if self.shortest_edge:
            # Hugging Face's rule: the short side becomes shortest_edge, the long side is truncated.
            short, long = min(width, height), max(width, height)
            new_long = int(self.shortest_edge * long / short)
            return (new_long, self.shortest_edge) if width <= height else (self.shortest_edge, new_long)
        return self.size or (height, width)

    def decode_size(self, width: int, height: int) -> tuple[int, int]:
        """The least (width, height) an image of ``width`` x ``height`` may be decoded at before
        the resize: ``DRAFT_MARGIN`` times the resize target of each side (crop: the short side;
        resize: both sides), or, padding to a square, of the long side (it becomes the square's
        side) with the short side following."""
        if self.pad_fill is not None:
            side = max(width, height)
            long = math.ceil(DRAFT_MARGIN * max(self._target(side, side)))
            return (long, 1) if width >= height else (1, long)
        target_height, target_width = self._target(height, width)
        return math.ceil(DRAFT_MARGIN * target_width), math.ceil(DRAFT_MARGIN * target_height)

    def _reduction(self, width: int, height: int) -> int:
        """The largest of 8, 4, 2 that keeps ``decode_size``; padding also needs the square's
        offsets whole in reduced pixels (a half-pixel shift of the picture would cost more than
        the reduction saves). 1: decode in full."""
        if max(width, height) > DRAFT_MAX_ASPECT * min(width, height):
            return 1  # thin strips take the shrink-first paths, which want the full image
        need_width, need_height = self.decode_size(width, height)
        side = max(width, height)
        for factor in DRAFT_FACTORS:
            if width < factor * need_width or height < factor * need_height:
                continue
            if self.pad_fill is None or ((side - width) // 2 % factor == 0 and (side - height) // 2 % factor == 0):
                return factor
        return 1

    def draft(self, image: Image.Image) -> Draft | None:
        """Sets a JPEG that is not decoded yet to decode at the largest power-of-two reduction
        (1/2, 1/4, 1/8: libjpeg's DCT scaling, PIL's ``draft``) whose sides stay >= ``decode_size``
        (so only images at least 3x the output on the relevant side are reduced);
        returns what ``__call__`` needs to resize it on the full image's sampling grid, or None
        where nothing changed (setting off, not a JPEG, already decoded, not much larger).
        Decoding a 3000 x 2000 photo at 1/4 costs a fraction of the full decode the resize would
        mostly throw away."""
        if not self.reduced_decode or image.format != "JPEG" or len(getattr(image, "tile", ())) != 1:
            return None  # not a JPEG, or already decoded (a decoded image has no tile left)
        width, height = image.size
        factor = self._reduction(width, height)
        if factor == 1:
            return None
        # The image's own mode: only the scale changes; the colour conversion stays to_rgb's.
        chosen = image.draft(image.mode, (width // factor, height // factor))
        if chosen is None or image.size == (width, height):
            return None
        # The box is the full image's extent in decoded pixels (width / factor, ...).
        return Draft(width, height, round(width / chosen[1][2]))

    def _resize(self, pixels: torch.Tensor, target: tuple[int, int]) -> torch.Tensor:
        if target == tuple(pixels.shape[1:]):
            return pixels
        return tvF.resize(pixels, list(target), interpolation=self.interpolation, antialias=True)

    def _limit(self, pixels: torch.Tensor) -> int:
        out = self.crop or self._target(*pixels.shape[1:])
        return INTERMEDIATE_LIMIT * max(out[0] * out[1], pixels.shape[1] * pixels.shape[2])

    def _pad(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pads to a square centred as ``pad_to_square``; shrinks first when the square is too big."""
        height, width = pixels.shape[1:]
        side = max(height, width)
        if height == width:
            return pixels
        if side * side > self._limit(pixels):
            target = self._target(side, side)
            # Pad the short side to a few output pixels' worth first, so a strip thinner than one
            # output pixel blends into the fill colour as it does in the full-size square.
            short = min(side, max(min(height, width), math.ceil(PAD_FIRST_PIXELS * side / min(target))))
            pixels = self._pad_to(pixels, (max(height, short) if height < width else height,
                                           max(width, short) if width < height else width))
            height, width = pixels.shape[1:]
            pixels = self._resize(pixels, (max(1, round(height * target[0] / side)),
                                           max(1, round(width * target[1] / side))))
            height, width = pixels.shape[1:]
            outer = target
        else:
            outer = (side, side)
        return self._pad_to(pixels, outer)

    def _pad_to(self, pixels: torch.Tensor, outer: tuple[int, int]) -> torch.Tensor:
        height, width = pixels.shape[1:]
        top, left = (outer[0] - height) // 2, (outer[1] - width) // 2
        return tvF.pad(pixels, [left, top, outer[1] - width - left, outer[0] - height - top], fill=self.pad_fill)

    def _resize_and_crop_long(self, pixels: torch.Tensor) -> torch.Tensor | None:
        """Resize and centre crop of an image whose resized form would be too big: only the source
        window under the crop (plus the filter's reach) is resized, on the same sampling grid
        (same scale factors) as the whole image would be, so the result matches within a shift
        of under half an output pixel. None for ordinary shapes."""
        height, width = pixels.shape[1:]
        target = self._target(height, width)
        if not self.crop or target[0] * target[1] <= self._limit(pixels):
            return None
        start, stop, offset = [], [], []
        for size, out, crop in zip((height, width), target, self.crop):
            scale = size / out  # source pixels per output pixel
            first_out = int((out - crop) / 2.0)
            reach = math.ceil(2 * max(1.0, scale)) + 2
            first = max(0, math.floor(first_out * scale) - reach)
            start.append(first)
            stop.append(min(size, math.ceil((first_out + crop) * scale) + reach))
            offset.append(round(first_out - first / scale))
        window = pixels[None, :, start[0]:stop[0], start[1]:stop[1]]
        resized = torch.nn.functional.interpolate(
            window, scale_factor=(target[0] / height, target[1] / width), mode=self.interpolation.value,
            antialias=self.interpolation != tvF.InterpolationMode.NEAREST, recompute_scale_factor=False)[0]
        crop = resized[:, offset[0]:offset[0] + self.crop[0], offset[1]:offset[1] + self.crop[1]]
        if tuple(crop.shape[1:]) != self.crop:
            return None  # the window fell short (should not happen); do it the plain way
        return crop

    def _resize_drafted(self, pixels: torch.Tensor, draft: Draft) -> torch.Tensor:
        """Pad (when padding) and resize of an image decoded at 1/``draft.factor``, on the sampling
        grid of the full image: the scale factors are the full image's (target over full size,
        times the factor), not the decoded size's, whose sides libjpeg rounds up."""
        factor, height, width = draft.factor, draft.height, draft.width
        if self.pad_fill is not None and height != width:
            side = max(height, width)
            outer = -(-side // factor)
            # _reduction chose a factor that divides both offsets, so the picture sits where it
            # sits in the full-size square.
            top, left = (side - height) // 2 // factor, (side - width) // 2 // factor
            pixels = tvF.pad(pixels, [left, top, outer - pixels.shape[2] - left, outer - pixels.shape[1] - top],
                             fill=self.pad_fill)
            height = width = side
        target = self._target(height, width)
        # A hair over the exact factor, so floor(decoded size * factor) is never one pixel short.
        scale = (target[0] * factor / height * (1 + 1e-9), target[1] * factor / width * (1 + 1e-9))
        resized = torch.nn.functional.interpolate(
            pixels[None], scale_factor=scale, mode=self.interpolation.value,
            antialias=self.interpolation != tvF.InterpolationMode.NEAREST, recompute_scale_factor=False)[0]
        return resized[:, :target[0], :target[1]]

    def __call__(self, image: Image.Image, draft: Draft | None = None) -> torch.Tensor:
        """(3, H, W) float32 tensor of one image. An image not decoded yet is first set to decode
        at reduced size where that loses nothing the output keeps (``draft``); ``draft`` is what
        an earlier call of ``draft`` on this image returned, when the caller decoded it itself."""
        draft = draft or self.draft(image)
        pixels = tvF.pil_to_tensor(to_rgb(image))
        cropped = None
        if draft is not None:
            pixels = self._resize_drafted(pixels, draft)
        else:
            if self.pad_fill is not None:
                pixels = self._pad(pixels)
            cropped = self._resize_and_crop_long(pixels)
            pixels = cropped if cropped is not None else self._resize(pixels, self._target(*pixels.shape[1:]))
        if self.crop and cropped is None:
            height, width = self.crop
            if pixels.shape[1] < height or pixels.shape[2] < width:
                raise ValueError(f"image of {tuple(pixels.shape[1:])} is smaller than the crop {self.crop}")
            top, left = int((pixels.shape[1] - height) / 2.0), int((pixels.shape[2] - width) / 2.0)
            pixels = pixels[:, top:top + height, left:left + width]
        # The resize leaves a channels-last layout; converting straight to a contiguous float
        # tensor does the transpose in the same pass (2.5x faster than normalising in place).
        pixels = pixels.to(torch.float32, memory_format=torch.contiguous_format)
        return pixels.sub_(self.mean).div_(self.std)
