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
    losses, selected = labelled_token_losses(hidden, labels, head)
    logits = head(hidden)[:, :-1].reshape(-1, 11)
    reference = F.cross_entropy(logits, labels[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX)
    assert torch.allclose(losses.mean(), reference, atol=1e-6)
    assert selected.nonzero()[:, 0].tolist() == [0, 0, 0, 1, 1]


def test_chunked_labelled_loss_has_the_full_logits_loss_and_gradients():
    torch.manual_seed(0)
    hidden = torch.randn(3, 40, 8, requires_grad=True)
    head = torch.nn.Linear(8, 13, bias=False)
    labels = torch.randint(0, 13, (3, 40))
    labels[:, :7] = IGNORE_INDEX
    chunked, _ = labelled_token_losses(hidden, labels, head, chunk_tokens=16)  # 99 targets: 7 chunks
    chunked.mean().backward()
    grads = hidden.grad.clone(), head.weight.grad.clone()
    hidden.grad = head.weight.grad = None
    logits = head(hidden)[:, :-1].reshape(-1, 13)
    reference = F.cross_entropy(logits, labels[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX)
    reference.backward()
    assert torch.allclose(chunked.mean(), reference, atol=1e-6)
    assert torch.allclose(grads[0], hidden.grad, atol=1e-6) and torch.allclose(grads[1], head.weight.grad, atol=1e-6)


def test_packed_and_padded_batches_give_the_same_loss_and_gradients(tiny_paths, synthetic_root):
    from helpers import make_model
    from lightning_mllm.collate import Collator
    from datamodules.samples import decode_sample, encode_sample, read_shard

    model = make_model(tiny_paths, stage="stage2", connector="linear")
    for name, param in model.llm.named_parameters():  # LoRA B starts at zero: give it weight
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.02)
    raw = [r for _, r in zip(range(6), read_shard(str(next((synthetic_root / "train").glob("en-*.tar")))))]
    samples = [encode_sample(decode_sample(r), model.processor, with_prompt=False) for r in raw]
    samples[2]["pixel_values"] = None  # a text-only sample among image ones
    samples[2]["input_ids"] = [t for t in samples[2]["input_ids"] if t >= 0]
    samples[2]["labels"] = samples[2]["labels"][-len(samples[2]["input_ids"]):]
    longest = max(len(s["input_ids"]) for s in samples)
    results = []
    for collate in (Collator(0), Collator(0, pack_length=2 * longest)):
        batch = collate(samples)
        model.zero_grad()
        losses, owners = model.token_losses(batch)
        losses.mean().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
        per_sample = [losses[owners == i].sum() for i in range(len(samples))]
        results.append((batch["input_ids"].shape[0], losses.mean(), grads, per_sample))
    (rows_padded, loss_padded, grads_padded, each_padded), (rows_packed, loss_packed, grads_packed, each_packed) = results
    assert rows_packed < rows_padded == 6
    assert torch.allclose(loss_packed, loss_padded, atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(each_packed, each_padded))
    for name, grad in grads_padded.items():
        assert torch.allclose(grads_packed[name], grad, atol=1e-5, rtol=1e-4), name
