"""Evaluation during training: a small English and Basque benchmark every N steps.

Per-language scores go to the logger (``bench/<benchmark>_<lang>``), and a fixed set of images
with the model's answers in both languages goes to TensorBoard as images and a text table, so
one can watch the Basque answers improve (or the English ones degrade) as training runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections import defaultdict
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torchvision.transforms.functional import pil_to_tensor

from lightning_mllm.evaluation.answering import answer_items, gather_answers, rank_share
from lightning_mllm.evaluation.items import BenchItem, ImageDecodeError
from lightning_mllm.evaluation.prompts import user_prompt
from lightning_mllm.evaluation.scoring import score
from lightning_mllm.evaluation.spec import BenchmarkSpec, benchmarks_from, load_benchmarks


def _root_weights_gathered(trainer: L.Trainer) -> contextlib.AbstractContextManager:
    """Under FSDP, the root unit's weights (embeddings, LM head, connector...) are gathered only
    inside the wrapped model's forward; generation from a callback runs outside it, so they are
    gathered here for its duration (each decoder layer's unit still gathers its own when it runs).
    Not yet run on a GPU (issue 5's owed check)."""
    model = trainer.strategy.model
    try:
        from torch.distributed.fsdp import FullyShardedDataParallel
    except ImportError:  # a torch build without distributed support
        return contextlib.nullcontext()
    if isinstance(model, FullyShardedDataParallel):
        return FullyShardedDataParallel.summon_full_params(model, recurse=False, writeback=False)
    return contextlib.nullcontext()


class BenchmarkEval(L.Callback):
    """Runs benchmarks on the training model every ``every_n_steps`` optimizer steps.

    Args:
        benchmarks: The benchmark files (``BenchmarkSpec`` entries), typically small English and
            Basque validation sets, or the path of an evaluation config whose list to use.
        every_n_steps: Steps between evaluations (also evaluated after the last step).
        limit: Items kept per benchmark and language (before circular expansion).
        batch_size: Prompts per generation call.
        show: Items per language whose image, question and answer are logged to TensorBoard.
        only: Keep only these benchmark names (every language of each).
    """

    def __init__(self, benchmarks: list[BenchmarkSpec] | str, every_n_steps: int = 500, limit: int | None = 64,
                 batch_size: int = 16, show: int = 4, only: list[str] | None = None):
        if every_n_steps < 1:
            raise ValueError(f"BenchmarkEval.every_n_steps must be >= 1, got {every_n_steps}")
        # The smaller of the spec's own limit and this one; None only when neither is set.
        self.specs = [dataclasses.replace(s, limit=min((x for x in (s.limit, limit) if x is not None), default=None))
                      for s in benchmarks_from(benchmarks, only)]
        self.every_n_steps = every_n_steps
        self.batch_size = batch_size
        self.show = show
        self.items: list[BenchItem] = []
        self._last_step = -1

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "fit":
            self.items = load_benchmarks(self.specs)  # a bad file fails before training starts

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        step = trainer.global_step
        if step % self.every_n_steps == 0 and step != self._last_step and not trainer.sanity_checking:
            self.run(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step != self._last_step:
            self.run(trainer, pl_module)

    def run(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float]:
        """Evaluates now; every rank answers its share, rank 0 scores and logs. Returns the scores."""
        self._last_step = trainer.global_step
        share = rank_share(self.items, trainer.global_rank, trainer.world_size)
        with _root_weights_gathered(trainer):
            answers = gather_answers(answer_items(pl_module, share, self.batch_size, progress=False))
        if not trainer.is_global_zero:
            return {}
        rows, records = score(self.items, answers)
        metrics = {f"bench/{r['benchmark']}_{r['lang']}": r["score"] for r in rows if r["score"] is not None}
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
        tensorboard = next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
        if tensorboard is not None and self.show:
            self._log_examples(tensorboard.experiment, records, trainer.global_step)
        return metrics

    def _log_examples(self, writer: Any, records: list[dict[str, Any]], step: int) -> None:
        """The first ``show`` items of the first benchmark, with the answer in each language."""
        first = self.items[0].benchmark
        ids = list(dict.fromkeys(r["id"] for r in records if r["benchmark"] == first))[: self.show]
        by_id: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for record in records:
            if record["benchmark"] == first and record["id"] in ids:
                by_id[record["id"]][record["lang"]] = record
        items = {item.key: item for item in self.items}
        for item_id, langs in by_id.items():
            lines = ["| lang | question | answer | expected |", "|---|---|---|---|"]
            for lang, record in sorted(langs.items()):
                item = items[record["key"]]
                expected = record.get("answer") or ", ".join(sorted(set(record.get("answers", [])))) or record.get("reference", "")
                question = user_prompt(item).replace("\n", " ")
                lines.append(f"| {lang} | {question} | {record['prediction']} | {expected} |")
            writer.add_text(f"bench_answers/{first}/{item_id}", "\n".join(lines), step)
            try:
                image = items[next(iter(langs.values()))["key"]].load_image()
            except ImageDecodeError:
                continue
            if image is not None:
                writer.add_image(f"bench_images/{first}/{item_id}", pil_to_tensor(image), step)
