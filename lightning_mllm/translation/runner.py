"""Translates items batch by batch: prompts, checks, bounded retries, rejects and resumption.

For each batch, every item not yet accepted is sent to the engine (one ``generate`` call per
attempt); each reply is checked (``validation.check_translation``) and a failed item is asked
again, at most ``retries`` more times, with a note naming the failure (``prompts.py`` explains why
decoding stays greedy). An item that never passes goes to the rejects file with its last reason
and raw reply. Accepted records and rejects are appended and flushed after every batch
(``journal.py``), which is what makes a rerun skip the items already done.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from lightning_mllm.translation.engines import Engine
from lightning_mllm.translation.journal import JsonlAppender, read_journal
from lightning_mllm.translation.prompts import build_messages
from lightning_mllm.translation.records import Item
from lightning_mllm.translation.segments import TranslationRejected, render
from lightning_mllm.translation.validation import check_translation

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What one run did.

    Attributes:
        items: Items in the input (after ``--limit``).
        already_done: Items skipped because the output or rejects file already held them.
        translated: Items translated and written to the output in this run.
        copied: Items with no text to translate, written to the output as they were.
        rejected: Items written to the rejects file in this run.
        reasons: Rejects of this run by reason.
        attempts: Prompts sent to the engine (first tries and retries).
        engine_calls: ``generate`` calls.
        notes: Repairs made to the output files before starting (a cut-short last line).
    """

    items: int = 0
    already_done: int = 0
    translated: int = 0
    copied: int = 0
    rejected: int = 0
    reasons: Counter = field(default_factory=Counter)
    attempts: int = 0
    engine_calls: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class _Outcome:
    record: dict[str, Any] | None = None
    rejection: TranslationRejected | None = None
    raw: str | None = None
    attempts: int = 0


def translate_items(items: list[Item], engine: Engine, output: str, rejects: str, batch_size: int = 8,
                    retries: int = 2, progress: bool = True) -> RunSummary:
    """Translates the items that neither ``output`` nor ``rejects`` holds yet.

    Args:
        items: The checked input items (``records.read_items``).
        engine: The translator.
        output: JSONL of translated records (appended to).
        rejects: JSONL of items that failed every attempt (appended to).
        batch_size: Items per ``generate`` call (retries of a batch are sent together).
        retries: Extra attempts for an item whose translation fails a check.
        progress: Show a progress bar over the items.
    """
    if batch_size < 1 or retries < 0:
        raise ValueError(f"batch_size must be >= 1 and retries >= 0, got {batch_size} and {retries}")
    summary = RunSummary(items=len(items))
    journals = [read_journal(output), read_journal(rejects)]
    for note in (note for journal in journals for note in journal.notes):
        log.warning(note)
        summary.notes.append(note)
    done = journals[0].ids | journals[1].ids
    todo = [item for item in items if item.id not in done]
    summary.already_done = len(items) - len(todo)
    accepted, rejected = JsonlAppender(output), JsonlAppender(rejects)
    try:
        with tqdm(total=len(todo), desc="translate", unit="item", disable=not progress) as bar:
            for start in range(0, len(todo), batch_size):
                batch = todo[start:start + batch_size]
                for item, outcome in zip(batch, _translate_batch(batch, engine, retries, summary)):
                    _record(item, outcome, accepted, rejected, summary)
                accepted.flush()
                rejected.flush()
                bar.update(len(batch))
                bar.set_postfix(translated=summary.translated, rejected=summary.rejected)
    finally:
        accepted.close()
        rejected.close()
    return summary


def _translate_batch(batch: list[Item], engine: Engine, retries: int, summary: RunSummary) -> list[_Outcome]:
    outcomes = {item.id: _Outcome(rejection=item.problem) for item in batch}
    pending = [item for item in batch if item.problem is None and item.segments]
    for _ in range(1 + retries):
        if not pending:
            break
        conversations = [build_messages(item.kind, render(item.segments), _last_reason(outcomes[item.id]))
                         for item in pending]
        replies = engine.generate(conversations)
        summary.engine_calls += 1
        summary.attempts += len(pending)
        if len(replies) != len(pending):
            raise RuntimeError(f"the engine returned {len(replies)} replies for {len(pending)} prompts")
        failed = []
        for item, reply in zip(pending, replies):
            outcome = outcomes[item.id]
            outcome.attempts += 1
            outcome.raw = reply
            try:
                outcome.record = item.output(check_translation(item.segments, reply))
                outcome.rejection = None
            except TranslationRejected as rejection:
                outcome.rejection = rejection
                failed.append(item)
        pending = failed
    return [outcomes[item.id] for item in batch]


def _last_reason(outcome: _Outcome) -> str | None:
    """Why the previous attempt failed (None on the first attempt): the retry prompt names it."""
    return None if outcome.rejection is None else outcome.rejection.reason


def _record(item: Item, outcome: _Outcome, accepted: JsonlAppender, rejected: JsonlAppender,
            summary: RunSummary) -> None:
    if outcome.rejection is not None:
        rejected.write({"id": item.row.data["id"], "format": item.format, "where": item.row.where,
                        "reason": outcome.rejection.reason, "detail": outcome.rejection.detail,
                        "attempts": outcome.attempts, "raw": outcome.raw})
        summary.rejected += 1
        summary.reasons[outcome.rejection.reason] += 1
        return
    if not item.segments:
        accepted.write(item.output([]))
        summary.copied += 1
        return
    accepted.write(outcome.record)
    summary.translated += 1
