"""Batching: right padding (or packing) for training, left-padded prompts for generation, per-row metadata."""

from __future__ import annotations

from typing import Any

import torch

from lightning_mllm.chat_format import IGNORE_INDEX
from lightning_mllm.packing import pack_rows, packed_row
from lightning_mllm.padding import mask, pad


class Collator:
    """Builds a batch dict from encoded samples.

    ``segments`` (rows, length) gives the sample index of every token (-1 on padding), so per-sample
    statistics work the same whether a row holds one sample or several.

    Args:
        pad_token_id: Id written into padded positions (they are masked out anyway).
        pack_length: Pack samples into rows of up to this many tokens with per-sample position ids
            (``lightning_mllm.packing``); None pads one sample per row to the batch's longest.
    """

    def __init__(self, pad_token_id: int, pack_length: int | None = None):
        self.pad_token_id = pad_token_id
        self.pack_length = pack_length

    def _rows(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        if self.pack_length is None:
            ids = [s["input_ids"] for s in samples]
            segments = [[i] * len(s) for i, s in enumerate(ids)]
            order = list(range(len(samples)))
            return {"input_ids": pad(ids, self.pad_token_id), "attention_mask": mask(ids),
                    "labels": pad([s["labels"] for s in samples], IGNORE_INDEX), "segments": pad(segments, -1),
                    "order": order}
        rows = pack_rows([len(s["input_ids"]) for s in samples], self.pack_length)
        ids, labels, positions, segments = zip(*(packed_row(samples, members) for members in rows))
        longest = max(len(r) for r in ids)
        # Padding continues each row as a sample of its own (positions 0, 1, ...), so it never
        # joins the last real sample's attention block; its labels are ignored.
        positions = [list(p) + list(range(longest - len(p))) for p in positions]
        return {"input_ids": pad(list(ids), self.pad_token_id), "position_ids": torch.tensor(positions),
                "labels": pad(list(labels), IGNORE_INDEX), "segments": pad(list(segments), -1),
                "order": [i for members in rows for i in members]}

    def __call__(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        rows = self._rows(samples)
        # Images in the order their placeholder runs appear in the rows, row by row.
        images = [samples[i]["pixel_values"] for i in rows.pop("order") if samples[i]["pixel_values"] is not None]
        batch = {
            **rows,
            "pixel_values": torch.stack(images) if images else None,
            "lang": [s["lang"] for s in samples],
            "ids": [s["id"] for s in samples],
            "sources": [s.get("source") for s in samples],
            # (reason, where) of every sample skipped since the previous batch.
            "skipped": [entry for s in samples for entry in s.get("skipped", ())],
            "truncated": sum(bool(s["truncated"]) for s in samples),
            # Per-row text cost for the mixture monitor: words, text tokens, sequence tokens.
            "words": [s.get("words", 0) for s in samples],
            "text_tokens": [s.get("text_tokens", 0) for s in samples],
            "tokens": [len(s["input_ids"]) for s in samples],
            "has_image": [s["pixel_values"] is not None for s in samples],
            # Passes its source had made when each training sample was drawn (mixture monitor).
            "passes": [s.get("pass", 0.0) for s in samples],
        }
        if "prompt_ids" in samples[0]:
            prompts = [s["prompt_ids"] for s in samples]
            batch["prompt_ids"] = pad(prompts, self.pad_token_id, left=True)
            batch["prompt_mask"] = mask(prompts, left=True)
            batch["answers"] = [s["answer"] for s in samples]
        return batch
