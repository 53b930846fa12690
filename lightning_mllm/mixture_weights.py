"""Sampling weights of the training sources, from per-source weights or from the paper's grid.

The paper compares the share of Basque in the multimodal instruction data (0%, ~20%, 50%, 100%)
next to a share of text-only instructions. ``MixtureShares`` states those two numbers directly;
the per-source ``weight`` then only splits a share among the sources that fall into it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal


@dataclass
class Source:
    """One stream of shards.

    Args:
        name: Name used in logs, counters and ``data.weights``; unique among the training sources.
        patterns: Shard paths; brace ranges (``en-{000000..000009}.tar``) and globs (``en-*.tar``)
            are expanded; relative paths are taken from the datamodule's ``data_root``.
        weight: Sampling weight; normalised over the training sources, or, with ``data.mixture``
            set, over the sources that share this one's cell (language and modality).
        lang: Language of the samples (``en``, ``eu``, ...) where their JSON does not say.
        modality: ``image`` for multimodal instructions (text-only samples inside are fine),
            ``text`` for a text-only instruction source; used by ``data.mixture``.
    """

    name: str
    patterns: list[str] = field(default_factory=list)
    weight: float = 1.0
    lang: str | None = None
    modality: Literal["image", "text"] = "image"


@dataclass
class MixtureShares:
    """The paper's mixture knobs.

    Args:
        target_share: Share of ``target_lang`` samples among the multimodal (``image``) sources:
            0.0, 0.2, 0.5 and 1.0 are the paper's grid. None keeps the sources' own weights.
        text_share: Share of the text-only sources in the whole mixture.
        target_lang: The language whose share ``target_share`` sets.
    """

    target_share: float | None = None
    text_share: float = 0.0
    target_lang: str = "eu"


def _check_share(value: float | None, key: str) -> None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise ValueError(f"{key}={value} must be between 0 and 1")


def source_weights(sources: list[Source], shares: MixtureShares | None = None,
                   overrides: dict[str, float] | None = None) -> list[float]:
    """Normalised sampling probabilities, one per source; errors name the config key at fault."""
    names = [s.name for s in sources]
    for name in {n for n in names if names.count(n) > 1}:
        raise ValueError(f"data.train_sources: the name {name!r} is used twice")
    for name in overrides or {}:
        if name not in names:
            raise ValueError(f"data.weights: unknown source name {name!r}; the sources are {names}")
    weights = [float((overrides or {}).get(s.name, s.weight)) for s in sources]
    for i, (source, weight) in enumerate(zip(sources, weights)):
        key = f"data.weights[{source.name!r}]" if source.name in (overrides or {}) else f"data.train_sources[{i}].weight"
        if not math.isfinite(weight):
            raise ValueError(f"{key}={weight} is not a finite number")
        if weight < 0:
            raise ValueError(f"{key}={weight} is negative")
        if source.modality not in ("image", "text"):
            raise ValueError(f"data.train_sources[{i}].modality={source.modality!r}; expected 'image' or 'text'")
    if shares is not None:
        weights = _apply_shares(sources, weights, shares)
    total = sum(weights)
    if total <= 0:
        raise ValueError("data.train_sources: every weight is zero, so nothing can be drawn")
    return [w / total for w in weights]


def _cell(source: Source, shares: MixtureShares) -> str:
    if source.modality == "text":
        return "text"
    if shares.target_share is None:
        return "image"
    return "target" if source.lang == shares.target_lang else "other"


def _apply_shares(sources: list[Source], weights: list[float], shares: MixtureShares) -> list[float]:
    _check_share(shares.target_share, "data.mixture.target_share")
    _check_share(shares.text_share, "data.mixture.text_share")
    image = 1.0 - shares.text_share
    if shares.target_share is None:
        cell_share = {"text": shares.text_share, "image": image}
    else:
        cell_share = {"text": shares.text_share, "target": image * shares.target_share,
                      "other": image * (1.0 - shares.target_share)}
    cells = [_cell(s, shares) for s in sources]
    described = {"text": "text-only source", "image": "multimodal source",
                 "target": f"multimodal source with lang {shares.target_lang!r}",
                 "other": f"multimodal source in a language other than {shares.target_lang!r}"}
    mass = {cell: sum(w for c, w in zip(cells, weights) if c == cell) for cell in cell_share}
    for cell, share in cell_share.items():
        if share > 0 and mass[cell] <= 0:
            raise ValueError(f"data.mixture gives {share:.0%} of the samples to a {described[cell]}, "
                             f"but data.train_sources has none (or all have weight 0)")
    return [cell_share[c] * w / mass[c] if mass[c] > 0 else 0.0 for c, w in zip(cells, weights)]
