"""The fast adapter path (bfloat16 LoRA weights) loses no update against float32 LoRA weights, and its
optimizer state (Kahan compensations included) checkpoints and resumes exactly."""

from __future__ import annotations

import io

import optimi
import pytest
import torch
from helpers import make_model

from lightning_mllm.optimizers import adamw, master_weights

LR = 2e-6  # late in the cosine schedule, where bfloat16 storage drops most updates


def _lora(model) -> list[torch.nn.Parameter]:
    return [p for n, p in model.llm.named_parameters() if ".lora_" in n]


def _batch(model):
    fmt = model.processor.formatter
    encoded = [fmt.encode([{"role": "user", "content": question}, {"role": "assistant", "content": answer}],
                          has_image=False)
               for question, answer in (("Zer kolore du zeruak?", "Urdina, egun argietan."),
                                        ("What is two plus two?", "Four, written as 4."))]
    longest = max(len(e.input_ids) for e in encoded)
    pad = model.processor.pad_token_id
    ids = torch.tensor([e.input_ids + [pad] * (longest - len(e.input_ids)) for e in encoded])
    labels = torch.tensor([e.labels + [-100] * (longest - len(e.labels)) for e in encoded])
    mask = torch.tensor([[1] * len(e.input_ids) + [0] * (longest - len(e.input_ids)) for e in encoded])
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _models(tiny_paths):
    """The fast path (bfloat16 LoRA weights) and the float32-LoRA reference, on the same bfloat16
    backbone, starting from the same LoRA values (B given weight, as after some training)."""
    models = {}
    for lora_dtype in ("bfloat16", "float32"):
        torch.manual_seed(0)
        models[lora_dtype] = make_model(tiny_paths, stage="stage2", llm_dtype="bfloat16", lora_dtype=lora_dtype,
                                        connector_lr=LR, llm_lr=LR)
    generator = torch.Generator().manual_seed(1)
    for fast, reference in zip(_lora(models["bfloat16"]), _lora(models["float32"])):
        value = (torch.randn(fast.shape, generator=generator) * 0.05).to(torch.bfloat16)
        fast.data.copy_(value)
        reference.data.copy_(value.float())
    assert all(p.dtype == torch.bfloat16 for p in _lora(models["bfloat16"]))
    assert all(p.dtype == torch.float32 for p in _lora(models["float32"]))
    return models["bfloat16"], models["float32"]


def _step(model) -> torch.optim.Optimizer:
    optimizer = model.configure_optimizers()["optimizer"]
    for group in optimizer.param_groups:  # the schedule starts at 0 (warm-up); take the rate itself
        group["lr"] = LR
    model.token_losses(_batch(model))[0].mean().backward()
    optimizer.step()
    return optimizer


def test_one_step_at_a_small_rate_changes_every_weight_the_float32_reference_changes(tiny_paths):
    fast, reference = _models(tiny_paths)
    before = [p.detach().float().clone() for p in _lora(fast)]
    optimizer = _step(fast)
    _step(reference)
    masters = master_weights(optimizer)
    changed_reference = changed = kept_by_rounding = 0
    for p, ref, start in zip(_lora(fast), _lora(reference), before):
        moved = ref.detach() != start
        assert (masters[p] != start)[moved].all()
        changed_reference += int(moved.sum())
        changed += int(((masters[p] != start) & moved).sum())
        kept_by_rounding += int(((p.detach().float() == start) & moved).sum())
    assert changed_reference > 1000 and changed == changed_reference
    # The stored bfloat16 weights alone kept most of these updates back (the Kahan buffer holds them).
    assert kept_by_rounding > 0.5 * changed_reference


def _replay(params: list[torch.Tensor], gradients: list[list[torch.Tensor]], optimizer_factory) -> list[torch.Tensor]:
    """Runs ``optimizer_factory`` over ``params`` with the given gradient stream; returns the
    full-precision total change of each parameter."""
    start = [p.detach().float().clone() for p in params]
    optimizer = optimizer_factory([{"params": params, "lr": LR}])
    for step in gradients:
        for p, g in zip(params, step):
            p.grad = g.to(p.dtype, copy=True)  # optimi reuses .grad as scratch space
        optimizer.step()
    masters = master_weights(optimizer)
    return [masters[p] - s for p, s in zip(params, start)]


