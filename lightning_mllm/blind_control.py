"""The blind control's image swap: every sample gets an image whose content differs from its own.

VQA-style data asks several questions about one image, so neighbouring samples often share it and a
plain shift (each sample takes the next one's image) would hand some samples their own picture back,
inflating blind accuracy. Images are grouped by content (equal pixel tensors); samples sorted by group
and shifted by the size of the largest group land in another group whenever no group holds more than
half of the batch. Beyond that, the samples left with their own group take, in turn, an image of
another group; only a batch whose images are all equal leaves samples with no other image.
"""

from __future__ import annotations

import torch


def content_groups(pixels: torch.Tensor) -> torch.Tensor:
    """One group id per image; equal ids exactly when the pixel tensors are equal."""
    return torch.unique(pixels.reshape(len(pixels), -1), dim=0, return_inverse=True)[1]


def other_image_order(groups: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Deterministically picks, for each image, another image of a different group.

    Args:
        groups: The content group of each image (``content_groups``).

    Returns:
        ``source`` such that image ``i`` is replaced by image ``source[i]`` (a permutation whenever
        no group holds more than half of the images), and how many images kept their own content
        because every image in the batch has it.
    """
    groups = groups.cpu()
    n = len(groups)
    order = torch.sort(groups, stable=True).indices
    largest = int(torch.bincount(groups).max()) if n else 0
    source = torch.empty(n, dtype=torch.long)
    # A group occupies a contiguous run of at most `largest` places in `order`; a shift by `largest`
    # moves every place out of its run whenever the others fill at least as many places.
    source[order] = order.roll(-largest) if n else order
    clashes = (groups[source] == groups).nonzero().flatten().tolist()
    others = {}
    for i in clashes:  # only when one group holds more than half of the batch
        candidates = others.setdefault(int(groups[i]), (groups != groups[i]).nonzero().flatten().tolist())
        if candidates:
            source[i] = candidates[i % len(candidates)]
    impossible = int((groups[source] == groups).sum())
    return source, impossible


def blind_images(pixels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The batch's images rearranged so that none is given back to a sample with the same content.

    Returns:
        The rearranged images, and the number of samples that still see their own content (all
        images of the batch are identical).
    """
    source, impossible = other_image_order(content_groups(pixels))
    return pixels[source.to(pixels.device)], impossible
