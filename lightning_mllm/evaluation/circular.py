"""MMBench's circular evaluation: a multiple-choice item counts as right only if the model
picks the right option under every rotation of the option order.

A model that favours one letter, or guesses, passes one rotation by luck far more often than
all of them; circular accuracy removes that luck (MMBench, Liu et al. 2023).
"""

from __future__ import annotations

from dataclasses import replace

from lightning_mllm.evaluation.items import LETTERS, BenchItem

ROTATION_SEPARATOR = "#rot"


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
