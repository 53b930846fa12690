"""Benchmarks as a test datamodule, so ``train.py test`` evaluates a checkpoint like ``evaluate``.

    python train.py test --config configs/demo.yaml --config configs/test/demo.yaml \\
        --ckpt_path runs/demo/version_0/checkpoints/<file>.ckpt

One test dataloader per benchmark and language (each has its own answer length); the model's
``test_step`` generates, and at the end of the epoch this datamodule scores the gathered answers
and writes the same report as ``python -m lightning_mllm.evaluate``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_info
from torch.utils.data import DataLoader

from lightning_mllm.evaluation.answering import benchmark_groups
from lightning_mllm.evaluation.encoding import EncodedItems, PromptCollator
from lightning_mllm.evaluation.items import BenchItem
from lightning_mllm.evaluation.judge import LLMJudge, add_ratings
from lightning_mllm.evaluation.report import markdown_table, write_report
from lightning_mllm.evaluation.scoring import score
from lightning_mllm.evaluation.spec import BenchmarkSpec, benchmarks_from, load_benchmarks


class BenchmarkDataModule(L.LightningDataModule):
    """English and Basque benchmark files for ``train.py test``.

    Args:
        benchmarks: The benchmark files, one entry per benchmark and language (``BenchmarkSpec``),
            or the path of an evaluation config (``configs/eval/*.yaml``) whose list to use.
        out: Folder for ``results.json``, ``results.md`` and ``predictions.jsonl``.
        batch_size: Prompts per generation call.
        num_workers: Loader processes that decode images and tokenize prompts.
        judge: Hugging Face id or folder of an LLM that rates open-ended answers; none by default.
        judge_image: Show the judge the image (``judge`` is then an image-text-to-text model).
        judge_device: Where the judge runs; ``auto`` spreads it over every visible GPU (``device_map="auto"``).
        name: Run name recorded in the results.
        backbone: Backbone name recorded for the sweep report.
        basque_share: Percentage of Basque in the run's instruction data, for the sweep report.
        only: Keep only these benchmark names (every language of each).
    """

    def __init__(self, benchmarks: list[BenchmarkSpec] | str, out: str = "runs/eval", batch_size: int = 16,
                 num_workers: int = 2, judge: str | None = None, judge_image: bool = False,
                 judge_device: str = "auto", name: str | None = None,
                 backbone: str | None = None, basque_share: float | None = None, only: list[str] | None = None):
        super().__init__()
        self.benchmarks = benchmarks_from(benchmarks, only)
        self.out = out
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.judge = judge
        self.judge_image = judge_image
        self.judge_device = judge_device
        self.run = {"name": name, "backbone": backbone, "basque_share": basque_share, "checkpoint": None,
                    "model": None, "judge": judge}
        self.items: list[BenchItem] = []

    def setup(self, stage: str) -> None:
        if stage != "test":
            raise ValueError(f"BenchmarkDataModule serves `test` only, not {stage!r}")
        self.items = load_benchmarks(self.benchmarks)

    def test_dataloader(self) -> list[DataLoader]:
        processor = self.trainer.lightning_module.processor
        return [DataLoader(EncodedItems(group, processor), batch_size=self.batch_size, num_workers=self.num_workers,
                           collate_fn=PromptCollator(processor.pad_token_id, group[0].answer_length))
                for group in benchmark_groups(self.items)]

    def write_results(self, answers: dict[str, dict[str, Any]], checkpoint: str | None = None) -> dict[str, Path]:
        """Scores the answers of every item (called on rank 0 after they were gathered)."""
        if self.judge:
            add_ratings(LLMJudge(self.judge, device=self.judge_device, image=self.judge_image), self.items, answers)
        rows, records = score(self.items, answers)
        paths = write_report(self.out, {**self.run, "checkpoint": checkpoint}, rows, records)
        rank_zero_info(markdown_table(rows) + f"wrote {', '.join(str(p) for p in paths.values())}")
        return paths