def test_200_steps_move_the_weights_as_far_as_float32_storage(tiny_paths):
    fast, _ = _models(tiny_paths)
    fast.token_losses(_batch(fast))[0].mean().backward()
    real = [p.grad.float() for p in _lora(fast)]
    generator = torch.Generator().manual_seed(2)
    # A real gradient plus noise of its own size, 200 times: what late training sees.
    stream = [[g + g.std() * torch.randn(g.shape, generator=generator) for g in real] for _ in range(200)]
    values = [p.detach().float() for p in _lora(fast)]

    def total(changes):
        return float(torch.linalg.vector_norm(torch.cat([c.flatten() for c in changes])))

    reference = total(_replay([torch.nn.Parameter(v.clone()) for v in values], stream,
                              lambda groups: torch.optim.AdamW(groups, weight_decay=0.0)))
    kahan = total(_replay([torch.nn.Parameter(v.clone().bfloat16()) for v in values], stream, adamw))
    plain = total(_replay([torch.nn.Parameter(v.clone().bfloat16()) for v in values], stream,
                          lambda groups: torch.optim.AdamW(groups, weight_decay=0.0)))
    assert reference > 0
    assert abs(kahan - reference) <= 0.05 * reference, (kahan, reference)
    assert plain < 0.5 * reference, (plain, reference)  # bfloat16 storage alone keeps a small part


def test_optimizer_choice_follows_the_weights_dtype():
    weights = torch.nn.Parameter(torch.randn(4, 4))
    assert type(adamw([{"params": [weights], "lr": 1e-3}])) is torch.optim.AdamW
    low = torch.nn.Parameter(torch.randn(4, 4).bfloat16())
    assert isinstance(adamw([{"params": [weights], "lr": 1e-3}, {"params": [low], "lr": 1e-3}]), optimi.AdamW)


def test_kahan_state_checkpoints_and_resumes_exactly():
    generator = torch.Generator().manual_seed(3)
    grads = [[torch.randn(8, 16, generator=generator), torch.randn(16, generator=generator)] for _ in range(6)]

    def fresh():
        torch.manual_seed(0)
        params = [torch.nn.Parameter(torch.randn(8, 16).bfloat16()), torch.nn.Parameter(torch.randn(16))]
        return params, adamw([{"params": params[:1], "lr": 1e-4}, {"params": params[1:], "lr": 1e-3}],
                             weight_decay=0.01)

    def run(params, optimizer, steps):
        for step in steps:
            for p, g in zip(params, step):
                p.grad = g.to(p.dtype, copy=True)  # optimi reuses .grad as scratch space
            optimizer.step()

    params, optimizer = fresh()
    run(params, optimizer, grads)
    expected = [p.detach().clone() for p in params]

    params, optimizer = fresh()
    run(params, optimizer, grads[:3])
    buffer = io.BytesIO()
    torch.save({"params": [p.detach() for p in params], "optimizer": optimizer.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)  # what a Lightning checkpoint holds and reloads
    assert torch.count_nonzero(saved["optimizer"]["state"][0]["kahan_comp"]) > 0
    params, optimizer = fresh()
    with torch.no_grad():
        for p, value in zip(params, saved["params"]):
            p.copy_(value)
    optimizer.load_state_dict(saved["optimizer"])
    run(params, optimizer, grads[3:])
    for p, want in zip(params, expected):
        assert torch.equal(p.detach(), want)


@pytest.mark.parametrize("dtype", [torch.float32])
def test_kahan_adamw_on_float32_weights_is_pytorch_adamw(dtype):
    torch.manual_seed(0)
    start = torch.randn(32, 8, dtype=dtype)
    grads = [torch.randn(32, 8, dtype=dtype) for _ in range(5)]
    low = torch.nn.Parameter(torch.zeros(2).bfloat16())  # makes adamw() choose optimi
    ours, theirs = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    optimizer = adamw([{"params": [ours], "lr": 1e-2}, {"params": [low], "lr": 1e-2}], weight_decay=0.1)
    reference = torch.optim.AdamW([theirs], lr=1e-2, weight_decay=0.1)
    for g in grads:
        ours.grad, theirs.grad = g.clone(), g.clone()
        optimizer.step()
        reference.step()
    torch.testing.assert_close(ours.detach(), theirs.detach(), rtol=1e-5, atol=1e-6)
