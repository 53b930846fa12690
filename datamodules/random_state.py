"""Python ``random`` generator states as plain lists, which checkpoints loaded with
``torch.load(weights_only=True)`` accept (the state's inner tuple becomes a list and back)."""

from __future__ import annotations

from typing import Any


def state_to_list(state: tuple) -> list[Any]:
    """``random.Random.getstate()`` -> a list of ints and None."""
    version, internal, gauss = state
    return [version, list(internal), gauss]


def state_from_list(saved: list[Any]) -> tuple:
    """The inverse of ``state_to_list``, ready for ``setstate``."""
    version, internal, gauss = saved
    return version, tuple(internal), gauss
