"""Gradient accumulation and data parallelism give the gradient of one big batch: k micro-batches of b
samples, on one process or split over two DDP processes (CPU, gloo), run through a real Lightning
Trainer, end with the gradients of one process holding all k x b samples (the mean over the global
batch's labelled tokens), also after gradient clipping."""

from __future__ import annotations

import os
import socket

import lightning as L
import torch
import torch.multiprocessing as mp
from helpers import make_model
from torch.utils.data import DataLoader

from lightning_mllm.collate import Collator
from datamodules.mixture_datamodule import MixtureDataModule
from lightning_mllm.mixture_weights import Source

TOLERANCE = 1e-6


class _FinalGradients(L.Callback):
    """Keeps the gradients the optimizer steps with (after rescaling and clipping)."""

    def __init__(self):
        self.gradients: dict[str, torch.Tensor] = {}

    def on_train_start(self, trainer, pl_module):
        def keep(optimizer, args, kwargs):
            self.gradients = {n: p.grad.detach().clone() for n, p in pl_module.named_parameters() if p.grad is not None}
        trainer.optimizers[0].register_step_post_hook(keep)


def _model(tiny_paths):
    torch.manual_seed(0)
    model = make_model(tiny_paths, stage="stage2")
    for name, param in model.llm.named_parameters():  # LoRA B starts at zero: give LoRA A gradients too
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.02)
    return model


def _fit(model, micro_batches, accumulate: int, clip: float | None = None, **trainer_args) -> dict[str, torch.Tensor]:
    keeper = _FinalGradients()
    trainer = L.Trainer(accelerator="cpu", max_steps=1, accumulate_grad_batches=accumulate, gradient_clip_val=clip,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
                        callbacks=[keeper], **trainer_args)
    trainer.fit(model, DataLoader(micro_batches, batch_size=None, shuffle=False))
    return keeper.gradients


def _reference(tiny_paths, samples, pad_id) -> dict[str, torch.Tensor]:
    model = _model(tiny_paths)
    losses, _ = model.token_losses(Collator(pad_id)(samples))
    losses.mean().backward()
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def _assert_equal_gradients(gradients, reference, scale: float = 1.0):
    assert gradients.keys() == reference.keys()
    for name, gradient in gradients.items():
        torch.testing.assert_close(gradient, reference[name] * scale, rtol=0, atol=TOLERANCE, msg=name)


def _samples(tiny_paths, synthetic_root):
    """The real stream's first 8 samples, the first two of every four cut to 2 labelled tokens each,
    so micro-batches of 2 hold very different numbers of labelled tokens."""
    dm = MixtureDataModule(train_sources=[Source("en", ["train/en-*.tar"], 0.5, "en"),
                                          Source("eu", ["train/eu-*.tar"], 0.5, "eu")],
                           data_root=str(synthetic_root), batch_size=8, num_workers=0, samples_per_epoch=8,
                           group_batches=1)
    model = make_model(tiny_paths, stage="stage1")
    dm.processor = model.processor
    dm.setup("fit")
    samples = next(iter(dm.train_dataloader().dataset))
    for index in (0, 1, 4, 5):
        labels = list(samples[index]["labels"])
        keep = [i for i, label in enumerate(labels) if label != -100][-1:]
        samples[index] = dict(samples[index], labels=[label if i in keep else -100 for i, label in enumerate(labels)])
    return samples, model.processor.pad_token_id


def _labelled(samples) -> int:
    return sum(label != -100 for s in samples for label in s["labels"][1:])


def test_accumulated_micro_batches_match_one_batch_and_clip_after_rescaling(tiny_paths, synthetic_root):
    samples, pad_id = _samples(tiny_paths, synthetic_root)
    counts = [_labelled(samples[i:i + 2]) for i in range(0, 8, 2)]
    assert max(counts) > 5 * min(counts), counts
    reference = _reference(tiny_paths, samples, pad_id)
    micro = [Collator(pad_id)(samples[i:i + 2]) for i in range(0, 8, 2)]

    _assert_equal_gradients(_fit(_model(tiny_paths), micro, accumulate=4), reference)

    # The old normalisation (each micro-batch by its own tokens) is measurably wrong here.
    model = _model(tiny_paths)
    for batch in micro:
        (model.token_losses(batch)[0].mean() / 4).backward()
    old = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert max(float((old[n] - reference[n]).abs().max()) for n in reference) > 100 * TOLERANCE

    # Clipping sees the rescaled gradients: the clipped result is the reference's, clipped.
    norm = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in reference.values()])))
    clipped = _fit(_model(tiny_paths), micro, accumulate=4, clip=norm / 2)
    _assert_equal_gradients(clipped, reference, scale=(norm / 2) / (norm + 1e-6))


def _rank(rank: int, port: int, tiny_paths, micro_batches, results) -> None:
    # The variables torchrun or SLURM would set: Lightning joins the group instead of launching.
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank),
                      LOCAL_RANK=str(rank), NODE_RANK="0")
    gradients = _fit(_model(tiny_paths), micro_batches[rank], accumulate=2, strategy="ddp", devices=2,
                     use_distributed_sampler=False)
    results[rank] = gradients


def test_two_ranks_accumulating_match_one_process_with_the_whole_batch(tiny_paths, synthetic_root):
    samples, pad_id = _samples(tiny_paths, synthetic_root)
    reference = _reference(tiny_paths, samples, pad_id)
    # Rank 0: samples 0-1 (few labelled tokens) then 2-3; rank 1: 4-5 (few) then 6-7.
    micro = [[Collator(pad_id)(samples[r * 4 + i:r * 4 + i + 2]) for i in (0, 2)] for r in (0, 1)]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    results = mp.Manager().dict()
    mp.spawn(_rank, args=(port, tiny_paths, micro, results), nprocs=2, join=True)
    for rank in (0, 1):
        _assert_equal_gradients(results[rank], reference)
