"""MMBench's circular evaluation: a multiple-choice item counts as right only if the model
picks the right option under every rotation of the option order.

A model that favours one letter, or guesses, passes one rotation by luck far more often than
all of them; circular accuracy removes that luck (MMBench, Liu et al. 2023).

MMBench's published TSVs already hold the rotated copies: a question's copies have the indices
index, index + 1e6, index + 2e6 ... VLMEvalKit groups rows by ``index % 1_000_000`` and scores a
question right only when every copy is right; ``copy_groups`` does the same, and no further
rotation is made when a file holds such copies. Files without copies are rotated here
(``rotations``).
"""

from __future__ import annotations

from dataclasses import replace

from lightning_mllm.evaluation.items import LETTERS, BenchItem

ROTATION_SEPARATOR = "#rot"
COPY_STRIDE = 1_000_000  # MMBench: copy k of question i has index i + k * 1e6


def rotations(item: BenchItem) -> list[BenchItem]:
    """The item under each rotation of its options; rotation 0 is the item as given.

    Rotation r moves every option r places up (the first wraps to the end) and relabels the
    letters in order, so the right answer's letter moves with it.
    """
    texts = list(item.options.values())
    old_letters = list(item.options)
    out = []
    for r in range(len(texts)):
        order = texts[r:] + texts[:r]
        options = dict(zip(LETTERS, order))
        # The answer's new letter comes from its position, not its text: two options may share a text.
        answer = LETTERS[(old_letters.index(item.answer) - r) % len(texts)] if item.answer else ""
        out.append(replace(item, id=f"{item.id}{ROTATION_SEPARATOR}{r}", options=options, answer=answer,
                           meta={**item.meta, "circular_of": item.id, "rotation": r}))
    return out


def original_id(item_id: str) -> str:
    """The id of the item a rotated copy came from (the id itself when it is not a copy)."""
    return item_id.split(ROTATION_SEPARATOR)[0]


def copy_groups(items: list[BenchItem]) -> list[BenchItem] | None:
    """The items with ``circular_of`` set to ``index % 1_000_000`` when the file holds MMBench's
    rotated copies (an integer id of 1e6 or more), else None (the items must be rotated here)."""
    if not any(item.id.isdigit() and int(item.id) >= COPY_STRIDE for item in items):
        return None
    strange = [item.id for item in items if not item.id.isdigit()]
    if strange:
        raise ValueError(f"{items[0].benchmark}/{items[0].lang}: rotated copies are grouped by integer index, "
                         f"but ids {strange[:3]} are not integers")
    return [replace(item, meta={**item.meta, "circular_of": str(int(item.id) % COPY_STRIDE)}) for item in items]
