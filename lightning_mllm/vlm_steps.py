"""The Lightning hooks ``PretrainedVLM`` and ``MultimodalLM`` share: per-language loss logging, the
validation step with its blind control, benchmark test and predict steps, AdamW with the warm-up cosine schedule, and checkpoints
that hold only the trainable weights.

The host class provides ``token_losses`` and ``generate`` (``evaluation.answering``'s interface).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributed.fsdp import FullyShardedDataParallel

from lightning_mllm.answers import exact_match
from lightning_mllm.blind_control import blind_images
from lightning_mllm.evaluation.answering import answer_batches, gather_answers
from lightning_mllm.optimizers import adamw
from lightning_mllm.schedule import WarmupCosine


class VLMSteps:
    """Mixin for a ``LightningModule`` with ``token_losses``, ``generate`` and ``hparams.weight_decay``,
    ``hparams.warmup_ratio`` and ``hparams.stage``."""

    def _log_losses(self, prefix: str, batch: dict[str, Any], losses: torch.Tensor, samples: torch.Tensor) -> None:
        size = len(batch["lang"])
        self.log(f"{prefix}/loss", losses.mean(), prog_bar=True, batch_size=size, sync_dist=prefix == "val")
        langs = sorted(set(batch["lang"]))
        token_lang = torch.tensor([langs.index(x) for x in batch["lang"]], device=losses.device)[samples]
        for index, lang in enumerate(langs):
            mask = token_lang == index
            if mask.any():
                self.log(f"{prefix}/loss_{lang}", losses[mask].mean(), batch_size=int(mask.sum()))

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, torch.Tensor]:
        losses, samples = self.token_losses(batch)
        self._log_losses("train", batch, losses, samples)
        # The token sum; on_before_optimizer_step divides the window's gradients by its labelled
        # tokens over every micro-batch and rank (loss_normalisation.py). "mean_loss" is for callbacks.
        return {"loss": self.token_mean.step_loss(losses), "mean_loss": losses.detach().mean()}

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Lightning calls this after the window's last backward and before it clips gradients.
        self.token_mean.rescale_gradients(self.trainer, optimizer)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        losses, samples = self.token_losses(batch)
        self._log_losses("val", batch, losses, samples)
        pixels = batch.get("pixel_values")
        runs = {"acc": pixels}
        if pixels is not None and len(pixels) > 1:
            # The control: each image swapped for another of different content. Near-chance accuracy
            # here shows the answers above come from the image, not from the question alone.
            runs["blind_acc"], kept = blind_images(pixels)
            self.log("val/blind_own_image", float(kept), reduce_fx="sum", sync_dist=True, batch_size=len(pixels))
        for name, images in runs.items():
            answers = self.generate(batch["prompt_ids"], batch["prompt_mask"], images)
            correct = [exact_match(a, r, lang) for a, r, lang in zip(answers, batch["answers"], batch["lang"])]
            for lang in sorted(set(batch["lang"])):
                hits = [c for c, x in zip(correct, batch["lang"]) if x == lang]
                self.log(f"val/{name}_{lang}", sum(hits) / len(hits), batch_size=len(hits), sync_dist=True)

    # ----------------------------------------------------------------- benchmarks and prediction
    def on_test_epoch_start(self) -> None:
        self._test_answers: dict[str, dict[str, Any]] = {}

    def test_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        """Answers a batch of benchmark prompts (``datamodules.BenchmarkDataModule``)."""
        self._test_answers.update(answer_batches(self, [batch], batch["max_new_tokens"]))

    def on_test_epoch_end(self) -> None:
        answers = gather_answers(self._test_answers)
        datamodule = self.trainer.datamodule
        if self.trainer.is_global_zero and hasattr(datamodule, "write_results"):
            datamodule.write_results(answers, checkpoint=self.trainer.ckpt_path)

    def predict_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> list[dict[str, Any]]:
        """One ``{"id", "answer", "error"}`` per ``datamodules.PredictionDataModule`` row, in batch order."""
        answers = answer_batches(self, [batch], batch["max_new_tokens"])
        return [{"id": record["id"], "answer": answers[key]["prediction"], "error": answers[key].get("error_message")}
                for key, record in zip(batch["order"], batch["records"])]

    # ----------------------------------------------------------------- optimisation
    def optimizer_and_schedule(self, groups: list[dict[str, Any]]) -> dict[str, Any]:
        """AdamW (Kahan-compensated for low-precision weights, ``optimizers.py``) over ``groups`` with
        the warm-up cosine factor per step."""
        optimizer = adamw(groups, weight_decay=self.hparams.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(self.hparams.warmup_ratio))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_train_start(self) -> None:
        # The schedule learns the run's length only now (see WarmupCosine); the rates set at
        # construction (or restored from a checkpoint) are recomputed for the current step.
        scheduler = self.lr_schedulers()
        schedule = getattr(scheduler, "lr_lambdas", [None])[0]
        if not isinstance(schedule, WarmupCosine):
            return
        schedule.total_steps = int(self.trainer.estimated_stepping_batches)
        factor = schedule(scheduler.last_epoch)
        for group, base in zip(scheduler.optimizer.param_groups, scheduler.base_lrs):
            group["lr"] = base * factor
        scheduler._last_lr = [group["lr"] for group in scheduler.optimizer.param_groups]

    def configure_gradient_clipping(self, optimizer: torch.optim.Optimizer, gradient_clip_val: float | None = None,
                                    gradient_clip_algorithm: str | None = None) -> None:
        # Lightning's FSDP precision refuses norm clipping (no handle on the root unit, Lightning
        # issue 19235); the root FSDP module's clip_grad_norm_ takes the norm over all shards.
        root = self.trainer.strategy.model
        norm = gradient_clip_algorithm in (None, "norm")
        if gradient_clip_val and norm and isinstance(root, FullyShardedDataParallel):
            root.clip_grad_norm_(gradient_clip_val)
            return
        self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)

    # ----------------------------------------------------------------- checkpoints
    def _trainable_names(self) -> set[str]:
        # Under FSDP (and activation checkpointing) parameter names carry wrapper prefixes that the
        # state dict's keys do not; strip them so the filter keeps the same weights either way.
        return {n.replace("_fsdp_wrapped_module.", "").replace("_checkpoint_wrapped_module.", "")
                for n, p in self.named_parameters() if p.requires_grad}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The frozen weights are reloaded from their ids or folders; only what trained is stored
        # (storing an 8B backbone would cost 16 GB per save).
        names = self._trainable_names()
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in names}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        missing = sorted(self._trainable_names() - set(checkpoint["state_dict"]))
        if missing:
            raise KeyError(f"checkpoint lacks {len(missing)} trainable weight(s) of stage "
                           f"{self.hparams.stage!r}, e.g. {missing[:3]}")
