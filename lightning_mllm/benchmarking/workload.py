"""A seeded synthetic LLaVA-like training workload, in the sample format ``datamodules.Collator`` takes.

An image sample is the image's run of placeholder tokens (the tower's patch count: 576 for
CLIP-L/336) followed by ``text`` random token ids; a text-only sample is text alone. Text lengths
are uniform in ``text_min..text_max``; the last ``answer_share`` of each text is labelled, as an
assistant answer after a question would be. Token ids are drawn from the LLM's vocabulary but
never a special id, so no sample ends early or carries a stray end-of-turn token.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

import torch

from lightning_mllm.chat_format import IGNORE_INDEX, IMAGE_TOKEN_ID


@dataclass(frozen=True)
class WorkloadSpec:
    """What the synthetic samples look like.

    Args:
        samples: How many samples.
        image_tokens: Sequence positions one image takes.
        image_size: Side of the (square) images in pixels.
        vocab_size: Size of the LLM's vocabulary.
        special_ids: Ids never drawn as text.
        text_min: Shortest text in tokens.
        text_max: Longest text in tokens.
        text_only_share: Probability that a sample has no image.
        answer_share: Share of each text that is labelled (the answer at its end).
        seed: Seed of every random choice.
    """

    samples: int
    image_tokens: int
    image_size: int
    vocab_size: int
    special_ids: tuple[int, ...] = ()
    text_min: int = 60
    text_max: int = 700
    text_only_share: float = 0.1
    answer_share: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.text_min <= self.text_max:
            raise ValueError(f"--text_min/--text_max: need 1 <= {self.text_min} <= {self.text_max}")
        if not 0.0 <= self.text_only_share <= 1.0 or not 0.0 < self.answer_share <= 1.0:
            raise ValueError("--text_only_share must lie in [0, 1] and --answer_share in (0, 1]")

    def as_dict(self) -> dict[str, Any]:
        settings = asdict(self)
        settings["special_ids"] = list(self.special_ids)
        return settings


def sample_shapes(spec: WorkloadSpec) -> list[tuple[int, bool]]:
    """(text tokens, has image) of every sample; depends only on the spec's seed and ranges."""
    rng = random.Random(spec.seed)
    return [(rng.randint(spec.text_min, spec.text_max), rng.random() >= spec.text_only_share)
            for _ in range(spec.samples)]


def make_samples(spec: WorkloadSpec, image_pool: int = 4) -> list[dict[str, Any]]:
    """The workload's samples, ready for ``Collator``.

    Images come from a pool of ``image_pool`` random tensors shared by reference: the vision
    tower's cost does not depend on the pixels, and the workload stays small in memory.
    """
    generator = torch.Generator().manual_seed(spec.seed)
    allowed = torch.ones(spec.vocab_size, dtype=torch.bool)
    allowed[[i for i in spec.special_ids if 0 <= i < spec.vocab_size]] = False
    allowed_ids = allowed.nonzero().flatten()
    images = [torch.randn(3, spec.image_size, spec.image_size, generator=generator) for _ in range(image_pool)]
    samples = []
    for index, (text, has_image) in enumerate(sample_shapes(spec)):
        ids = allowed_ids[torch.randint(len(allowed_ids), (text,), generator=generator)].tolist()
        answer = max(1, round(text * spec.answer_share))
        prefix = [IMAGE_TOKEN_ID] * spec.image_tokens if has_image else []
        samples.append({
            "input_ids": prefix + ids,
            "labels": [IGNORE_INDEX] * (len(prefix) + text - answer) + ids[-answer:],
            "pixel_values": images[index % image_pool] if has_image else None,
            "lang": ("en", "eu")[index % 2], "id": f"bench-{index}", "source": "bench", "truncated": False,
            "words": 0, "text_tokens": answer,
        })
    return samples


def summarize(samples: list[dict[str, Any]]) -> dict[str, float]:
    """Mean real tokens, labelled tokens and image share of a list of samples."""
    count = max(len(samples), 1)
    return {"samples": len(samples),
            "mean_tokens": sum(len(s["input_ids"]) for s in samples) / count,
            "mean_labelled_tokens": sum(sum(label != IGNORE_INDEX for label in s["labels"]) for s in samples) / count,
            "image_share": sum(s["pixel_values"] is not None for s in samples) / count,
            "longest": max((len(s["input_ids"]) for s in samples), default=0)}
