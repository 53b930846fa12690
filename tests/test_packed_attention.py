"""``sdpa_packed`` (lightning_mllm/packed_attention.py) against transformers' own ``sdpa``."""

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from lightning_mllm.packed_attention import ATTENTION


@pytest.fixture
def llama():
    torch.manual_seed(0)
    # Grouped-query attention (4 query heads over 2 kv heads), as Llama-3's.
    config = LlamaConfig(vocab_size=97, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2)
    return LlamaForCausalLM(config)


def _run(model, attention, **inputs):
    model.set_attn_implementation(attention)
    model.zero_grad()
    hidden = model.model(use_cache=False, **inputs).last_hidden_state
    hidden.square().sum().backward()
    return hidden.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_packed_rows_equal_the_block_diagonal_mask_and_each_sample_alone(llama):
    ids = torch.randint(0, 97, (2, 30))
    # Row 0: samples of 10, 15 and 3 tokens, then 2 of padding (a sample of its own, as the
    # collator writes it); row 1: one sample.
    positions = torch.tensor([[*range(10), *range(15), *range(3), *range(2)], list(range(30))])
    packed, packed_grads = _run(llama, ATTENTION, input_ids=ids, position_ids=positions, attention_mask=None)
    dense, dense_grads = _run(llama, "sdpa", input_ids=ids, position_ids=positions, attention_mask=None)
    assert torch.allclose(packed, dense, atol=1e-5)
    for name, grad in dense_grads.items():  # float32 sums in another order: equal to 1e-4 of their scale
        assert torch.allclose(packed_grads[name], grad, atol=1e-4 * grad.abs().max().item(), rtol=1e-4), name
    # The middle sample, run alone, sees nothing of its neighbours.
    alone, _ = _run(llama, "sdpa", input_ids=ids[:1, 10:25])
    assert torch.allclose(packed[:1, 10:25], alone, atol=1e-5)
    # Without the position ids' restarts the row is one causal sequence: different outputs.
    whole, _ = _run(llama, ATTENTION, input_ids=ids, attention_mask=None)
    assert not torch.allclose(whole[0, 10:25], packed[0, 10:25], atol=1e-3)


def test_padded_batches_and_generation_are_transformers_sdpa(llama):
    ids = torch.randint(0, 97, (2, 12))
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0  # right padding
    packed, packed_grads = _run(llama, ATTENTION, input_ids=ids, attention_mask=mask)
    dense, dense_grads = _run(llama, "sdpa", input_ids=ids, attention_mask=mask)
    assert torch.equal(packed, dense)
    assert all(torch.equal(packed_grads[n], g) for n, g in dense_grads.items())
    left = torch.ones_like(ids)
    left[0, :3] = 0  # generation pads on the left and decodes with a cache
    outputs = []
    for attention in (ATTENTION, "sdpa"):
        llama.set_attn_implementation(attention)
        outputs.append(llama.generate(input_ids=ids, attention_mask=left, max_new_tokens=6, do_sample=False,
                                      pad_token_id=0))
    assert torch.equal(*outputs)


def test_the_project_model_uses_it_by_default(tiny_paths):
    from helpers import make_model

    model = make_model(tiny_paths, stage="stage1")
    assert model.llm.config._attn_implementation == ATTENTION


def test_sample_lengths_are_read_once_per_forward_not_once_per_layer(llama, monkeypatch):
    from lightning_mllm import packed_attention

    reads = []
    original = torch.Tensor.tolist
    monkeypatch.setattr(torch.Tensor, "tolist", lambda self: reads.append(self.shape) or original(self))
    positions = torch.tensor([[*range(10), *range(20)]])
    packed_attention._sample_lengths._positions = None
    llama.set_attn_implementation(ATTENTION)
    llama.model(input_ids=torch.randint(0, 97, (1, 30)), position_ids=positions, attention_mask=None, use_cache=False)
    assert reads.count(torch.Size([1, 30])) == 1  # two layers, one read
