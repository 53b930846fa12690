"""The ``image_aspect`` model setting: how a non-square image becomes the vision tower's square input.

    pad     pad to a square with the image processor's mean colour, then resize (LLaVA-1.5's
            ``image_aspect_ratio: pad``, its ``expand2square``): the whole image is seen, undistorted;
    crop    the tower's own processor: resize the short side, cut the centre (CLIP's; the edges
            of a wide image are lost);
    resize  squash the whole image to the input size (aspect ratio not kept).

Each mode is expressed as a Hugging Face image processor (``pad`` and ``resize`` as a
``LlavaImageProcessor``, whose ``do_pad`` pads exactly as LLaVA-1.5 did), so training (through
``ImageTransform.from_hf``) and the exported model folder preprocess the same way by construction.
"""

from __future__ import annotations

from typing import Any

import transformers

IMAGE_ASPECTS = ("pad", "crop", "resize")


def check_image_aspect(value: str) -> str:
    """``value`` when it is a known mode; ``ValueError`` naming the setting otherwise."""
    if value not in IMAGE_ASPECTS:
        raise ValueError(f"model.image_aspect={value!r}; expected one of {IMAGE_ASPECTS}")
    return value


def _output_size(base: Any) -> dict[str, int]:
    crop = getattr(base, "crop_size", None) or {}
    if getattr(base, "do_center_crop", False) and crop.get("height"):
        return {"height": crop["height"], "width": crop["width"]}
    size = getattr(base, "size", None) or {}
    if size.get("height"):
        return {"height": size["height"], "width": size["width"]}
    if size.get("shortest_edge"):
        return {"height": size["shortest_edge"], "width": size["shortest_edge"]}
    raise ValueError(f"cannot tell the input size of image processor {type(base).__name__} ({size})")


def _llava_class(base: Any) -> type:
    # Keep the base processor's backend: transformers < 5.2x names the torchvision one "...Fast".
    if type(base).__name__.endswith("Fast") and hasattr(transformers, "LlavaImageProcessorFast"):
        return transformers.LlavaImageProcessorFast
    return transformers.LlavaImageProcessor


def aspect_image_processor(base: Any, image_aspect: str) -> Any:
    """The image processor that preprocesses as ``image_aspect`` says, built from the vision
    tower's own ``base`` processor (its mean, std, filter, rescale factor and sizes)."""
    check_image_aspect(image_aspect)
    if image_aspect == "crop":
        return base
    common = {"do_resize": True, "resample": base.resample, "do_rescale": base.do_rescale,
              "rescale_factor": base.rescale_factor, "do_normalize": base.do_normalize,
              "image_mean": list(base.image_mean), "image_std": list(base.image_std), "do_convert_rgb": True}
    if image_aspect == "pad":
        # The padded square then goes through the tower's own resize and crop (a no-op crop for
        # CLIP-336, whose short-side resize of a square is already 336 x 336).
        crop = getattr(base, "crop_size", None)
        return _llava_class(base)(do_pad=True, size=dict(base.size), crop_size=dict(crop) if crop else None,
                                  do_center_crop=bool(getattr(base, "do_center_crop", False)), **common)
    return _llava_class(base)(do_pad=False, size=_output_size(base), do_center_crop=False, **common)
