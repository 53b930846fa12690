"""Splicing image features into embeddings, and the labelled-positions-only loss."""

import pytest
import torch
import torch.nn.functional as F

from lightning_mllm.chat_format import IGNORE_INDEX, IMAGE_TOKEN_ID
from lightning_mllm.fusion import labelled_token_losses, splice_image_features


def test_features_land_on_the_placeholder_positions_in_order():
    ids = torch.tensor([[5, IMAGE_TOKEN_ID, IMAGE_TOKEN_ID, 6], [IMAGE_TOKEN_ID, IMAGE_TOKEN_ID, 7, 8]])
    embeds = torch.zeros(2, 4, 3)
    features = torch.arange(12, dtype=torch.float).reshape(2, 2, 3) + 1
    out = splice_image_features(embeds, ids == IMAGE_TOKEN_ID, features)
    assert torch.equal(out[0, 1:3], features[0]) and torch.equal(out[1, 0:2], features[1])
    assert torch.equal(out[0, [0, 3]], torch.zeros(2, 3)) and torch.equal(out[1, 2:], torch.zeros(2, 3))


def test_feature_count_mismatch_is_an_error():
    ids = torch.tensor([[IMAGE_TOKEN_ID, IMAGE_TOKEN_ID, 1]])
    with pytest.raises(ValueError, match="image positions"):
        splice_image_features(torch.zeros(1, 3, 2), ids == IMAGE_TOKEN_ID, torch.zeros(2, 2, 2))


def test_labelled_loss_equals_full_logits_loss():
    torch.manual_seed(0)
    hidden = torch.randn(2, 6, 8)
    head = torch.nn.Linear(8, 11, bias=False)
    labels = torch.tensor([[IGNORE_INDEX, IGNORE_INDEX, 3, 4, IGNORE_INDEX, 9],
                           [IGNORE_INDEX, 1, 2, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]])
    losses, rows = labelled_token_losses(hidden, labels, head)
    logits = head(hidden)[:, :-1].reshape(-1, 11)
    reference = F.cross_entropy(logits, labels[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX)
    assert torch.allclose(losses.mean(), reference, atol=1e-6)
    assert rows.tolist() == [0, 0, 0, 1, 1]
