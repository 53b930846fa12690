"""Two DDP processes (CPU, gloo) with half a real batch each give the loss and gradients of one
process with the whole batch: the loss is the mean over the global batch's labelled tokens."""

from __future__ import annotations

import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import make_model
from torch.nn.parallel import DistributedDataParallel

from datamodules.collate import Collator
from datamodules.mixture_datamodule import MixtureDataModule
from datamodules.mixture_weights import Source
from lightning_mllm.fusion import global_token_mean


def _gradients(model) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


class _TokenLosses(torch.nn.Module):
    """The model's per-token losses as a forward pass, so DDP's gradient hooks see them."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, batch):
        return self.model.token_losses(batch)[0]


def _rank(rank: int, port: int, tiny_paths, samples, pad_id, results) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    torch.manual_seed(0)
    model = make_model(tiny_paths, stage="stage2")
    ddp = DistributedDataParallel(_TokenLosses(model))
    half = Collator(pad_id)(samples[rank * 4:(rank + 1) * 4])  # padded to this rank's own longest row

    def all_reduce_sum(tensor):
        dist.all_reduce(tensor)
        return tensor

    loss = global_token_mean(ddp(half), 2, all_reduce_sum)
    loss.backward()
    mean_loss = loss.detach().clone()
    dist.all_reduce(mean_loss)
    results[rank] = (float(mean_loss) / 2, _gradients(model))
    dist.destroy_process_group()


def test_two_ranks_match_one_process_with_the_whole_batch(tiny_paths, synthetic_root):
    dm = MixtureDataModule(train_sources=[Source("en", ["train/en-*.tar"], 0.5, "en"),
                                          Source("eu", ["train/eu-*.tar"], 0.5, "eu")],
                           data_root=str(synthetic_root), batch_size=8, num_workers=0, samples_per_epoch=8,
                           group_batches=1)
    torch.manual_seed(0)
    model = make_model(tiny_paths, stage="stage2")
    dm.processor = model.processor
    dm.setup("fit")
    stream = dm.train_dataloader().dataset
    samples = next(iter(stream))  # the real stream's first batch, before collation
    pad_id = model.processor.pad_token_id
    whole = Collator(pad_id)(samples)
    losses, _ = model.token_losses(whole)
    loss = global_token_mean(losses, 1, None)
    loss.backward()
    reference = _gradients(model)
    assert len({len(s["input_ids"]) for s in samples}) > 1  # rows of different lengths: padding differs
    # The halves hold different numbers of labelled tokens, so per-rank means would not match.
    labelled = [sum(label != -100 for s in samples[h * 4:(h + 1) * 4] for label in s["labels"]) for h in (0, 1)]
    assert labelled[0] != labelled[1]

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    results = mp.Manager().dict()
    mp.spawn(_rank, args=(port, tiny_paths, samples, pad_id, results), nprocs=2, join=True)
    for rank in (0, 1):
        rank_loss, gradients = results[rank]
        assert abs(rank_loss - float(loss)) < 1e-5
        assert gradients.keys() == reference.keys()
        for name, gradient in gradients.items():
            torch.testing.assert_close(gradient, reference[name], rtol=1e-4, atol=1e-6, msg=name)
