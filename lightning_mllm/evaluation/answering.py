"""Answers benchmark items with a project model: batched greedy generation with a KV cache.

Prompts are left-padded so every row's last prompt token sits at the same position and the
generated tokens line up; ``generate`` keeps the KV cache, so each new token costs one position
of compute, not the whole prompt again. Items are grouped by benchmark (one answer length per
benchmark) and sorted by length within it, so batches pad little.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from lightning_mllm.evaluation.encoding import EncodedItems, PromptCollator, batch_order
from lightning_mllm.evaluation.items import BenchItem


def benchmark_groups(items: list[BenchItem]) -> Iterator[list[BenchItem]]:
    """The items of each (benchmark, language) in ``batch_order``: one answer length per group."""
    for _, group in itertools.groupby(batch_order(items), key=lambda i: (i.benchmark, i.lang)):
        yield list(group)


def answer_batches(model: Any, batches: Iterable[dict[str, Any]], max_new_tokens: int) -> dict[str, dict[str, Any]]:
    """Generated answers (or errors) per item key for batches made by ``PromptCollator``."""
    out: dict[str, dict[str, Any]] = {}
    device = model.device
    for batch in batches:
        for key, (reason, message) in batch["errors"].items():
            out[key] = {"prediction": None, "error": reason, "error_message": message}
        if not batch["keys"]:
            continue
        pixels = batch["pixel_values"]
        answers = model.generate(batch["prompt_ids"].to(device), batch["prompt_mask"].to(device),
                                 pixels.to(device) if pixels is not None else None, max_new_tokens=max_new_tokens)
        out.update({key: {"prediction": answer.strip(), "error": None} for key, answer in zip(batch["keys"], answers)})
    return out


def answer_items(model: Any, items: list[BenchItem], batch_size: int = 8, num_workers: int = 0,
                 progress: bool = True) -> dict[str, dict[str, Any]]:
    """Answers every item with ``model`` (a ``MultimodalLM``); returns ``{item.key: answer}``.

    Args:
        model: The project model, built and on its device.
        items: The items to answer.
        batch_size: Prompts per ``generate`` call.
        num_workers: Loader processes that decode images and tokenize prompts.
        progress: Show a progress bar per benchmark.
    """
    was_training = model.training
    model.eval()
    collate = PromptCollator(model.processor.pad_token_id)
    answers: dict[str, dict[str, Any]] = {}
    try:
        for group in benchmark_groups(items):
            loader = DataLoader(EncodedItems(group, model.processor), batch_size=batch_size,
                                num_workers=num_workers, collate_fn=collate)
            bar = tqdm(loader, desc=f"{group[0].benchmark}/{group[0].lang}", unit="batch", disable=not progress,
                       leave=False)
            with torch.inference_mode():
                answers.update(answer_batches(model, bar, group[0].answer_length))
    finally:
        model.train(was_training)
    return answers


def rank_share(items: list[BenchItem], rank: int, world: int) -> list[BenchItem]:
    """This rank's items: every (benchmark, language) group is split evenly over the ranks.

    A group whose size is not a multiple of ``world`` is padded with repeats of its first items,
    so every rank runs the same number of ``generate`` calls of the same lengths (under FSDP a
    rank that stopped early would leave the others waiting in a collective). Answers are keyed by
    item, so a repeated item is simply answered twice.
    """
    share: list[BenchItem] = []
    for group in benchmark_groups(items):
        padded = group + group[: (-len(group)) % world]
        share += padded[rank::world]
    return share


def gather_answers(answers: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every rank's answers merged (on every rank); the answers themselves outside a distributed run."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return answers
    parts: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(parts, answers)
    return {key: value for part in parts for key, value in part.items()}
