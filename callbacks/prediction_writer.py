"""Writes ``train.py predict`` answers to a JSONL file, one line per input row, as batches finish.

Each line is the input row (its ``id``, ``image``, ``question`` and any other fields) with the
model's ``answer`` (null when the row could not be prompted) and ``error`` (null, or why). Input
fields named ``answer`` or ``error`` (a reference answer, say) are kept as ``input_answer`` and
``input_error``. Lines are flushed per batch, so a long run can be followed and a crash keeps what
was answered. With several processes each rank appends to ``<output>.rank<N>`` and rank 0 merges
the parts into ``output`` in input order at the end.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from lightning_mllm.files import atomic_write, read_jsonl

_OUTPUT_FIELDS = ("answer", "error")


def output_row(record: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """The input record with the answer and error of ``row`` (conflicting input fields renamed)."""
    carried = {(f"input_{k}" if k in _OUTPUT_FIELDS else k): v for k, v in record.items() if k != "id"}
    return {"id": row["id"], **carried, "answer": row["answer"], "error": row["error"]}


def merge_parts(parts: list[Path], output: Path) -> list[dict[str, Any]]:
    """Writes the rows of the rank parts to ``output`` in input order and deletes the parts."""
    indexed: dict[int, dict[str, Any]] = {}
    for part in parts:
        for entry in read_jsonl(part):
            indexed[entry["index"]] = entry["row"]
    rows = [indexed[index] for index in sorted(indexed)]
    atomic_write(output, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    for part in parts:
        part.unlink()
    return rows


class PredictionWriter(BasePredictionWriter):
    """Appends each predicted batch to a JSONL file and reports the rows left without an answer.

    Args:
        output: The JSONL file to write (replaced at the start of each run).
    """

    def __init__(self, output: str):
        super().__init__(write_interval="batch")
        self.output = Path(output)
        self.rows = 0
        self.failed = 0
        self.example: dict[str, Any] | None = None  # the first row without an answer

    def _part(self, rank: int) -> Path:
        return self.output.with_name(f"{self.output.name}.rank{rank}")

    def _path(self, trainer: L.Trainer) -> Path:
        return self.output if trainer.world_size == 1 else self._part(trainer.global_rank)

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.rows, self.failed, self.example = 0, 0, None
        path = self._path(trainer)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("", encoding="utf-8")

    def write_on_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, prediction: list[dict[str, Any]],
                           batch_indices: Any, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        rows = [output_row(record, row) for record, row in zip(batch["records"], prediction)]
        if trainer.world_size > 1:  # the merge puts the parts back in input order
            lines = [{"index": index, "row": row} for index, row in zip(batch["order"], rows)]
        else:
            lines = rows
        # Opened and closed per batch: the lines are on disk as soon as their batch is answered.
        with open(self._path(trainer), "a", encoding="utf-8") as handle:
            handle.writelines(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        self.rows += len(rows)
        failed = [row for row in rows if row["answer"] is None]
        self.failed += len(failed)
        self.example = self.example or (failed[0] if failed else None)

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        rows, failed, example = self.rows, self.failed, self.example
        if trainer.world_size > 1:
            trainer.strategy.barrier("prediction_parts")  # every part is complete before the merge
            counts: list[Any] = [None] * trainer.world_size
            torch.distributed.all_gather_object(counts, (rows, failed, example))
            rows, failed = sum(c[0] for c in counts), sum(c[1] for c in counts)
            example = next((c[2] for c in counts if c[2] is not None), None)
            if trainer.is_global_zero:
                merge_parts([self._part(rank) for rank in range(trainer.world_size)], self.output)
        rank_zero_info(f"predict: wrote {rows} row(s) to {self.output}; {failed} without an answer")
        if failed:
            rank_zero_warn(f"predict: {failed} of {rows} row(s) have answer null (see their `error` field), "
                           f"e.g. id {example['id']}: {example['error']}")
