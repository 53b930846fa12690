"""The global batch in samples: the accumulation steps follow from the micro-batch and the world
size, and the fit loop and the learning-rate schedule see them; norm clipping works under FSDP."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from helpers import tiny_fit_args

from callbacks import GlobalBatchSize
from callbacks.global_batch import accumulation_steps
from train import cli_main

RECORDER = ["--trainer.callbacks+=test_global_batch._Steps"]
GLOBAL_BATCH = ['--trainer.callbacks+={"class_path": "callbacks.GlobalBatchSize", "init_args": {"samples": 8}}']


class _Steps(L.Callback):
    """Records the optimizer steps and the accumulation the loop used, and the gradient norms
    before clipping (``on_before_optimizer_step``) and after it (``on_before_zero_grad``, which
    runs before the next step clears them)."""

    def __init__(self):
        self.before, self.after, self.accumulation = [], [], []

    @staticmethod
    def _norm(module):
        grads = [p.grad.detach().float().norm() for p in module.parameters() if p.grad is not None]
        return float(torch.stack(grads).norm()) if grads else 0.0

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.before.append(self._norm(pl_module))
        self.accumulation.append(trainer.accumulate_grad_batches)

    def on_before_zero_grad(self, trainer, pl_module, optimizer):
        if trainer.global_step:
            self.after.append(self._norm(pl_module))


def test_accumulation_follows_from_samples_micro_batch_and_world():
    assert accumulation_steps(128, 4, 8) == 4            # stage 2 on one node of 8 GPUs
    assert accumulation_steps(128, 4, 8 * 2) == 2        # ... and on two nodes
    assert accumulation_steps(128, 16, 8) == 1           # LLaVA-1.5's own 16 per GPU x 8
    assert accumulation_steps(256, 2, 1) == 128          # one GPU
    with pytest.raises(ValueError, match=r"samples=256\) is not a whole multiple of data.batch_size=32 x 16 "
                                         r"process\(es\) \(trainer.devices x trainer.num_nodes\) = 512"):
        accumulation_steps(256, 32, 16)
    with pytest.raises(ValueError, match=r"samples=128\) .* data.batch_size=3 x 8"):
        accumulation_steps(128, 3, 8)
    with pytest.raises(ValueError, match="must be positive"):
        GlobalBatchSize(0)


def _recorder(trainer) -> _Steps:
    return next(c for c in trainer.callbacks if type(c).__name__ == "_Steps")


def test_fit_steps_once_per_global_batch_and_clips(tmp_path, tiny_paths, synthetic_root):
    # 16 samples in micro-batches of 2 on one device: 8 batches, a global batch of 8 -> 4 per step, 2 steps.
    cli = cli_main(tiny_fit_args(tmp_path, synthetic_root, "--data.init_args.batch_size", "2",
                                 "--trainer.limit_val_batches", "0", "--trainer.gradient_clip_val", "0.01",
                                 *GLOBAL_BATCH, *RECORDER))
    trainer, recorder = cli.trainer, _recorder(cli.trainer)
    assert trainer.accumulate_grad_batches == 4
    assert trainer.num_training_batches == 8 and trainer.global_step == 2
    assert recorder.accumulation == [4, 4]
    assert trainer.estimated_stepping_batches == 2
    # The schedule was sized from the derived value: warm-up and decay over 2 steps, not 8.
    assert cli.model.lr_schedulers().lr_lambdas[0].total_steps == 2
    # Without FSDP the model's clipping hook leaves norm clipping to Lightning; the hook must stay
    # (a refactor once dropped it, and FSDP runs with gradient_clip_val then failed; the FSDP path
    # itself is test_norm_clipping_under_fsdp, on a GPU).
    assert type(cli.model).configure_gradient_clipping is not L.LightningModule.configure_gradient_clipping
    assert recorder.before[0] > 0.1 and len(recorder.after) == 1 and recorder.after[0] <= 0.01 * 1.001


def test_a_global_batch_that_does_not_divide_fails_before_training(tmp_path, tiny_paths, synthetic_root):
    with pytest.raises(ValueError, match=r"GlobalBatchSize\(samples=8\) is not a whole multiple of "
                                         r"data.batch_size=3 x 1 process"):
        cli_main(tiny_fit_args(tmp_path, synthetic_root, "--data.init_args.batch_size", "3", *GLOBAL_BATCH))
    with pytest.raises(ValueError, match="trainer.accumulate_grad_batches=2 is set next to GlobalBatchSize"):
        cli_main(tiny_fit_args(tmp_path, synthetic_root, "--trainer.accumulate_grad_batches", "2", *GLOBAL_BATCH))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="FSDP needs an accelerator (torch refuses CPU FSDP)")
def test_norm_clipping_under_fsdp(tmp_path, tiny_paths, synthetic_root):
    # Lightning's FSDP precision plugin refuses norm clipping; the model clips through the root
    # FSDP unit, so the gradients the optimizer sees have norm <= 0.01.
    strategy = '{"class_path": "lightning_mllm.fsdp.MultimodalFSDPStrategy", "init_args": {"state_dict_type": "full"}}'
    cli = cli_main(tiny_fit_args(tmp_path, synthetic_root, "--data.init_args.batch_size", "2",
                                 "--trainer.limit_val_batches", "0", "--trainer.accelerator", "gpu",
                                 "--trainer.strategy", strategy, "--trainer.gradient_clip_val", "0.01",
                                 "--trainer.enable_checkpointing", "false", *GLOBAL_BATCH, *RECORDER))
    recorder = _recorder(cli.trainer)
    assert cli.trainer.global_step == 2 and recorder.accumulation == [4, 4]
    assert recorder.before[0] > 0.1 and len(recorder.after) == 1 and recorder.after[0] <= 0.01 * 1.001
