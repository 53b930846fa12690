"""The blind control's swap never gives a sample an image equal to its own while another exists."""

import itertools

import torch

from lightning_mllm.blind_control import blind_images, content_groups, other_image_order


def _images(contents: list[int]) -> torch.Tensor:
    """One 3x4x4 image per entry; equal entries give equal pixel tensors, different ones differ."""
    return torch.stack([torch.full((3, 4, 4), float(c)) + torch.arange(16.0).reshape(4, 4) for c in contents])


def test_four_samples_sharing_one_image_never_get_it_back():
    pixels = _images([7, 7, 7, 7, 1, 2, 3, 4])  # a VQA-style batch: four questions on one picture
    assert torch.equal(pixels.roll(1, dims=0)[1], pixels[1])  # the old shift handed it back
    swapped, kept = blind_images(pixels)
    assert kept == 0
    for i in range(len(pixels)):
        assert not torch.equal(swapped[i], pixels[i]), i
    # With no group over half of the batch every image is still used exactly once.
    groups = content_groups(pixels)
    source, _ = other_image_order(groups)
    assert sorted(source.tolist()) == list(range(len(pixels)))


def test_every_grouping_of_small_batches_avoids_own_content_where_possible():
    for n in range(2, 7):
        for labels in itertools.product(range(3), repeat=n):
            groups = torch.tensor(labels)
            source, kept = other_image_order(groups)
            own = (groups[source] == groups)
            if len(set(labels)) > 1:
                assert kept == 0 and not own.any(), labels
            else:
                assert kept == n, labels
            if max(labels.count(g) for g in set(labels)) * 2 <= n:
                assert sorted(source.tolist()) == list(range(n)), labels  # a permutation
            assert torch.equal(other_image_order(groups)[0], source)  # deterministic


def test_identical_images_are_counted_as_impossible():
    swapped, kept = blind_images(_images([5, 5, 5]))
    assert kept == 3 and swapped.shape == (3, 3, 4, 4)
